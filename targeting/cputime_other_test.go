//go:build !linux

package targeting

import "time"

// threadCPU is not measured off Linux: the cpu-* benchmark figures read 0.
func threadCPU() time.Duration { return 0 }
