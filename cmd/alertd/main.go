// Command alertd is the Alertcast server: API, workers and scheduler in one
// process by default (--roles to split them). With no flags it runs the
// whole system on its embedded default: a managed redis-server (or an
// in-process Redis) and an SQLite file in ./alertcast-data.
package main

import (
	"context"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only when ALERTCAST_PPROF is set
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alertcast/alertcast/internal/alertd"
)

func main() {
	cfg, err := alertd.Load(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "alertd:", err)
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		// alertd keeps a large steady heap (the population index, open
		// connections) and allocates fast while a county-wide warning is
		// out: collecting at 200 % growth instead of 100 % halves the
		// collector's share of the CPU for about 1.5× the heap. GOGC in
		// the environment overrides it.
		debug.SetGCPercent(200)
	}
	if addr := os.Getenv("ALERTCAST_PPROF"); addr != "" {
		// Profiling for benchmarks, on an address of its own (keep it on loopback).
		go func() { fmt.Fprintln(os.Stderr, "alertd: pprof:", http.ListenAndServe(addr, nil)) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := alertd.Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "alertd:", err)
		os.Exit(1)
	}
}
