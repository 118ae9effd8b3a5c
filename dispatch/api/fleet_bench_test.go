package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
)

// BenchmarkFleet40000 measures GET /api/v1/speakers over a 40,000-device
// fleet spread over the county's 251 villages, on SQLite (and PostgreSQL
// with ALERTCAST_BENCH_PG=1): a page of 100 (the registry part; the hub's
// part is BenchmarkLiveStatus40000 in channels/speaker), a later page, one
// township's offline speakers, the census behind the counts, and the CSV of
// the whole fleet. The hub's state is an in-memory map here: a quarter
// never connected, half online.
//
//	go test -run '^$' -bench Fleet40000 -benchtime 10x ./dispatch/api/
func BenchmarkFleet40000(b *testing.B) {
	engines := map[string]func(testing.TB) *dispatch.Store{"sqlite": storetest.SQLite}
	if os.Getenv("ALERTCAST_BENCH_PG") == "1" {
		engines["postgres"] = func(tb testing.TB) *dispatch.Store {
			s, err := dispatch.OpenStore(context.Background(), testsvc.Postgres(tb), "", nil)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}
	}
	for name, open := range engines {
		b.Run(name, func(b *testing.B) { benchFleet(b, open(b)) })
	}
}

func benchFleet(b *testing.B, s *dispatch.Store) {
	ctx := context.Background()
	tree := targeting.DefaultTree()
	villages := tree.Villages()
	live := map[string]SpeakerLive{}
	sp := make([]targeting.Speaker, 40000)
	for i := range sp {
		sp[i] = targeting.Speaker{ID: fmt.Sprintf("SPK-%s-%03d", villages[i%len(villages)].Code, i/len(villages)), Village: villages[i%len(villages)].Code}
		if i%4 != 3 {
			live[sp[i].ID] = SpeakerLive{Seen: true, Online: i%2 == 0, State: "normal", Firmware: "1.4.2", LastSeen: time.Now()}
		}
	}
	for i := 0; i < len(sp); i += 5000 {
		if err := s.UpsertSpeakers(ctx, sp[i:i+5000]); err != nil {
			b.Fatal(err)
		}
	}
	pop, err := dispatch.NewPopulationIndex(ctx, s, tree)
	if err != nil {
		b.Fatal(err)
	}
	a := &API{Store: s, Service: &lifecycle.Service{Store: s, Population: pop},
		SpeakersLive: func(ctx context.Context, ids []string) (map[string]SpeakerLive, error) {
			out := make(map[string]SpeakerLive, len(ids))
			for _, id := range ids {
				if l, ok := live[id]; ok {
					out[id] = l
				}
			}
			return out, nil
		}}
	get := func(b *testing.B, query string) {
		r := httptest.NewRequest("GET", "/api/v1/speakers?"+query, nil)
		w := httptest.NewRecorder()
		a.fleet(w, r, dispatch.Actor{Name: "bench", Role: dispatch.RoleViewer})
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", query, w.Code, w.Body)
		}
	}
	get(b, "limit=1") // the census, cached from here on
	town := villages[100].Code[:9]
	for _, c := range []struct{ name, query string }{
		{"page", "limit=100&cursor=" + fleetCursor(sp[0].ID)},
		{"page_late", "limit=100&cursor=" + fleetCursor("SPK-6531222")},
		{"township_offline", "limit=100&status=offline&region=" + town + "&cursor=" + fleetCursor("A")},
		{"search_village_name", "limit=100&q=" + villages[100].Name + "&cursor=" + fleetCursor("A")},
		{"csv_all", "format=csv"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				get(b, c.query)
			}
		})
	}
	b.Run("census", func(b *testing.B) {
		for range b.N {
			c, err := a.fleetCounts(ctx)
			if err != nil || c.Total.Registered != len(sp) {
				b.Fatalf("%v %+v", err, c)
			}
		}
	})
}
