package api

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// LoginLimits bound password guessing and what it may cost the server.
// A zero field means its documented default.
type LoginLimits struct {
	// UserFailures wrong logins of one user name are allowed before it is
	// locked out; default 5.
	UserFailures int `yaml:"user_failures"`
	// UserWindow: a user name's failures are forgotten this long after its
	// last one; default 15m. It also caps the lockout.
	UserWindow time.Duration `yaml:"user_window"`
	// UserBackoff is the first lockout, doubled by each further failure
	// up to UserWindow; default 1m.
	UserBackoff time.Duration `yaml:"user_backoff"`
	// AddrFailures wrong logins from one client address per AddrWindow;
	// default 20.
	AddrFailures int `yaml:"address_failures"`
	// AddrWindow; default 1m.
	AddrWindow time.Duration `yaml:"address_window"`
	// HashSlots password hashes (Argon2id, 19 MiB each) run at once;
	// default half the CPUs, at least 1 and at most 4: the rest of the
	// machine stays for officers and dispatch, and hashes never hold more
	// than 76 MiB.
	HashSlots int `yaml:"hash_slots"`
	// HashQueue requests may wait for a slot; more are answered 503 at
	// once; default 4 × HashSlots.
	HashQueue int `yaml:"hash_queue"`
	// HashWait is the longest a request waits for a slot; default 2s.
	HashWait time.Duration `yaml:"hash_wait"`
	// AuditWindow: after a user name's first failure from an address is
	// audited, further ones in the window are one "login.fail.summary"
	// row; default 1m.
	AuditWindow time.Duration `yaml:"audit_window"`
}

// WithDefaults fills zero fields with the documented defaults.
func (l LoginLimits) WithDefaults() LoginLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.UserFailures, 5)
	defD(&l.UserWindow, 15*time.Minute)
	defD(&l.UserBackoff, time.Minute)
	def(&l.AddrFailures, 20)
	defD(&l.AddrWindow, time.Minute)
	def(&l.HashSlots, min(max(1, runtime.GOMAXPROCS(0)/2), 4))
	def(&l.HashQueue, 4*l.HashSlots)
	defD(&l.HashWait, 2*time.Second)
	defD(&l.AuditWindow, time.Minute)
	return l
}

// Validate names the first setting that is out of range (after defaults).
func (l LoginLimits) Validate() error {
	switch {
	case l.UserFailures < 0:
		return fmt.Errorf("user_failures: must be ≥ 1, got %d", l.UserFailures)
	case l.AddrFailures < 0:
		return fmt.Errorf("address_failures: must be ≥ 1, got %d", l.AddrFailures)
	case l.UserWindow < 0 || l.UserBackoff < 0 || l.AddrWindow < 0 || l.HashWait < 0 || l.AuditWindow < 0:
		return fmt.Errorf("user_window, user_backoff, address_window, hash_wait, audit_window: must not be negative")
	case l.HashSlots < 0 || l.HashQueue < 0:
		return fmt.Errorf("hash_slots, hash_queue: must not be negative")
	}
	return nil
}

// userLockout is how long a user name with n failures, the last at last,
// must wait at now.
func (l LoginLimits) userLockout(n int, last, now time.Time) time.Duration {
	if n < l.UserFailures {
		return 0
	}
	d := l.UserWindow
	if shift := n - l.UserFailures; shift < 30 {
		if b := l.UserBackoff << shift; b < d {
			d = b
		}
	}
	if w := last.Add(d).Sub(now); w > 0 {
		return w
	}
	return 0
}

// LoginThrottle counts failed logins per user name and per client
// address. Memory (one node) and Redis (every node) implement it.
type LoginThrottle interface {
	// Blocked reports how long user or addr must wait before trying again,
	// and which of them is blocked ("user" or "address"); 0 when neither.
	Blocked(ctx context.Context, user, addr string) (time.Duration, string, error)
	// Failed counts a failed login (user may be "": token logins).
	Failed(ctx context.Context, user, addr string) error
	// Succeeded forgets user's failures.
	Succeeded(ctx context.Context, user string) error
}

// MemoryThrottle is a LoginThrottle for one node.
type MemoryThrottle struct {
	lim   LoginLimits
	now   func() time.Time
	mu    sync.Mutex
	users map[string]*failCount
	addrs map[string]*failCount
	swept time.Time
}

type failCount struct {
	n     int
	first time.Time // the address window's start
	last  time.Time
}

// memoryThrottleMax bounds each map: an attacker cycling through made-up
// names or addresses cannot grow it without limit. Beyond it, expired
// entries are swept; if still full, new names are not tracked (the
// address limit still holds).
const memoryThrottleMax = 100_000

// NewMemoryThrottle returns a throttle with lim (defaults filled in).
func NewMemoryThrottle(lim LoginLimits) *MemoryThrottle {
	return &MemoryThrottle{lim: lim.WithDefaults(), now: time.Now, users: map[string]*failCount{}, addrs: map[string]*failCount{}}
}

var _ LoginThrottle = (*MemoryThrottle)(nil)

func (m *MemoryThrottle) expire(now time.Time) {
	for k, c := range m.users {
		if now.Sub(c.last) > m.lim.UserWindow {
			delete(m.users, k)
		}
	}
	for k, c := range m.addrs {
		if now.Sub(c.first) >= m.lim.AddrWindow {
			delete(m.addrs, k)
		}
	}
	m.swept = now
}

// Blocked implements LoginThrottle.
func (m *MemoryThrottle) Blocked(_ context.Context, user, addr string) (time.Duration, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if c := m.addrs[addr]; c != nil && now.Sub(c.first) < m.lim.AddrWindow && c.n >= m.lim.AddrFailures {
		return c.first.Add(m.lim.AddrWindow).Sub(now), "address", nil
	}
	if c := m.users[user]; user != "" && c != nil && now.Sub(c.last) <= m.lim.UserWindow {
		if w := m.lim.userLockout(c.n, c.last, now); w > 0 {
			return w, "user", nil
		}
	}
	return 0, "", nil
}

// Failed implements LoginThrottle.
func (m *MemoryThrottle) Failed(_ context.Context, user, addr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if (len(m.users) >= memoryThrottleMax || len(m.addrs) >= memoryThrottleMax) && now.Sub(m.swept) > time.Second {
		m.expire(now)
	}
	if c := m.addrs[addr]; c != nil && now.Sub(c.first) < m.lim.AddrWindow {
		c.n++
		c.last = now
	} else if len(m.addrs) < memoryThrottleMax {
		m.addrs[addr] = &failCount{n: 1, first: now, last: now}
	}
	if user == "" {
		return nil
	}
	if c := m.users[user]; c != nil && now.Sub(c.last) <= m.lim.UserWindow {
		c.n++
		c.last = now
	} else if len(m.users) < memoryThrottleMax {
		m.users[user] = &failCount{n: 1, first: now, last: now}
	}
	return nil
}

// Succeeded implements LoginThrottle.
func (m *MemoryThrottle) Succeeded(_ context.Context, user string) error {
	m.mu.Lock()
	delete(m.users, user)
	m.mu.Unlock()
	return nil
}

// hashGate bounds concurrent password hashes: each Argon2id hash holds
// 19 MiB, so sixty at once cost a gigabyte. A request waits for a slot
// while few others do, and is refused at once beyond that.
type hashGate struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
	// Each hash leaves 19 MiB of garbage. Left to the pacer (GOGC=200 in
	// alertd) a flood of wrong passwords grows the heap to three times
	// what is live before a collection; a collection every few hashes
	// keeps it near what is live, and costs little: the hash memory holds
	// no pointers, so there is almost nothing to mark.
	sinceGC   atomic.Int64
	gcRunning atomic.Bool
}

// hashesPerGC is how many hashes' garbage may pile up before a collection.
const hashesPerGC = 2

func newHashGate(lim LoginLimits) *hashGate {
	return &hashGate{slots: make(chan struct{}, lim.HashSlots), queue: int64(lim.HashQueue), wait: lim.HashWait}
}

// acquire takes a slot; ok is false when the queue is full, the wait
// too long or ctx ends. release must be called when ok.
func (g *hashGate) acquire(ctx context.Context) (release func(), ok bool) {
	release = func() {
		<-g.slots
		if g.sinceGC.Add(1) >= hashesPerGC && g.gcRunning.CompareAndSwap(false, true) {
			g.sinceGC.Store(0)
			go func() {
				defer g.gcRunning.Store(false)
				runtime.GC()
			}()
		}
	}
	select {
	case g.slots <- struct{}{}:
		return release, true
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return nil, false
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, true
	case <-t.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}
