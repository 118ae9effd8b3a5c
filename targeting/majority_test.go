package targeting

import (
	"fmt"
	"testing"
)

func TestMajorityLanguage(t *testing.T) {
	tree := DefaultTree()
	ix := NewIndex(tree)
	var villages []string
	for _, tw := range tree.Townships() {
		for _, v := range tree.Children(tw.Code) {
			villages = append(villages, v.Code)
		}
	}
	if len(villages) < 3 {
		t.Fatalf("tree has %d villages", len(villages))
	}
	put := func(id uint32, village, lang string) {
		t.Helper()
		if err := ix.PutResident(Resident{ID: id, Phone: fmt.Sprintf("+8613%09d", id), Village: village, Language: lang}); err != nil {
			t.Fatal(err)
		}
	}
	// village 0: 2 ug, 1 zh; village 1: 1 zh; village 2: nobody.
	put(1, villages[0], "ug")
	put(2, villages[0], "zh")
	put(3, villages[0], "ug")
	put(4, villages[1], "zh")
	for _, tc := range []struct {
		code string
		lang string
		n    int
	}{{villages[0], "ug", 3}, {villages[1], "zh", 1}, {villages[2], "", 0}, {"999999999999", "", 0}, {villages[0][:9], "", 0}} {
		if l, n := ix.MajorityLanguage(tc.code); l != tc.lang || n != tc.n {
			t.Errorf("MajorityLanguage(%s) = %q, %d; want %q, %d", tc.code, l, n, tc.lang, tc.n)
		}
	}
	// Moving a resident moves the majority.
	put(1, villages[1], "ug")
	put(3, villages[1], "ug")
	if l, _ := ix.MajorityLanguage(villages[0]); l != "zh" {
		t.Errorf("after moving: %q", l)
	}
}
