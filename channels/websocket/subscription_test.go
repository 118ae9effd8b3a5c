package websocket

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/warning"
)

func mustEvent(t testing.TB, w *Warning) *event {
	t.Helper()
	e, err := newEvent(streamID{1, 0}, w)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRegionMatching(t *testing.T) {
	const (
		vilB = "653122100002" // another village in 疏勒镇
	)
	cases := []struct {
		name    string
		sub     []string
		area    []string
		want    bool
		level   int // warning level; 0 = 3
		min     int
		status  string
		console bool
	}{
		{name: "village gets its own warning", sub: []string{village}, area: []string{village}, want: true},
		{name: "village gets its township's", sub: []string{village}, area: []string{township}, want: true},
		{name: "village gets the county's", sub: []string{village}, area: []string{county}, want: true},
		{name: "village not a sibling village's", sub: []string{village}, area: []string{vilB}, want: false},
		{name: "village not another township's", sub: []string{village}, area: []string{otherTwn}, want: false},
		{name: "township gets a village inside", sub: []string{township}, area: []string{vilB}, want: true},
		{name: "township gets itself", sub: []string{township}, area: []string{township}, want: true},
		{name: "township gets the county's", sub: []string{township}, area: []string{county}, want: true},
		{name: "township not a village outside", sub: []string{township}, area: []string{otherVil}, want: false},
		{name: "county gets everything inside", sub: []string{county}, area: []string{otherVil}, want: true},
		{name: "any of several area codes", sub: []string{village}, area: []string{otherTwn, township}, want: true},
		{name: "any of several subscriptions", sub: []string{otherVil, vilB}, area: []string{village, otherTwn}, want: true},
		{name: "code outside the county", sub: []string{village}, area: []string{"653121"}, want: false},
		{name: "empty area is everyone", sub: []string{village}, area: nil, want: true},
		{name: "below minimum level", sub: []string{village}, area: []string{county}, level: 1, min: 2, want: false},
		{name: "at minimum level", sub: []string{village}, area: []string{county}, level: 2, min: 2, want: true},
		{name: "technical test hidden from public", sub: []string{village}, area: []string{county}, status: "test", want: false},
		{name: "technical test shown to consoles", sub: []string{village}, area: []string{county}, status: "test", console: true, want: true},
		{name: "console without regions sees all", sub: nil, area: []string{otherVil}, console: true, want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"region": c.sub}
			if c.min > 0 {
				q.Set("min_level", string(rune('0'+c.min)))
			}
			q.Set("all", "1")
			sub, _, _, err := parseSubscribeQuery(q, "", limits{regions: tree.Scopes(), maxRegions: 16, console: c.console})
			if err != nil {
				t.Fatal(err)
			}
			level := c.level
			if level == 0 {
				level = 3
			}
			status := c.status
			if status == "" {
				status = "actual"
			}
			e := mustEvent(t, &Warning{AlertID: "x", Kind: "alert", Level: level, Status: status, Area: c.area, Expires: time.Now().Add(time.Hour)})
			if got := sub.matches(e, tree.Scopes()); got != c.want {
				t.Errorf("matches = %v, want %v", got, c.want)
			}
			if got := sub.shows(e, tree.Scopes()); got != c.want {
				t.Errorf("shows = %v, want %v", got, c.want)
			}
		})
	}
	// Updates and lifts pass the level filter: a subscriber must not keep a
	// warning that was downgraded or lifted.
	sub, _, _, _ := parseSubscribeQuery(url.Values{"region": {village}, "min_level": {"orange"}}, "", limits{regions: tree.Scopes(), maxRegions: 16})
	for _, kind := range []string{"update", "cancel", "allclear"} {
		e := mustEvent(t, &Warning{AlertID: "x", Kind: kind, Level: 1, Status: "actual", Area: []string{county}, Lifted: kind != "update"})
		if !sub.matches(e, tree.Scopes()) {
			t.Errorf("%s below min level filtered out", kind)
		}
	}
}

func TestParseSubscribeFrame(t *testing.T) {
	pub := limits{regions: tree.Scopes(), maxRegions: 3}
	good := []string{
		`{"type":"subscribe","regions":["653122100001"]}`,
		`{"type":"subscribe","regions":["653122100001","653122"],"lang":"ug","min_level":"orange","last_id":"1732000000000-3"}`,
		`{"type":"subscribe","regions":["653122100"],"min_level":2}`,
	}
	for _, g := range good {
		if _, _, err := parseSubscribeFrame([]byte(g), pub); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := []struct{ frame, field string }{
		{`not json`, "frame"},
		{`{"type":"subscribe","regions":["653122100001"]} {}`, "frame"},
		{`{"type":"hello","regions":["653122100001"]}`, "type"},
		{`{"type":"subscribe"}`, "regions"},
		{`{"type":"subscribe","regions":"653122100001"}`, "regions"},
		{`{"type":"subscribe","regions":["65312210000x"]}`, "regions[0]"},
		{`{"type":"subscribe","regions":["653122100001","653122999999"]}`, "regions[1]"},
		{`{"type":"subscribe","regions":["653122","653122100","653122100001","653122100002"]}`, "regions"},
		{`{"type":"subscribe","regions":["653122100001"],"lang":"en"}`, "lang"},
		{`{"type":"subscribe","regions":["653122100001"],"min_level":9}`, "min_level"},
		{`{"type":"subscribe","regions":["653122100001"],"min_level":"purple"}`, "min_level"},
		{`{"type":"subscribe","regions":["653122100001"],"last_id":"yesterday"}`, "last_id"},
		{`{"type":"subscribe","regions":["653122100001"],"progress":true}`, "progress"},
		{`{"type":"subscribe","regions":["653122100001"],"admin":true}`, "admin"},
	}
	for _, b := range bad {
		_, _, err := parseSubscribeFrame([]byte(b.frame), pub)
		var fe *warning.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a FieldError", b.frame, err)
			continue
		}
		if fe.Field != b.field {
			t.Errorf("%s: field %q, want %q (%v)", b.frame, fe.Field, b.field, err)
		}
	}
	con := limits{regions: tree.Scopes(), maxRegions: 3, console: true}
	s, _, err := parseSubscribeFrame([]byte(`{"type":"subscribe","progress":true,"alerts":["a1"]}`), con)
	if err != nil || !s.progress || !s.wantsProgress("a1") || s.wantsProgress("a2") {
		t.Errorf("console progress subscription: %+v %v", s, err)
	}
}

func FuzzParseSubscribeFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"subscribe","regions":["653122100001"]}`,
		`{"type":"subscribe","regions":["653122100001","653122"],"lang":"ug","min_level":"orange","last_id":"1732000000000-3"}`,
		`{"type":"subscribe","regions":["653122100"],"min_level":2,"progress":true,"alerts":["a"]}`,
		`{"type":"subscribe","regions":[]}`, `{}`, `[]`, `null`, `"x"`, `{"type":1}`,
		`{"type":"subscribe","regions":["653122100001"],"last_id":"18446744073709551615-18446744073709551615"}`,
		`{"type":"subscribe","regions":["653122100001"],"last_id":"1-"}`,
		`{"type":"subscribe","regions":["\u0000"]}`, "{\"type\":\"subscribe\",\"regions\":[\"653122\"],\"lang\":\"\xff\"}",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, console bool) {
		s, last, err := parseSubscribeFrame(b, limits{regions: tree.Scopes(), maxRegions: 16, console: console})
		if err != nil {
			var fe *warning.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v is not a FieldError naming a field", err)
			}
			if len(fe.Value) > 80 {
				t.Fatalf("error echoes %d bytes of input", len(fe.Value))
			}
			return
		}
		if len(s.regions) == 0 && !console {
			t.Fatal("public subscription without regions accepted")
		}
		if len(s.regions) > 16 {
			t.Fatalf("%d regions accepted", len(s.regions))
		}
		for _, r := range s.regions {
			if _, ok := tree.Region(r); !ok {
				t.Fatalf("unknown region %q accepted", r)
			}
		}
		if s.lang != "" && s.lang != "zh" && s.lang != "ug" {
			t.Fatalf("lang %q accepted", s.lang)
		}
		if s.minLevel < 0 || s.minLevel > 4 {
			t.Fatalf("min level %d accepted", s.minLevel)
		}
		if s.progress && !console {
			t.Fatal("progress granted to a public subscriber")
		}
		if last != "" {
			if _, err := parseStreamID(last); err != nil {
				t.Fatalf("last_id %q accepted: %v", last, err)
			}
		}
		if strings.Contains(string(b), `"console"`) && s.console != console {
			t.Fatal("client set console")
		}
	})
}

func TestStreamIDOrder(t *testing.T) {
	a, _ := parseStreamID("1732000000000-9")
	b, _ := parseStreamID("1732000000001-0")
	if !a.less(b) || b.less(a) || a.less(a) {
		t.Fatal("stream id order wrong")
	}
	if a.String() != "1732000000000-9" {
		t.Fatal(a.String())
	}
}

func TestClientIP(t *testing.T) {
	r, _ := http.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "10.0.0.9:5555"
	r.Header.Set("X-Forwarded-For", "1.2.3.4, 203.0.113.7")
	if got := clientIP(r, ""); got != "10.0.0.9" {
		t.Errorf("no header configured: %s", got)
	}
	if got := clientIP(r, "X-Forwarded-For"); got != "203.0.113.7" {
		t.Errorf("X-Forwarded-For: %s (want the proxy-appended last entry)", got)
	}
	r.Header.Set("X-Forwarded-For", "garbage")
	if got := clientIP(r, "X-Forwarded-For"); got != "10.0.0.9" {
		t.Errorf("bad header: %s", got)
	}
}
