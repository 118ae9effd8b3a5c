//go:build !linux

package engine

import "time"

// threadCPU is not measured off Linux (the metric reads 0).
func threadCPU() time.Duration { return 0 }
