package engine

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"time"
)

// inflightWindow is how much of a rate-limited channel's submitting time
// the engine hands it at once on one node. A recipient given to a channel
// and not yet submitted when the node dies is "possibly sent" to the node
// that resumes the batch (see claims.go): never sent again under the
// default at-most-once rule. Queueing no more than the gateways can submit
// in this window keeps that set small (at 2,000 TPS: two chunks of 200
// instead of every worker's chunk), and the gateways busy.
const inflightWindow = 200 * time.Millisecond

// rateLimited is a channel that knows its submit rate (sms.Channel).
type rateLimited interface {
	SubmitRate() float64
}

// uncappedSlots is the chunks in flight at once for a channel without a
// known rate.
const uncappedSlots = 4

// slotsFor is how many chunks of size chunk may be in a channel with the
// given submit rate at once on one node.
func slotsFor(rate float64, chunk int) int {
	if rate <= 0 || chunk <= 0 {
		return uncappedSlots
	}
	return max(2, int(math.Ceil(rate*inflightWindow.Seconds()/float64(chunk))))
}

// slots is a counting semaphore whose waiters are served by priority
// (highest first), then in arrival order: a red warning's chunk does not
// wait behind a queue of drill chunks.
type slots struct {
	mu      sync.Mutex
	free    int
	seq     uint64
	waiting waiters
}

func newSlots(n int) *slots { return &slots{free: n} }

type waiter struct {
	prio  int
	seq   uint64
	ready chan struct{}
	index int
}

type waiters []*waiter

func (w waiters) Len() int { return len(w) }
func (w waiters) Less(i, j int) bool {
	if w[i].prio != w[j].prio {
		return w[i].prio > w[j].prio
	}
	return w[i].seq < w[j].seq
}
func (w waiters) Swap(i, j int) { w[i], w[j] = w[j], w[i]; w[i].index = i; w[j].index = j }
func (w *waiters) Push(x any)   { x.(*waiter).index = len(*w); *w = append(*w, x.(*waiter)) }
func (w *waiters) Pop() any {
	old := *w
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*w = old[:len(old)-1]
	x.index = -1
	return x
}

// acquire takes a slot, waiting behind higher priorities; false if ctx
// ended first.
func (s *slots) acquire(ctx context.Context, prio int) bool {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting) == 0 {
		s.free--
		s.mu.Unlock()
		return true
	}
	s.seq++
	w := &waiter{prio: prio, seq: s.seq, ready: make(chan struct{})}
	heap.Push(&s.waiting, w)
	s.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.index < 0 { // handed a slot meanwhile: give it on
			s.releaseLocked()
			return false
		}
		heap.Remove(&s.waiting, w.index)
		return false
	}
}

func (s *slots) release() {
	s.mu.Lock()
	s.releaseLocked()
	s.mu.Unlock()
}

func (s *slots) releaseLocked() {
	if len(s.waiting) > 0 {
		w := heap.Pop(&s.waiting).(*waiter)
		close(w.ready)
		return
	}
	s.free++
}
