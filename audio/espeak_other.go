//go:build !unix

package audio

import "os/exec"

// killProcessGroupOnCancel: without process groups the default (kill the
// process) applies; WaitDelay still bounds the wait for its pipes.
func killProcessGroupOnCancel(cmd *exec.Cmd) {}
