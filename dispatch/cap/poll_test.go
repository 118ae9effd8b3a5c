package cap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// upstream is a fake agency: an Atom feed at /feed.atom listing CAP
// documents at /cap/{name}, honouring If-None-Match.
type upstream struct {
	mu       sync.Mutex
	docs     map[string][]byte // name → CAP document
	order    []string
	fail     map[string]int // name → remaining 500s
	requests map[string]int
	rss      bool
}

func newUpstream() *upstream {
	return &upstream{docs: map[string][]byte{}, fail: map[string]int{}, requests: map[string]int{}}
}

func (u *upstream) put(name string, doc []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.docs[name]; !ok {
		u.order = append(u.order, name)
	}
	u.docs[name] = doc
}

func (u *upstream) etag() string { return fmt.Sprintf(`"%d-%d"`, len(u.order), len(u.docs)) }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests[r.URL.Path]++
	if r.URL.Path == "/feed" {
		if r.Header.Get("If-None-Match") == u.etag() {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", u.etag())
		var b strings.Builder
		if u.rss {
			b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`)
			for _, n := range u.order {
				fmt.Fprintf(&b, `<item><title>%s</title><link>/cap/%s</link><guid>%s</guid></item>`, n, n, n)
			}
			b.WriteString(`</channel></rss>`)
		} else {
			b.WriteString(`<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title><updated>2026-03-02T00:00:00Z</updated>`)
			for i, n := range u.order {
				href := "/cap/" + n
				if i%2 == 1 {
					href = "cap/" + n // relative to /feed
				}
				fmt.Fprintf(&b, `<entry><id>urn:%s</id><title>%s</title><updated>2026-03-02T00:00:00Z</updated><link rel="alternate" href="%s"/></entry>`, n, n, href)
			}
			b.WriteString(`</feed>`)
		}
		w.Write([]byte(b.String()))
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/cap/")
	if u.fail[name] > 0 {
		u.fail[name]--
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	doc, ok := u.docs[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", MIMEType)
	w.Write(doc)
}

func capDoc(t *testing.T, id string) []byte {
	t.Helper()
	return []byte(strings.Replace(minimal, "KAS-2026-0001", id, 1))
}

func TestPollerFeed(t *testing.T) {
	up := newUpstream()
	srv := httptest.NewServer(up)
	defer srv.Close()
	up.put("a", capDoc(t, "ID-A"))
	up.put("b", capDoc(t, "ID-B"))

	var got []string
	handleErr := error(nil)
	reg := prometheus.NewRegistry()
	p := &Poller{Sources: []string{srv.URL + "/feed"}, Handle: func(_ context.Context, a *Alert, raw []byte, from string) error {
		if handleErr != nil {
			return handleErr
		}
		if !bytes.Contains(raw, []byte(a.Identifier)) || !strings.HasPrefix(from, srv.URL+"/cap/") {
			t.Errorf("raw/from mismatch: %s from %s", a.Identifier, from)
		}
		got = append(got, a.Identifier)
		return nil
	}}
	if err := p.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Poll(ctx))
	eq(t, "round 1", got, []string{"ID-A", "ID-B"})

	// Unchanged feed: 304, nothing fetched or handled.
	must(p.Poll(ctx))
	eq(t, "round 2", got, []string{"ID-A", "ID-B"})
	eq(t, "not modified", testutil.ToFloat64(p.metrics.fetches.WithLabelValues("not_modified")), 1.0)
	eq(t, "doc fetches", up.requests["/cap/a"], 1)

	// A new entry whose document fails once, one duplicate identifier
	// under another entry, and one hostile document.
	up.put("c", capDoc(t, "ID-C"))
	up.put("dup", capDoc(t, "ID-A"))
	up.put("xxe", readSample(t, "google__xee.xml"))
	up.fail["c"] = 1
	err := p.Poll(ctx)
	if err == nil || !strings.Contains(err.Error(), "urn:c") {
		t.Fatalf("round 3 error = %v, want the failing entry named", err)
	}
	eq(t, "round 3", got, []string{"ID-A", "ID-B"})
	// The failed entry is retried (the feed's ETag was not kept).
	must(p.Poll(ctx))
	eq(t, "round 4", got, []string{"ID-A", "ID-B", "ID-C"})
	eq(t, "xxe fetched once", up.requests["/cap/xxe"], 1)
	eq(t, "refused", testutil.ToFloat64(p.metrics.alerts.WithLabelValues("refused")), 1.0)
	eq(t, "duplicate", testutil.ToFloat64(p.metrics.alerts.WithLabelValues("duplicate")), 1.0)
	eq(t, "new", testutil.ToFloat64(p.metrics.alerts.WithLabelValues("new")), 3.0)

	// A failing handler means the entry is retried.
	up.put("d", capDoc(t, "ID-D"))
	handleErr = errors.New("database down")
	if err := p.Poll(ctx); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Fatalf("round 5 error = %v", err)
	}
	handleErr = nil
	must(p.Poll(ctx))
	eq(t, "round 6", got, []string{"ID-A", "ID-B", "ID-C", "ID-D"})
}

func TestPollerRSSAndSingleDocument(t *testing.T) {
	up := newUpstream()
	up.rss = true
	srv := httptest.NewServer(up)
	defer srv.Close()
	up.put("a", capDoc(t, "ID-A"))
	var got []string
	p := &Poller{Sources: []string{srv.URL + "/feed", srv.URL + "/cap/single"}, Handle: func(_ context.Context, a *Alert, _ []byte, _ string) error {
		got = append(got, a.Identifier)
		return nil
	}}
	up.put("single", capDoc(t, "ID-S"))
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	eq(t, "handled", got, []string{"ID-A", "ID-S"})
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	eq(t, "no repeats", got, []string{"ID-A", "ID-S"})
}

func TestPollerRunStops(t *testing.T) {
	up := newUpstream()
	srv := httptest.NewServer(up)
	defer srv.Close()
	polled := make(chan struct{}, 10)
	p := &Poller{Sources: []string{srv.URL + "/feed"}, Interval: 10 * time.Millisecond, Handle: func(context.Context, *Alert, []byte, string) error { return nil }}
	p.Client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case polled <- struct{}{}:
		default:
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for range 2 {
		select {
		case <-polled:
		case <-time.After(5 * time.Second):
			t.Fatal("poller did not poll")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestParseFeed(t *testing.T) {
	a, _ := ParseBytes([]byte(minimal))
	own, err := (&Feed{ID: "urn:x", Title: "t", Entries: []FeedEntry{{Alert: a, URL: "https://x.example/a/1/cap"}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	items, err := ParseFeed(bytes.NewReader(own))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "own feed", items, []FeedItem{{ID: "https://x.example/a/1/cap", Title: "喀什地区气象台发布沙尘暴橙色预警",
		CAPURL: "https://x.example/a/1/cap", Updated: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}})

	for _, c := range []struct {
		name, doc string
		want      error
	}{
		{"doctype", `<!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]><feed xmlns="http://www.w3.org/2005/Atom">&x;</feed>`, ErrDoctype},
		{"not a feed", minimal, ErrNamespace},
		{"entry without link", `<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id></entry></feed>`, ErrMissing},
		{"broken", `<feed xmlns="http://www.w3.org/2005/Atom"><entry>`, ErrNotWellFormed},
		{"deep", `<rss>` + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + `</rss>`, ErrTooDeep},
	} {
		if _, err := ParseFeed(strings.NewReader(c.doc)); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	rss := `<rss version="2.0"><channel><item><title>x</title><link>https://a/x.xml</link><enclosure type="application/cap+xml" url="https://a/x.cap"/><pubDate>Mon, 02 Mar 2026 08:00:00 +0800</pubDate></item></channel></rss>`
	items, err = ParseFeed(strings.NewReader(rss))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "rss", items[0].CAPURL, "https://a/x.cap")
	eq(t, "rss date", items[0].Updated.UTC(), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
}

func FuzzParseFeed(f *testing.F) {
	a, _ := ParseBytes([]byte(minimal))
	own, _ := (&Feed{ID: "urn:x", Title: "t", Entries: []FeedEntry{{Alert: a, URL: "https://x.example/a/1/cap"}}}).Marshal()
	f.Add(own)
	f.Add([]byte(`<rss version="2.0"><channel><item><link>https://a/x.xml</link></item></channel></rss>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := ParseFeed(bytes.NewReader(data))
		if err == nil {
			for _, it := range items {
				if it.CAPURL == "" || it.ID == "" {
					t.Fatalf("item without link or id: %+v", it)
				}
			}
		}
	})
}

func TestPollerPermanentErrorsAndEnvelopes(t *testing.T) {
	up := newUpstream()
	srv := httptest.NewServer(up)
	defer srv.Close()
	body := minimal[strings.Index(minimal, "<alert"):]
	second := strings.Replace(body, "KAS-2026-0001", "KAS-2026-0002", 1)
	up.put("env", []byte(`<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0">`+
		`<contentObject><xmlContent><embeddedXMLContent>`+body+`</embeddedXMLContent></xmlContent></contentObject>`+
		`<contentObject><xmlContent><embeddedXMLContent>`+second+`</embeddedXMLContent></xmlContent></contentObject></EDXLDistribution>`))
	up.put("bad", capDoc(t, "ID-PERM"))
	calls := map[string]int{}
	p := &Poller{Sources: []string{srv.URL + "/feed"}, Handle: func(_ context.Context, a *Alert, raw []byte, _ string) error {
		calls[a.Identifier]++
		if a.Identifier == "ID-PERM" {
			return fmt.Errorf("%w: references no warning known here", ErrPermanent)
		}
		// Each alert of an envelope arrives as a document of its own.
		b, err := ParseBytes(raw)
		if err != nil || b.Identifier != a.Identifier {
			t.Errorf("raw for %s does not parse to it: %v", a.Identifier, err)
		}
		return nil
	}}
	for range 2 {
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "calls", calls, map[string]int{"KAS-2026-0001": 1, "KAS-2026-0002": 1, "ID-PERM": 1})
}
