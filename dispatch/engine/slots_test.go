package engine

import (
	"context"
	"runtime"
	"testing"
)

func TestSlotsForRate(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		chunk int
		want  int
	}{
		{0, 200, uncappedSlots},
		{2000, 200, 2},
		{100, 200, 2},
		{20000, 200, 20},
	} {
		if got := slotsFor(tc.rate, tc.chunk); got != tc.want {
			t.Errorf("slotsFor(%v, %d) = %d, want %d", tc.rate, tc.chunk, got, tc.want)
		}
	}
}

// A red chunk that arrives after drill chunks are waiting gets the next
// free slot; equal priorities are served in arrival order.
func TestSlotsServeHighestPriorityFirst(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if !s.acquire(ctx, 0) {
		t.Fatal("first acquire failed")
	}
	order := make(chan string, 3)
	queued := func(name string, prio int) {
		n := len(s.waiting)
		go func() {
			if s.acquire(ctx, prio) {
				order <- name
			}
		}()
		for { // wait until it is queued (an event, not a sleep)
			s.mu.Lock()
			k := len(s.waiting)
			s.mu.Unlock()
			if k > n {
				return
			}
			runtime.Gosched()
		}
	}
	queued("drill-1", 0)
	queued("drill-2", 0)
	queued("red", 4)
	for _, want := range []string{"red", "drill-1", "drill-2"} {
		s.release()
		if got := <-order; got != want {
			t.Fatalf("served %s, want %s", got, want)
		}
	}
	s.release()
	if s.free != 1 {
		t.Fatalf("free = %d after every slot came back, want 1", s.free)
	}
}

// A waiter whose context ends leaves the queue and takes no slot.
func TestSlotsCancelledWaiterTakesNothing(t *testing.T) {
	s := newSlots(1)
	if !s.acquire(context.Background(), 0) {
		t.Fatal("first acquire failed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s.acquire(ctx, 0) {
		t.Fatal("acquire with a done context succeeded while no slot was free")
	}
	s.release()
	if s.free != 1 || len(s.waiting) != 0 {
		t.Fatalf("free %d, waiting %d; want 1, 0", s.free, len(s.waiting))
	}
}
