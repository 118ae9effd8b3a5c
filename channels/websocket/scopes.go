package websocket

import (
	"slices"
	"strings"
)

// scope is every subscriber that follows the same regions. The fan-out asks
// Coverage once per scope and event, not once per subscriber: a county's
// thousands of resident pages follow a few hundred villages.
type scope struct {
	key     string
	regions []string
	subs    []*subscriber
}

// scopeIndex groups the hub's subscribers by scope; guarded by h.mu.
type scopeIndex map[string]*scope

// add puts s (with its current subscription) in its scope.
func (x scopeIndex) add(s *subscriber) {
	key := scopeKey(s.sub.regions)
	sc := x[key]
	if sc == nil {
		sc = &scope{key: key, regions: s.sub.regions}
		x[key] = sc
	}
	s.scope, s.scopeAt = sc, len(sc.subs)
	sc.subs = append(sc.subs, s)
}

// remove takes s out of its scope, if it is in one.
func (x scopeIndex) remove(s *subscriber) {
	sc := s.scope
	if sc == nil {
		return
	}
	last := len(sc.subs) - 1
	moved := sc.subs[last]
	sc.subs[s.scopeAt] = moved
	moved.scopeAt = s.scopeAt
	sc.subs[last] = nil
	sc.subs = sc.subs[:last]
	if len(sc.subs) == 0 {
		delete(x, sc.key)
	}
	s.scope, s.scopeAt = nil, 0
}

// matching calls fn for every subscriber e is for (subscription.matches),
// deciding the area once per scope.
func (x scopeIndex) matching(e *event, cov Coverage, fn func(*subscriber)) {
	for _, sc := range x {
		if len(sc.regions) > 0 && !regionsCovered(sc.regions, e, cov) {
			continue
		}
		for _, s := range sc.subs {
			if s.sub.wants(e) {
				fn(s)
			}
		}
	}
}

// scopeKey names a set of regions independent of their order.
func scopeKey(regions []string) string {
	if len(regions) <= 1 {
		return strings.Join(regions, ",")
	}
	r := slices.Clone(regions)
	slices.Sort(r)
	return strings.Join(r, ",")
}
