package speaker_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkLiveStatus40000 measures the fleet page's reads of the hub's
// state: a page of 100 devices, and the whole 40,000-device fleet (the
// counts per township), with half the fleet online and a command held for
// a tenth of it.
//
//	go test -run '^$' -bench LiveStatus40000 -benchtime 20x ./channels/speaker/
func BenchmarkLiveStatus40000(b *testing.B) {
	r := newRigB(b)
	n := r.nodeB(b)
	rdb := r.redis(b)
	ctx := context.Background()
	ids := make([]string, 40000)
	now := time.Now().UnixMilli()
	pipe := rdb.Pipeline()
	for i := range ids {
		ids[i] = fmt.Sprintf("SPK-%05d", i)
		if i%4 == 3 {
			continue // never connected
		}
		online := "0"
		if i%2 == 0 {
			online = "1"
		}
		// The hub's own status hash (flushStatus) and hold set.
		pipe.HSet(ctx, "alertcast:speaker:status:{"+ids[i]+"}", "node", "n1", "conn", "c", "online", online, "state", "normal",
			"volume", 80, "firmware", "1.4.2", "signal", -70, "playing", "", "village", "653122100001", "last_seen", now)
		if i%10 == 0 {
			pipe.HSet(ctx, "alertcast:speaker:hold:{"+ids[i]+"}", "a:x", "cmd")
		}
		if i%1000 == 999 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{100, 40000} {
		b.Run(fmt.Sprintf("devices=%d", size), func(b *testing.B) {
			for range b.N {
				m, err := n.LiveStatus(ctx, ids[:size])
				if err != nil {
					b.Fatal(err)
				}
				if on := m[ids[0]]; !on.Online || !on.Held || on.Firmware != "1.4.2" {
					b.Fatalf("%s: %+v", ids[0], on)
				}
			}
		})
	}
}
