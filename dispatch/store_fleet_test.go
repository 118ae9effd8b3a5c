package dispatch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

// TestSpeakersPageMatchesOracle pages through the registry with every kind
// of filter and page size and checks the concatenated pages against a
// filter over the whole registry in Go (the oracle): nothing repeated,
// nothing skipped, id order.
func TestSpeakersPageMatchesOracle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 5))
		var sp []targeting.Speaker
		for i := range 700 {
			town := fmt.Sprintf("653122%03d", 100+rng.IntN(4))
			village := fmt.Sprintf("%s%03d", town, 200+rng.IntN(5))
			id := fmt.Sprintf("SPK-%05d", i)
			if i%50 == 0 {
				id = fmt.Sprintf("spk_%%x%d", i) // wildcards and case in an id
			}
			sp = append(sp, targeting.Speaker{ID: id, Village: village})
		}
		if err := s.UpsertSpeakers(ctx, sp); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSpeakerCredential(ctx, sp[7].ID, "", true, Actor{Name: "admin"}); err != nil {
			t.Fatal(err)
		}
		oracle := func(f SpeakerFilter) []string {
			var out []string
			for _, x := range sp {
				if f.Region != "" && !strings.HasPrefix(x.Village, f.Region) {
					continue
				}
				if f.Q != "" && !strings.Contains(strings.ToLower(x.ID), strings.ToLower(f.Q)) && !slices.Contains(f.Villages, x.Village) {
					continue
				}
				out = append(out, x.ID)
			}
			slices.Sort(out)
			return out
		}
		filters := []SpeakerFilter{
			{},
			{Region: "653122101"},
			{Region: "653122"},
			{Region: "653122102203"},
			{Q: "spk-0001"}, // case-insensitive id substring
			{Q: "%x"},       // a literal %, not a wildcard
			{Q: "_"},        // a literal _, not a wildcard
			{Q: "nothing-like-it", Villages: []string{"653122100201", "653122103204"}}, // village names matched
			{Region: "653122100", Q: "SPK-000", Villages: []string{"653122101202"}},
		}
		for _, f := range filters {
			for _, limit := range []int{1, 7, 100, 1000} {
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > 800 {
						t.Fatalf("%+v limit %d: paging does not end", f, limit)
					}
					page, err := s.SpeakersPage(ctx, f, after, limit)
					if err != nil {
						t.Fatalf("%+v: %v", f, err)
					}
					if len(page) > limit {
						t.Fatalf("%+v: %d rows for limit %d", f, len(page), limit)
					}
					for _, r := range page {
						got = append(got, r.ID)
						if r.ID == sp[7].ID && !r.Revoked {
							t.Fatalf("revoked speaker %s shown as not revoked", r.ID)
						}
					}
					if len(page) < limit {
						break
					}
					after = page[len(page)-1].ID
				}
				if want := oracle(f); !slices.Equal(got, want) {
					t.Fatalf("%+v limit %d: got %d ids, want %d (first got %v, want %v)", f, limit, len(got), len(want), head(got), head(want))
				}
			}
		}
	})
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestAuditPageNewestFirst: filtered pages of the audit log, newest first,
// concatenate to the oracle's answer, and since/until bound by time.
func TestAuditPageNewestFirst(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
		actors := []string{"op", "ap", "admin"}
		actions := []string{"alert.create", "alert.approve", "speaker.enroll", "speaker.revoke", "login"}
		var all []AuditEntry
		for i := range 240 {
			e := AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: actors[i%3], Action: actions[i%5]}
			if i%4 == 0 {
				e.AlertID = fmt.Sprintf("A%d", i%8)
			}
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
			e.Seq = int64(i + 1)
			all = append(all, e)
		}
		oracle := func(f AuditFilter) []int64 {
			var out []int64
			for i := len(all) - 1; i >= 0; i-- {
				e := all[i]
				switch {
				case f.Actor != "" && e.Actor != f.Actor,
					f.Action != "" && !strings.HasSuffix(f.Action, ".") && e.Action != f.Action,
					strings.HasSuffix(f.Action, ".") && !strings.HasPrefix(e.Action, f.Action),
					f.AlertID != "" && e.AlertID != f.AlertID,
					!f.Since.IsZero() && e.At.Before(f.Since),
					!f.Until.IsZero() && !e.At.Before(f.Until):
					continue
				}
				out = append(out, e.Seq)
			}
			return out
		}
		filters := []AuditFilter{
			{},
			{Actor: "ap"},
			{Action: "speaker."},
			{Action: "alert.approve", Actor: "op"},
			{AlertID: "A4"},
			{Since: t0.Add(30 * time.Minute), Until: t0.Add(90 * time.Minute)},
			{Action: "speaker", Actor: "admin"}, // no such action: empty, not every speaker.* row
		}
		for _, f := range filters {
			for _, limit := range []int{1, 9, 1000} {
				var got []int64
				var before int64
				for {
					page, err := s.AuditPage(ctx, f, before, limit)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range page {
						got = append(got, e.Seq)
					}
					if len(page) < limit {
						break
					}
					before = page[len(page)-1].Seq
				}
				if want := oracle(f); !slices.Equal(got, want) {
					t.Fatalf("%+v limit %d: got %v, want %v", f, limit, got, want)
				}
			}
		}
	})
}
