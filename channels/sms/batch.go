package sms

import (
	"context"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// batch collects the results of one Send.
type batch struct {
	ctx      context.Context
	mu       sync.Mutex
	results  []channels.Result
	have     []bool
	left     int
	inflight int // jobs handed to a gateway and not finished
	stopped  bool
	done     chan struct{}
	idle     chan struct{} // signalled when inflight drops to 0 after stop
	jobs     []*job
	key      string
	expires  time.Time
}

func newBatch(ctx context.Context, n int) *batch {
	b := &batch{ctx: ctx, results: make([]channels.Result, n), have: make([]bool, n), left: n,
		done: make(chan struct{}), idle: make(chan struct{}, 1)}
	if n == 0 {
		close(b.done)
	}
	return b
}

// begin is called by a gateway before the first write of a job: false means
// the Send is over and nothing more may be sent for it.
func (b *batch) begin(j *job) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.ctx.Err() != nil {
		return false
	}
	b.inflight++
	j.begun = true
	return true
}

func (b *batch) finish(idx int, r channels.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.have[idx] {
		return
	}
	b.have[idx] = true
	b.results[idx] = r
	b.left--
	if b.left == 0 {
		close(b.done)
	}
}

// end pairs with a successful begin.
func (b *batch) end(j *job) {
	b.mu.Lock()
	j.begun = false
	b.inflight--
	if b.inflight == 0 && b.stopped {
		select {
		case b.idle <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
}

func (b *batch) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
}

func (b *batch) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

// drain waits up to d for jobs on the wire to be acknowledged.
func (b *batch) drain(d time.Duration) {
	b.mu.Lock()
	n := b.inflight
	b.mu.Unlock()
	if n == 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.idle:
	case <-t.C:
	}
}

// release frees the dedup claims of jobs that never reached a result, so a
// retry may send them (they were never acknowledged).
func (b *batch) release(acks *ackStore) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, j := range b.jobs {
		if !b.have[j.idx] && !j.begun {
			acks.unclaim(j.ack)
		}
	}
}

func (b *batch) collect() []channels.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]channels.Result, 0, len(b.results)-b.left)
	for i, r := range b.results {
		if b.have[i] {
			out = append(out, r)
		}
	}
	return out
}
