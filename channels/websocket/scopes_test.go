package websocket

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// The fan-out decides the area once per scope; it must pick exactly the
// subscribers that subscription.matches picks one by one, while
// subscribers come, go and change their subscription.
func TestScopeFanOutAgreesWithMatches(t *testing.T) {
	cov := tree.Scopes()
	codes := []string{county, township, otherTwn, village, otherVil, "653122100002"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(max int) []string {
		var out []string
		for range rng.IntN(max + 1) {
			out = append(out, codes[rng.IntN(len(codes))])
		}
		return out
	}
	x := make(scopeIndex)
	in := map[*subscriber]bool{}
	var all []*subscriber
	for step := range 3000 {
		switch op := rng.IntN(10); {
		case op < 5 || len(all) == 0: // a new subscriber
			s := &subscriber{}
			s.sub = subscription{regions: pick(3), minLevel: rng.IntN(5), console: rng.IntN(4) == 0}
			if len(s.sub.regions) == 0 && !s.sub.console {
				s.sub.regions = []string{village}
			}
			x.add(s)
			in[s] = true
			all = append(all, s)
		case op < 8: // one goes away (twice is harmless)
			s := all[rng.IntN(len(all))]
			x.remove(s)
			in[s] = false
		default: // one changes its subscription
			s := all[rng.IntN(len(all))]
			x.remove(s)
			s.sub.regions = pick(2)
			s.sub.console = s.sub.console || len(s.sub.regions) == 0
			x.add(s)
			in[s] = true
		}
		if step%50 != 0 {
			continue
		}
		kinds := []string{"alert", "update", "cancel"}
		e := mustEvent(t, &Warning{AlertID: "x", Kind: kinds[rng.IntN(3)], Level: 1 + rng.IntN(4),
			Status: []string{"actual", "exercise", "test"}[rng.IntN(3)], Area: pick(2), Expires: time.Now().Add(time.Hour)})
		got := map[*subscriber]int{}
		x.matching(e, cov, func(s *subscriber) { got[s]++ })
		for _, s := range all {
			want := in[s] && s.sub.matches(e, cov)
			if n := got[s]; (n == 1) != want || n > 1 {
				t.Fatalf("step %d: subscriber %+v, event area %v kind %s status %s level %d: fan-out visited it %d times, matches = %v",
					step, s.sub, e.w.Area, e.w.Kind, e.w.Status, e.w.Level, n, want)
			}
		}
		for key, sc := range x {
			if len(sc.subs) == 0 {
				t.Fatalf("step %d: empty scope %q kept", step, key)
			}
			for i, s := range sc.subs {
				if s.scope != sc || s.scopeAt != i || !in[s] {
					t.Fatalf("step %d: scope %q index broken at %d", step, key, i)
				}
			}
		}
	}
}

func TestScopeKeyIgnoresOrder(t *testing.T) {
	if scopeKey([]string{village, township}) != scopeKey([]string{township, village}) {
		t.Error("same regions in another order are another scope")
	}
	if scopeKey([]string{village}) == scopeKey([]string{township}) || scopeKey(nil) != "" {
		t.Error("scope keys")
	}
}

// The fan-out spreads a large audience over the cores; every subscriber
// still gets the event exactly once, in its language, and one whose queue
// is full is dropped, not blocked on.
func TestDeliverInParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	met, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &Hub{cfg: Config{SendQueue: 2}, met: met}
	e := mustEvent(t, &Warning{AlertID: "x", Kind: "alert", Level: 2, Status: "actual", Expires: time.Now().Add(time.Hour),
		Texts: map[string]channels.Text{"zh": {Headline: "中"}, "ug": {Headline: "ئۇ"}}})
	const n = 3 * minPerWorker * 4
	subs := make([]*subscriber, n)
	for i := range subs {
		subs[i] = newSubscriber(h, nil, "127.0.0.1") // SSE: frames wait in the queue
		subs[i].sub.lang = langVariants[i%len(langVariants)]
	}
	full := subs[n-1]
	full.q <- pingFrame
	full.q <- pingFrame
	if got := deliver(e, subs); got != n-1 {
		t.Fatalf("delivered to %d, want %d", got, n-1)
	}
	for i, s := range subs[:n-1] {
		if len(s.q) != 1 {
			t.Fatalf("subscriber %d has %d frames", i, len(s.q))
		}
		if f := <-s.q; f != e.frames[i%len(langVariants)] {
			t.Fatalf("subscriber %d got another language's frame", i)
		}
	}
	select {
	case <-full.done:
	default:
		t.Error("the subscriber with a full queue was not dropped")
	}
}
