package websocket

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimits caps concurrent connections and the rate of new public
// connections per client address.
type ipLimits struct {
	max   int
	rate  rate.Limit
	burst int

	mu    sync.Mutex
	conns map[string]int
	rates map[string]*ipRate
}

type ipRate struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimits(max int, r rate.Limit, burst int) *ipLimits {
	return &ipLimits{max: max, rate: r, burst: burst, conns: map[string]int{}, rates: map[string]*ipRate{}}
}

// allowNew reports whether a new public connection from ip is within rate.
func (l *ipLimits) allowNew(ip string, now time.Time) bool {
	if l.rate < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.rates[ip]
	if !ok {
		r = &ipRate{lim: rate.NewLimiter(l.rate, l.burst)}
		l.rates[ip] = r
	}
	r.seen = now
	return r.lim.AllowN(now, 1)
}

// acquire takes a connection slot for ip.
func (l *ipLimits) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.conns[ip] >= l.max {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *ipLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.conns[ip]; n <= 1 {
		delete(l.conns, ip)
	} else {
		l.conns[ip] = n - 1
	}
}

// sweep forgets rate limiters idle for a minute (they are full again).
func (l *ipLimits) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, r := range l.rates {
		if now.Sub(r.seen) > time.Minute {
			delete(l.rates, ip)
		}
	}
}
