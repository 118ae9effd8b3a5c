package targeting

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU returns the calling thread's CPU time from
// CLOCK_THREAD_CPUTIME_ID (nanosecond resolution; getrusage only counts
// scheduler ticks). Benchmarks lock their goroutine to the thread.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
