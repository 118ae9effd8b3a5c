// Command smscsim runs the SMPP 3.4 SMSC simulator (package
// channels/sms/smscsim) for demos and load tests: point an SMS gateway of
// type smpp at it.
//
//	smscsim -addr 127.0.0.1:2775 -system-id alertcast -password secret \
//	        -latency 5ms -tps 500 -receipts -receipt-delay 1s -undeliv 0.02
//
// It is a test peer, never a product path.
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "smscsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	var cfg smscsim.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:2775", "listen address")
	fs.StringVar(&cfg.SystemID, "system-id", "", "required system_id (empty: any)")
	fs.StringVar(&cfg.Password, "password", "", "required password (empty: any)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "delay before each submit_sm_resp")
	fs.Float64Var(&cfg.TPS, "tps", 0, "submits per second per bind before ESME_RTHROTTLED (0: no cap)")
	fs.IntVar(&cfg.ThrottleEvery, "throttle-every", 0, "answer every Nth submit with ESME_RTHROTTLED (0: never)")
	fs.BoolVar(&cfg.Receipts, "receipts", true, "send deliver_sm delivery receipts when requested")
	fs.DurationVar(&cfg.ReceiptDelay, "receipt-delay", 0, "delay before each receipt")
	undeliv := fs.Float64("undeliv", 0, "fraction of destinations whose receipt is UNDELIV (deterministic per number)")
	expired := fs.Float64("expired", 0, "fraction of destinations whose receipt is EXPIRED (deterministic per number)")
	every := fs.Duration("stats", 5*time.Second, "print counters this often (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *undeliv < 0 || *expired < 0 || *undeliv+*expired > 1 {
		return fmt.Errorf("-undeliv and -expired: fractions between 0 and 1 whose sum is at most 1")
	}
	cfg.Outcome = func(dest string) (string, string) {
		h := fnv.New32a()
		h.Write([]byte(dest))
		x := float64(h.Sum32()%10000) / 10000
		switch {
		case x < *undeliv:
			return "UNDELIV", "012"
		case x < *undeliv+*expired:
			return "EXPIRED", "000"
		}
		return "DELIVRD", "000"
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = log
	s, err := smscsim.Start(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	log.Info("smscsim listening", "addr", s.Addr(), "latency", cfg.Latency, "tps_per_bind", cfg.TPS)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	last, lastAt := 0, time.Now()
	for {
		select {
		case <-ctx.Done():
			log.Info("smscsim stopping", "submits", s.Submits(), "accepted", s.Accepted())
			return nil
		case now := <-tick:
			n := s.Accepted()
			log.Info("smscsim", "binds", s.Binds(), "submits", s.Submits(), "accepted", n,
				"rate_per_s", fmt.Sprintf("%.0f", float64(n-last)/now.Sub(lastAt).Seconds()))
			last, lastAt = n, now
		}
	}
}
