package alertd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary double as an alertd process, so tests can
// run (and SIGKILL) real worker processes without building a binary.
func TestMain(m *testing.M) {
	if os.Getenv("ALERTCAST_TEST_AS_ALERTD") == "1" {
		cfg, err := Load(nil, os.Getenv)
		if err != nil {
			fmt.Fprintln(os.Stderr, "alertd:", err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "alertd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
