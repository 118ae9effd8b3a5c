package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// RateLimits configures the API rate limiter. The zero value of a field
// means its documented default; a negative rate disables that limit.
type RateLimits struct {
	// TokenRPS and TokenBurst limit each credential (bearer token or
	// session cookie): generous, an officer's console polls and a script
	// imports. Default 20 rps, burst 100.
	TokenRPS   float64 `yaml:"token_rps"`
	TokenBurst int     `yaml:"token_burst"`
	// AddressRPS and AddressBurst limit anonymous requests (login, the
	// public feed, CAP export) and failed authentications per client
	// address. Default 5 rps, burst 30.
	AddressRPS   float64 `yaml:"address_rps"`
	AddressBurst int     `yaml:"address_burst"`
}

func (l RateLimits) withDefaults() RateLimits {
	if l.TokenRPS == 0 {
		l.TokenRPS = 20
	}
	if l.TokenBurst == 0 {
		l.TokenBurst = 100
	}
	if l.AddressRPS == 0 {
		l.AddressRPS = 5
	}
	if l.AddressBurst == 0 {
		l.AddressBurst = 30
	}
	return l
}

// Validate names the setting at fault.
func (l RateLimits) Validate() error {
	if l.TokenBurst < 0 || l.AddressBurst < 0 {
		return fmt.Errorf("rate_limits: bursts must be ≥ 0 (0 = default), got token_burst %d, address_burst %d", l.TokenBurst, l.AddressBurst)
	}
	if math.IsNaN(l.TokenRPS) || math.IsNaN(l.AddressRPS) {
		return fmt.Errorf("rate_limits: rates must be numbers")
	}
	return nil
}

// RateLimiter limits /api/ requests per credential and per client address
// and answers 429 with Retry-After beyond. It deliberately does not touch
// the resident page (/r/), the WebSocket and SSE streams, loudspeaker and
// SMS gateway endpoints or audio: a county-wide red warning sends thousands
// of residents behind a few carrier NAT addresses to the page at once, and a
// gateway reports thousands of receipts a second from one address. Those
// endpoints have their own admission limits (connection caps per address,
// device credentials).
type RateLimiter struct {
	lim     RateLimits
	mu      sync.Mutex
	buckets map[string]*bucket
	last    time.Time
	now     func() time.Time
	refused *prometheus.CounterVec
}

// RegisterMetrics registers alertcast_http_rate_limited_total{scope} on reg.
func (rl *RateLimiter) RegisterMetrics(reg prometheus.Registerer) error {
	rl.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_http_rate_limited_total",
		Help: "API requests answered 429, by the limit that refused them (credential, address)."}, []string{"scope"})
	return reg.Register(rl.refused)
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
	// good: this credential has authenticated here before; the address
	// check for guessing does not apply to it.
	good bool
}

// NewRateLimiter builds a limiter; zero fields take their defaults.
func NewRateLimiter(l RateLimits) *RateLimiter {
	return &RateLimiter{lim: l.withDefaults(), buckets: map[string]*bucket{}, now: time.Now}
}

// idle is how long an unused bucket is kept: longer than a full refill,
// so forgetting it never gives anyone more than a fresh bucket.
const bucketIdle = 10 * time.Minute

func (rl *RateLimiter) get(key string, rps float64, burst int, now time.Time) *rate.Limiter {
	return rl.bucket(key, rps, burst, now).l
}

func (rl *RateLimiter) isGood(b *bucket) bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return b.good
}

func (rl *RateLimiter) setGood(b *bucket, good bool) {
	rl.mu.Lock()
	b.good = good
	rl.mu.Unlock()
}

func (rl *RateLimiter) bucket(key string, rps float64, burst int, now time.Time) *bucket {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if now.Sub(rl.last) > time.Minute {
		rl.last = now
		for k, b := range rl.buckets {
			if now.Sub(b.seen) > bucketIdle {
				delete(rl.buckets, k)
			}
		}
	}
	b := rl.buckets[key]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(rate.Limit(rps), burst)}
		rl.buckets[key] = b
	}
	b.seen = now
	return b
}

// credential returns a key for the request's credential, "" for none. The
// credential is hashed: buckets must not keep secrets in memory longer than
// needed, and must not show up in a heap dump.
func credential(r *http.Request) string {
	v := ""
	if h := r.Header.Get("Authorization"); h != "" {
		v = h
	} else if c, err := r.Cookie(sessionCookie); err == nil {
		v = "cookie:" + c.Value
	}
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return "c:" + hex.EncodeToString(sum[:12])
}

// Limited reports whether path is subject to API rate limits.
func Limited(path string) bool { return strings.HasPrefix(path, "/api/") }

// Wrap applies the limits to next.
func (rl *RateLimiter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Limited(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		now := rl.now()
		addrKey := "a:" + RemoteAddr(r)
		cred := credential(r)
		addr := rl.get(addrKey, rl.lim.AddressRPS, rl.lim.AddressBurst, now)
		if cred == "" {
			if rl.lim.AddressRPS > 0 && !addr.AllowN(now, 1) {
				rl.refuse(w, addr, now, "address", "too many requests from your address")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		// An address that spent its anonymous allowance on failed logins
		// or unknown tokens may not keep guessing with fresh credentials.
		// A credential that has already authenticated is not a guess: an
		// attacker flooding from the officers' address (an office NAT, a
		// proxy not listed in trusted_proxies) must not lock them out.
		tb := rl.bucket(cred, rl.lim.TokenRPS, rl.lim.TokenBurst, now)
		if rl.lim.AddressRPS > 0 && !rl.isGood(tb) && addr.TokensAt(now) < 1 {
			rl.refuse(w, addr, now, "address", "too many failed requests from your address")
			return
		}
		if rl.lim.TokenRPS > 0 && !tb.l.AllowN(now, 1) {
			rl.refuse(w, tb.l, now, "credential", "too many requests for this credential")
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		switch {
		case sw.status == http.StatusUnauthorized:
			addr.AllowN(now, 1)
			rl.setGood(tb, false)
		case sw.status != 0 && sw.status < 500:
			rl.setGood(tb, true)
		}
	})
}

func (rl *RateLimiter) refuse(w http.ResponseWriter, l *rate.Limiter, now time.Time, scope, msg string) {
	if rl.refused != nil {
		rl.refused.WithLabelValues(scope).Inc()
	}
	// Seconds until one token is back, rounded up, at least 1.
	wait := 1
	if r := float64(l.Limit()); r > 0 {
		need := 1 - l.TokensAt(now)
		wait = max(1, int(math.Ceil(need/r)))
	}
	w.Header().Set("Retry-After", strconv.Itoa(wait))
	writeError(w, http.StatusTooManyRequests, "rate_limited", msg+"; retry after "+strconv.Itoa(wait)+" s")
}

// statusWriter records the status code a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
