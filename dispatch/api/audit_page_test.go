package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// TestAuditNewestFirstFilteredPaged: the log comes newest first; filtered
// pages followed by next_cursor give exactly the matching entries; after=
// still follows the log oldest first.
func TestAuditNewestFirstFilteredPaged(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	for i := range 60 {
		act := []string{"alert.create", "alert.approve", "speaker.enroll"}[i%3]
		en := dispatch.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: []string{"op", "ap"}[i%2], Action: act}
		if act != "speaker.enroll" {
			en.AlertID = fmt.Sprintf("W%d", i%4)
		}
		if err := e.store.Audit(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.store.AuditLog(ctx, 0, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := func(keep func(dispatch.AuditEntry) bool) []int64 {
		var out []int64
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				out = append(out, all[i].Seq)
			}
		}
		return out
	}
	follow := func(query string) []int64 {
		t.Helper()
		var got []int64
		cursor := ""
		for n := 0; n < 100; n++ {
			a := e.do("GET", "/api/v1/audit?"+query+cursor, e.admin, "", nil)
			if a.status != 200 {
				t.Fatalf("%s: %d %v", query, a.status, a.body)
			}
			for _, x := range a.body["entries"].([]any) {
				got = append(got, int64(x.(map[string]any)["seq"].(float64)))
			}
			next, _ := a.body["next_cursor"].(string)
			if next == "" {
				return got
			}
			cursor = "&cursor=" + next
		}
		t.Fatalf("%s: paging does not end", query)
		return nil
	}
	since, until := t0.Add(10*time.Minute), t0.Add(40*time.Minute)
	for query, keep := range map[string]func(dispatch.AuditEntry) bool{
		"limit=7":                               func(dispatch.AuditEntry) bool { return true },
		"limit=5&actor=ap":                      func(x dispatch.AuditEntry) bool { return x.Actor == "ap" },
		"limit=4&action=alert.":                 func(x dispatch.AuditEntry) bool { return strings.HasPrefix(x.Action, "alert.") },
		"limit=3&action=alert.approve&alert=W1": func(x dispatch.AuditEntry) bool { return x.Action == "alert.approve" && x.AlertID == "W1" },
		"limit=6&since=" + since.Format(time.RFC3339) + "&until=" + until.In(beijing).Format(time.RFC3339): func(x dispatch.AuditEntry) bool {
			return !x.At.Before(since) && x.At.Before(until)
		},
	} {
		query = strings.ReplaceAll(query, "+", "%2B")
		w := want(keep)
		if got := follow(query); fmt.Sprint(got) != fmt.Sprint(w) || len(w) == 0 {
			t.Errorf("%s:\n got %v\nwant %v", query, got, w)
		}
	}
	// after= is the original answer: oldest first.
	a := e.do("GET", "/api/v1/audit?after=0&limit=3", e.admin, "", nil)
	es := a.body["entries"].([]any)
	if len(es) != 3 || es[0].(map[string]any)["seq"].(float64) != float64(all[0].Seq) {
		t.Errorf("after=0: %v", es)
	}
}

// TestAuditBadParameters: each bad parameter is a 400 that names it.
func TestAuditBadParameters(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	for q, field := range map[string]string{
		"since=yesterday":            "since",
		"until=2026-13-01T00:00:00Z": "until",
		"since=2026-12-03T10:00:00Z&until=2026-12-03T09:00:00Z": "until",
		"limit=0":                           "limit",
		"limit=5000":                        "limit",
		"cursor=abc":                        "cursor",
		"format=pdf":                        "format",
		"lang=fr":                           "lang",
		"who=me":                            "who",
		"after=-1":                          "after",
		"after=3&actor=op":                  "actor",
		"actor=" + strings.Repeat("a", 200): "actor",
	} {
		a := e.do("GET", "/api/v1/audit?"+q, e.admin, "", nil)
		if a.status != 400 || !strings.HasPrefix(a.message(), field) {
			t.Errorf("?%s: %d %v (want 400 naming %s)", q, a.status, a.body, field)
		}
	}
}

// TestAuditCSV: every matching entry, newest first, localized header, and
// the export itself is audited.
func TestAuditCSV(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	ctx := context.Background()
	for i := range 1500 {
		if err := e.store.Audit(ctx, dispatch.AuditEntry{Actor: "op", Action: "login", Detail: fmt.Sprintf(`{"n":%d}`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.Audit(ctx, dispatch.AuditEntry{Actor: "=HYPERLINK(\"x\")", Action: "login"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/audit?format=csv&lang=zh&action=login&limit=5", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "序号" || rows[0][2] != "操作人" {
		t.Errorf("header %v, want Chinese", rows[0])
	}
	if len(rows) != 1+1501 {
		t.Fatalf("%d rows, want every matching entry (1501), not the limit", len(rows)-1)
	}
	if rows[1][2] != `'=HYPERLINK("x")` {
		t.Errorf("newest row's actor %q: newest first, formula defused", rows[1][2])
	}
	if !strings.HasSuffix(rows[1][1], "+08:00") {
		t.Errorf("time %q not UTC+8", rows[1][1])
	}
	a := e.do("GET", "/api/v1/audit?limit=1&action=audit.export", e.admin, "", nil)
	if es := a.body["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["actor"] != "root" {
		t.Errorf("the CSV export is not audited: %v", a.body)
	}
}
