package api

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"bytes"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseTrustedProxies(t *testing.T) {
	p, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 127.0.0.1 ", "::1", ""})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3:555": true, "127.0.0.1:1": true, "[::1]:80": true, "::ffff:10.0.0.1": true,
		"11.0.0.1:80": false, "127.0.0.2:1": false, "garbage": false,
	} {
		if got := p.Contains(addr); got != want {
			t.Errorf("Contains(%q) = %v, want %v", addr, got, want)
		}
	}
	_, err = ParseTrustedProxies([]string{"10.0.0.0/8", "10.0.0.0/99"})
	if err == nil || !strings.Contains(err.Error(), "trusted_proxies[1]") || !strings.Contains(err.Error(), "10.0.0.0/99") {
		t.Fatalf("bad CIDR: error %v, want it to name trusted_proxies[1] and the value", err)
	}
}

// seen records what the inner handler saw.
type seen struct {
	remote string
	https  bool
}

func forwardedServer(t *testing.T, trusted []string) (http.Handler, *seen) {
	t.Helper()
	p, err := ParseTrustedProxies(trusted)
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	h := Forwarded(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.remote, s.https = RemoteAddr(r), IsHTTPS(r)
		http.SetCookie(w, &http.Cookie{Name: "alertcast_session", Value: "x", HttpOnly: true})
		w.WriteHeader(204)
	}))
	return h, &s
}

func TestForwardedHonouredOnlyFromTrustedProxies(t *testing.T) {
	h, s := forwardedServer(t, []string{"10.0.0.0/8"})
	cases := []struct {
		name       string
		peer       string
		xff, proto string
		tls        bool
		wantRemote string
		wantHTTPS  bool
	}{
		{"direct client, no headers", "203.0.113.9:4000", "", "", false, "203.0.113.9", false},
		{"direct client forging headers", "203.0.113.9:4000", "1.2.3.4", "https", false, "203.0.113.9", false},
		{"trusted TLS proxy", "10.0.0.5:4000", "198.51.100.7", "https", false, "198.51.100.7", true},
		{"trusted proxy, client forged a left-most hop", "10.0.0.5:4000", "6.6.6.6, 198.51.100.7", "https", false, "198.51.100.7", true},
		{"two trusted proxies", "10.0.0.5:4000", "198.51.100.7, 10.9.9.9", "http,https", false, "198.51.100.7", true},
		{"trusted proxy over plain HTTP", "10.0.0.5:4000", "198.51.100.7", "http", false, "198.51.100.7", false},
		{"trusted proxy, garbage hop", "10.0.0.5:4000", "not-an-ip", "", false, "10.0.0.5", false},
		{"direct TLS", "203.0.113.9:4000", "", "", true, "203.0.113.9", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/me", nil)
			r.RemoteAddr = c.peer
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if s.remote != c.wantRemote || s.https != c.wantHTTPS {
				t.Fatalf("handler saw remote %q https %v, want %q %v", s.remote, s.https, c.wantRemote, c.wantHTTPS)
			}
			cookie := w.Header().Get("Set-Cookie")
			hsts := w.Header().Get("Strict-Transport-Security")
			if c.wantHTTPS {
				if !strings.Contains(cookie, "; Secure") || !strings.HasPrefix(hsts, "max-age=") {
					t.Fatalf("over HTTPS: Set-Cookie %q (want Secure), HSTS %q (want max-age)", cookie, hsts)
				}
			} else if strings.Contains(cookie, "Secure") || hsts != "" {
				t.Fatalf("over HTTP: Set-Cookie %q must not be Secure and no HSTS (got %q)", cookie, hsts)
			}
		})
	}
}

func TestFailHidesGoErrorBehindRequestID(t *testing.T) {
	var logs bytes.Buffer
	api := &API{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.fail(w, r, errors.New("pq: relation \"users\" does not exist at /var/lib/secret"))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/alerts", nil))
	id := w.Header().Get("X-Request-Id")
	if w.Code != 500 || len(id) != 16 {
		t.Fatalf("status %d, X-Request-Id %q", w.Code, id)
	}
	body := w.Body.String()
	if strings.Contains(body, "relation") || strings.Contains(body, "/var/lib") {
		t.Fatalf("500 leaks the Go error: %s", body)
	}
	var out map[string]APIError
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if got := out["error"].Message; got != "internal error (request id "+id+")" {
		t.Fatalf("message %q", got)
	}
	if !strings.Contains(logs.String(), "request_id="+id) || !strings.Contains(logs.String(), "relation") {
		t.Fatalf("the log must carry the request id and the real error: %s", logs.String())
	}
	// A client cannot choose its id.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "forged\nline")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Header().Get("X-Request-Id") == "forged\nline" {
		t.Fatal("client-sent request id was used")
	}
}

func TestCAPContentType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/cap+xml": true, "application/xml; charset=utf-8": true, "text/xml": true, "Application/XML": true,
		"": false, "application/json": false, "text/plain": false, "multipart/form-data; boundary=x": false, "application/xml; =bad": false,
	} {
		if got := capContentType(ct); got != want {
			t.Errorf("capContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rl := NewRateLimiter(RateLimits{TokenRPS: 2, TokenBurst: 3, AddressRPS: 1, AddressBurst: 2})
	rl.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	if err := rl.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if got := testutil.ToFloat64(rl.refused.WithLabelValues("credential")); got != 1 {
			t.Errorf("credential refusals counted %v, want 1", got)
		}
		if got := testutil.ToFloat64(rl.refused.WithLabelValues("address")); got != 2 {
			t.Errorf("address refusals counted %v, want 2", got)
		}
	}()
	h := rl.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer wrong" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(200)
	}))
	do := func(path, addr, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = addr + ":1234"
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// Per token: the burst passes, the next is refused with Retry-After.
	for i := range 3 {
		if w := do("/api/v1/alerts", "192.0.2.1", "Bearer officer-a"); w.Code != 200 {
			t.Fatalf("request %d within burst: %d", i, w.Code)
		}
	}
	w := do("/api/v1/alerts", "192.0.2.1", "Bearer officer-a")
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("beyond the burst: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Another officer at the same address (a command centre behind NAT) is not affected.
	if w := do("/api/v1/alerts", "192.0.2.1", "Bearer officer-b"); w.Code != 200 {
		t.Fatalf("second token, same address: %d", w.Code)
	}
	// Tokens come back with time.
	now = now.Add(time.Second)
	if w := do("/api/v1/alerts", "192.0.2.1", "Bearer officer-a"); w.Code != 200 {
		t.Fatalf("after refill: %d", w.Code)
	}
	// Anonymous: per address, lower.
	for i := range 2 {
		if w := do("/api/v1/feed.atom", "192.0.2.2", ""); w.Code != 200 {
			t.Fatalf("anonymous %d: %d", i, w.Code)
		}
	}
	if w := do("/api/v1/feed.atom", "192.0.2.2", ""); w.Code != 429 {
		t.Fatalf("anonymous beyond burst: %d", w.Code)
	}
	if w := do("/api/v1/feed.atom", "192.0.2.3", ""); w.Code != 200 {
		t.Fatalf("another address: %d", w.Code)
	}
	// Resident pages, streams and device endpoints are not limited here.
	for _, p := range []string{"/r/653122", "/ws", "/sse", "/speaker/ws", "/sms/dlr", "/audio/x.ogg"} {
		for range 10 {
			if w := do(p, "192.0.2.2", ""); w.Code != 200 {
				t.Fatalf("%s limited: %d", p, w.Code)
			}
		}
	}
	// Guessing credentials spends the address's allowance; then even a
	// fresh credential from that address waits.
	for i := range 2 {
		if w := do("/api/v1/me", "192.0.2.4", "Bearer wrong"); w.Code != 401 {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	if w := do("/api/v1/me", "192.0.2.4", "Bearer another-guess"); w.Code != 429 {
		t.Fatalf("fresh credential after failed guesses: %d, want 429", w.Code)
	}
	if w := do("/api/v1/me", "192.0.2.5", "Bearer officer-c"); w.Code != 200 {
		t.Fatalf("other address unaffected: %d", w.Code)
	}
}

// TestRateLimiterFloodSparesKnownCredentials: an officer whose token
// already worked from an address is not locked out by someone flooding
// failed logins from it (an office NAT, or a proxy not listed in
// trusted_proxies); only fresh guesses wait.
func TestRateLimiterFloodSparesKnownCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rl := NewRateLimiter(RateLimits{TokenRPS: 2, TokenBurst: 3, AddressRPS: 1, AddressBurst: 2})
	rl.now = func() time.Time { return now }
	h := rl.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a == "Bearer wrong" || a == "Bearer another-guess" || r.URL.Path == "/api/v1/login" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(200)
	}))
	do := func(path, auth string) int {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = "192.0.2.6:1234"
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if c := do("/api/v1/me", "Bearer officer-d"); c != 200 {
		t.Fatalf("officer before the flood: %d", c)
	}
	refused := 0
	for range 5 {
		for _, c := range []int{do("/api/v1/me", "Bearer wrong"), do("/api/v1/login", "")} {
			if c == 429 {
				refused++
			}
		}
	}
	if refused == 0 {
		t.Fatal("the flood was never limited")
	}
	if c := do("/api/v1/me", "Bearer another-guess"); c != 429 {
		t.Fatalf("a fresh guess during the flood: %d, want 429", c)
	}
	if c := do("/api/v1/me", "Bearer officer-d"); c != 200 {
		t.Fatalf("the officer during the flood: %d, want 200", c)
	}
}

func TestRateLimiterForgetsIdleBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rl := NewRateLimiter(RateLimits{})
	rl.now = func() time.Time { return now }
	h := rl.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for i := range 50 {
		r := httptest.NewRequest("GET", "/api/v1/events", nil)
		r.RemoteAddr = "192.0.2." + string(rune('0'+i%10)) + string(rune('0'+i/10)) + ":1"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := len(rl.buckets); n != 50 {
		t.Fatalf("%d buckets, want 50", n)
	}
	now = now.Add(bucketIdle + 2*time.Minute)
	r := httptest.NewRequest("GET", "/api/v1/events", nil)
	r.RemoteAddr = "198.51.100.1:1"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if n := len(rl.buckets); n != 1 {
		t.Fatalf("%d buckets after idle sweep, want 1", n)
	}
}
