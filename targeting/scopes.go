package targeting

// Scopes serves a channel that matches its own subscribers against a
// warning's area (the WebSocket hub: a resident page follows a village, a
// dashboard a township) without handing it the tree: which codes exist,
// whether an area reaches a subscribed region, and the township → village
// lists a resident chooses from. It only reads the tree, which may grow
// (Merge) while it is in use.
type Scopes struct{ t *Tree }

// Scopes returns the tree's subscriber-scope view.
func (t *Tree) Scopes() Scopes { return Scopes{t} }

// Known reports whether code is a region of the tree.
func (s Scopes) Known(code string) bool {
	_, ok := s.t.Region(code)
	return ok
}

// Covers reports whether a warning aimed at area reaches a subscriber of
// region: one of the area's codes is the region itself, contains it (a
// village page sees its township's and its county's warnings) or lies inside
// it (a township dashboard sees every village warning within). An empty area
// is the whole jurisdiction and covers every known region; codes that are
// not in the tree cover nothing.
func (s Scopes) Covers(area []string, region string) bool {
	t := s.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	rs, ok := t.bySlot[region]
	if !ok {
		return false
	}
	if len(area) == 0 {
		return true
	}
	for _, a := range area {
		as, ok := t.bySlot[a]
		if !ok {
			continue
		}
		if t.aboveOrSelf(as, rs) || t.aboveOrSelf(rs, as) {
			return true
		}
	}
	return false
}

// aboveOrSelf reports whether slot up is slot s or one of its ancestors;
// t.mu held. The walk is bounded: a hand-made file could make a county the
// child of one of its own townships.
func (t *Tree) aboveOrSelf(up, s int32) bool {
	ok := true
	for range 8 {
		if !ok {
			return false
		}
		if s == up {
			return true
		}
		s, ok = t.bySlot[t.regions[s].Parent]
	}
	return false
}

// Townships returns the codes of every township in the tree, in file order.
func (s Scopes) Townships() []string { return codes(s.t.Townships()) }

// Villages returns the codes of a township's villages, in file order.
func (s Scopes) Villages(township string) []string { return codes(s.t.Children(township)) }

// Names returns a region's Chinese and Uyghur names ("" when unknown).
func (s Scopes) Names(code string) (zh, ug string) {
	r, _ := s.t.Region(code)
	return r.Name, r.NameUG
}

func codes(rs []Region) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}
