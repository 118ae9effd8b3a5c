package engine

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// ReceiptSink is where channels report asynchronous receipts (acks,
// delivery reports, plays): made before the channels, which are made before
// the engine that records what the sink holds (Start) and stops it (Close).
type ReceiptSink struct {
	ch       chan channels.Receipt
	stop     chan struct{}
	stopOnce sync.Once
	log      *slog.Logger
}

var _ channels.Reporter = (*ReceiptSink)(nil)

// NewReceiptSink returns an empty sink; log (nil: discard) says which
// receipts a stopping engine could not record.
func NewReceiptSink(log *slog.Logger) *ReceiptSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ReceiptSink{ch: make(chan channels.Receipt, 65536), stop: make(chan struct{}), log: log}
}

// Report queues an asynchronous receipt for recording. When the writer is
// behind and the buffer is full it waits: the channel's reader slows down
// (an SMSC re-sends an unanswered deliver_sm) rather than a receipt being
// lost. Only a stopping engine or a cancelled ctx gives up on one, saying so.
func (q *ReceiptSink) Report(ctx context.Context, r channels.Receipt) {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	select {
	case q.ch <- r:
		return
	default:
	}
	select {
	case q.ch <- r:
	case <-q.stop:
		q.log.Error("receipt not recorded: engine stopping", "channel", r.Channel, "ref", r.Ref, "recipient", r.RecipientID)
	case <-ctx.Done():
		q.log.Error("receipt not recorded: "+ctx.Err().Error(), "channel", r.Channel, "ref", r.Ref, "recipient", r.RecipientID)
	}
}

func (q *ReceiptSink) close() { q.stopOnce.Do(func() { close(q.stop) }) }

// Report queues a receipt in the engine's sink (EngineConfig.Receipts).
func (e *Engine) Report(ctx context.Context, r channels.Receipt) { e.receipts.Report(ctx, r) }

type pendingReceipt struct {
	r     channels.Receipt
	tries int
}

// receiptLoop writes receipts in batches. A receipt that matches nothing
// yet (a delivery report that overtook the worker's own record) is tried
// again for a while before it is counted as unmatched.
func (e *Engine) receiptLoop() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var buf []pendingReceipt
	var retry []pendingReceipt
	lastRetry := time.Now()
	flush := func() {
		if time.Since(lastRetry) > time.Second {
			buf = append(buf, retry...)
			retry = retry[:0]
			lastRetry = time.Now()
		}
		if len(buf) == 0 {
			return
		}
		rs := make([]channels.Receipt, len(buf))
		for i := range buf {
			rs[i] = buf[i].r
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		matched, err := e.store.ApplyReceipts(ctx, rs)
		cancel()
		if err != nil {
			e.log.Error("record receipts", "err", err, "count", len(rs))
			retry = append(retry, buf...)
			buf = buf[:0]
			return
		}
		for i, ok := range matched {
			p := buf[i]
			if ok {
				e.metrics.receipts.WithLabelValues(p.r.Channel, p.r.State.String()).Inc()
				continue
			}
			if p.tries < 10 {
				p.tries++
				retry = append(retry, p)
				continue
			}
			e.metrics.unmatched.Inc()
			e.log.Warn("receipt matches no delivery", "channel", p.r.Channel, "ref", p.r.Ref, "key", p.r.Key, "recipient", p.r.RecipientID)
		}
		buf = buf[:0]
	}
	for {
		select {
		case r := <-e.receipts.ch:
			buf = append(buf, pendingReceipt{r: r})
			// Take what else is waiting: when the writer is behind, one
			// transaction records many receipts.
		more:
			for len(buf) < 20000 {
				select {
				case r := <-e.receipts.ch:
					buf = append(buf, pendingReceipt{r: r})
				default:
					break more
				}
			}
			if len(buf) >= 1000 {
				flush()
			}
		case <-t.C:
			flush()
		case <-e.stop:
			for {
				select {
				case r := <-e.receipts.ch:
					buf = append(buf, pendingReceipt{r: r})
				default:
					lastRetry = time.Time{}
					flush()
					return
				}
			}
		}
	}
}
