package channeltest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
