package targeting

// MajorityLanguage is the language ("zh" or "ug") most residents of a
// village registered with, and how many residents the village has; "" when
// the code is not a village or nobody there is registered. Ties go to the
// earlier entry of Languages. The resident page opens in it when the
// browser does not say which of our languages it prefers.
func (ix *Index) MajorityLanguage(village string) (lang string, residents int) {
	n, ok := ix.tree.villageNum(village)
	if !ok {
		return "", 0
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if int(n) >= len(ix.village) || ix.village[n] == nil {
		return "", 0
	}
	in := ix.village[n]
	best := uint64(0)
	for i, l := range Languages {
		if c := in.AndCardinality(ix.lang[i+1]); c > best {
			lang, best = l, c
		}
	}
	return lang, int(in.GetCardinality())
}
