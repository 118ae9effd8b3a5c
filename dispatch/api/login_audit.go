package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// failureAudit keeps wrong logins from flooding the audit log: the first
// failure of a user name from an address in a window is written as
// "login.fail"; the rest of that window become one "login.fail.summary"
// row with their count, written when the window has passed. Each node
// summarises the failures it saw.
type failureAudit struct {
	window time.Duration
	mu     sync.Mutex
	wins   map[failKey]*failWindow
	swept  time.Time
}

type failKey struct{ user, addr string }

type failWindow struct {
	start, last time.Time
	more        int // failures after the first, not yet written
}

// failureAuditMax bounds the windows held; beyond it, failures of new
// keys are counted under one key with user "*" for their address.
const failureAuditMax = 10_000

func newFailureAudit(window time.Duration) *failureAudit {
	return &failureAudit{window: window, wins: map[failKey]*failWindow{}}
}

// failed records a failure at now: whether to write it as its own row,
// and the summaries of windows that have ended.
func (f *failureAudit) failed(user, addr string, now time.Time) (first bool, done []dispatch.AuditEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := failKey{user, addr}
	w := f.wins[k]
	if w != nil && now.Sub(w.start) >= f.window {
		done = append(done, f.summary(k, w))
		delete(f.wins, k)
		w = nil
	}
	if w == nil && len(f.wins) >= failureAuditMax {
		done = append(done, f.sweepLocked(now)...)
		if len(f.wins) >= failureAuditMax {
			k = failKey{"*", addr}
			w = f.wins[k]
		}
	}
	if w == nil {
		f.wins[k] = &failWindow{start: now, last: now}
		return true, done
	}
	w.more++
	w.last = now
	return false, done
}

// sweep returns the summaries of every window ended by now.
func (f *failureAudit) sweep(now time.Time) []dispatch.AuditEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sweepLocked(now)
}

func (f *failureAudit) sweepLocked(now time.Time) []dispatch.AuditEntry {
	var out []dispatch.AuditEntry
	for k, w := range f.wins {
		if now.Sub(w.start) >= f.window {
			if w.more > 0 {
				out = append(out, f.summary(k, w))
			}
			delete(f.wins, k)
		}
	}
	f.swept = now
	return out
}

func (f *failureAudit) summary(k failKey, w *failWindow) dispatch.AuditEntry {
	return dispatch.AuditEntry{Actor: k.user, Remote: k.addr, Action: "login.fail.summary",
		Detail: fmt.Sprintf(`{"failures":%d,"from":%q,"to":%q,"note":"failures after the first, which has its own login.fail row"}`,
			w.more, w.start.UTC().Format(time.RFC3339Nano), w.last.UTC().Format(time.RFC3339Nano))}
}

// dueSweep reports whether a sweep is due (at most one per second).
func (f *failureAudit) dueSweep(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.wins) > 0 && now.Sub(f.swept) >= time.Second
}

// FlushLoginAudit writes the summaries of failure windows that have ended
// (alertd calls it on a ticker and at shutdown; with final, every window
// is summarised now).
func (api *API) FlushLoginAudit(ctx context.Context, final bool) error {
	st := api.loginState()
	now := time.Now()
	if final {
		now = now.Add(st.lim.AuditWindow)
	}
	return api.writeAudit(ctx, st.failAudit.sweep(now))
}

func (api *API) writeAudit(ctx context.Context, es []dispatch.AuditEntry) error {
	var first error
	for _, e := range es {
		if err := api.Store.Audit(ctx, e); err != nil && first == nil {
			first = err
		}
	}
	return first
}
