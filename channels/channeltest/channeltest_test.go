package channeltest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
)

// memChannel is the smallest honest channel: it "delivers" by counting, one
// recipient per millisecond, and reports a receipt for each.
type memChannel struct {
	log       *slog.Logger
	rep       channels.Reporter
	delivered *atomic.Int64
	closed    atomic.Bool
	once      sync.Once
}

func (c *memChannel) Name() string { return "mem" }

func (c *memChannel) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	if c.closed.Load() {
		return nil, channels.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, channels.Permanent(err)
	}
	var out []channels.Result
	for i, r := range to {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		switch r.Address {
		case "bad":
			out = append(out, channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: channels.Permanent(errors.New("no such address"))})
			continue
		case "busy":
			out = append(out, channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: errors.New("busy, try later")})
			continue
		}
		if i > 0 {
			time.Sleep(time.Millisecond)
		}
		c.delivered.Add(1)
		ref := fmt.Sprintf("ref-%s", r.ID)
		c.log.Info("sent", "recipient", r.ID, "ref", ref)
		out = append(out, channels.Result{RecipientID: r.ID, State: channels.StateSent, Ref: ref})
		go c.rep.Report(context.Background(), channels.Receipt{Channel: "mem", Ref: ref, State: channels.StateDelivered, At: time.Now()})
	}
	return out, nil
}

func (c *memChannel) Close() error { c.closed.Store(true); return nil }

func TestSuiteOnMemoryChannel(t *testing.T) {
	var delivered atomic.Int64
	var n atomic.Int64
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			return &memChannel{log: env.Logger, rep: env.Reporter, delivered: &delivered}
		},
		Good: func(t *testing.T, k int) []channels.Recipient {
			out := make([]channels.Recipient, k)
			for i := range out {
				id := n.Add(1)
				out[i] = channels.Recipient{ID: fmt.Sprint("r", id), Address: fmt.Sprint("addr", id)}
			}
			return out
		},
		Permanent:   func(t *testing.T) channels.Recipient { return channels.Recipient{ID: "p", Address: "bad"} },
		Transient:   func(t *testing.T) channels.Recipient { return channels.Recipient{ID: "q", Address: "busy"} },
		Receipts:    true,
		Delivered:   func() int { return int(delivered.Load()) },
		CancelBatch: 5000,
		Secret:      "s3cret-never-logged",
	})
}

// brokenChannel is memChannel with one fault, chosen by name.
type brokenChannel struct {
	memChannel
	fault string
}

func (c *brokenChannel) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	switch c.fault {
	case "trusts-the-message": // sends whatever it is given
		var out []channels.Result
		for _, r := range to {
			c.delivered.Add(1)
			out = append(out, channels.Result{RecipientID: r.ID, State: channels.StateSent})
		}
		return out, nil
	case "ignores-cancellation": // finishes the batch whatever the context says
		if err := m.Validate(); err != nil {
			return nil, channels.Permanent(err)
		}
		return c.memChannel.Send(context.WithoutCancel(ctx), m, to)
	case "vague-after-close":
		if c.closed.Load() {
			return nil, errors.New("gone")
		}
	}
	return c.memChannel.Send(ctx, m, to)
}

// TestBrokenChannelHelper is run by TestSuiteCatchesBrokenChannels in a
// child process, once per fault: the suite must fail it.
func TestBrokenChannelHelper(t *testing.T) {
	fault := os.Getenv("CHANNELTEST_FAULT")
	if fault == "" {
		t.Skip("helper process of TestSuiteCatchesBrokenChannels")
	}
	var delivered atomic.Int64
	var n atomic.Int64
	h := channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			return &brokenChannel{memChannel: memChannel{log: env.Logger, rep: env.Reporter, delivered: &delivered}, fault: fault}
		},
		Good: func(t *testing.T, k int) []channels.Recipient {
			out := make([]channels.Recipient, k)
			for i := range out {
				id := n.Add(1)
				out[i] = channels.Recipient{ID: fmt.Sprint("r", id), Address: fmt.Sprint("addr", id)}
			}
			return out
		},
		Permanent:   func(t *testing.T) channels.Recipient { return channels.Recipient{ID: "p", Address: "bad"} },
		Transient:   func(t *testing.T) channels.Recipient { return channels.Recipient{ID: "q", Address: "busy"} },
		Receipts:    true,
		Delivered:   func() int { return int(delivered.Load()) },
		CancelBatch: 2000,
		Secret:      "s3cret-never-logged",
		Timeout:     3 * time.Second,
	}
	if fault == "unexplained-skip" {
		h.Transient = nil
	}
	channeltest.Run(t, h)
}

// TestSuiteCatchesBrokenChannels: each check asserts. A channel with one
// fault fails the suite, in the check meant to catch that fault.
func TestSuiteCatchesBrokenChannels(t *testing.T) {
	for fault, want := range map[string]string{
		"trusts-the-message":   "--- FAIL: TestBrokenChannelHelper/InvalidMessage",
		"ignores-cancellation": "--- FAIL: TestBrokenChannelHelper/CancelledMidBatch",
		"vague-after-close":    "--- FAIL: TestBrokenChannelHelper/CloseTwice",
		"unexplained-skip":     "Harness needs Transient or NoTransient",
	} {
		t.Run(fault, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenChannelHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "CHANNELTEST_FAULT="+fault)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a channel that %s:\n%s", fault, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("the suite failed, but not with %q:\n%s", want, out)
			}
		})
	}
}
