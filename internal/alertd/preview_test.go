package alertd

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// gen population → residents import → POST /audience/preview with the
// spine's example body gives the counts an independent count of the CSV
// gives (township prefix match, herders group, not opted out).
func TestPreviewMatchesIndependentCountOfCSV(t *testing.T) {
	s := startServer(t, nil)
	csvBytes := importPopulation(t, s.Base, 20000, 400)
	want, wantLang := 0, map[string]int{}
	r := csv.NewReader(bytes.NewReader(csvBytes))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		village := row[col["village"]]
		inArea := strings.HasPrefix(village, "653122100") || strings.HasPrefix(village, "653122201")
		herder := false
		for _, g := range strings.Split(row[col["groups"]], ";") {
			herder = herder || g == "herders"
		}
		if inArea && herder && row[col["opt_out"]] != "true" {
			want++
			wantLang[row[col["language"]]]++
		}
	}
	op := addUser(t, s.Base, "op", "operator")
	p := mustCall(t, s.Base, "POST", "/api/v1/audience/preview", op, exampleBody(t), 200)
	got := int(p["channels"].(map[string]any)["sms"].(float64))
	if got != want || want == 0 {
		t.Fatalf("preview sms %d, independent count %d", got, want)
	}
	for lang, n := range wantLang {
		if int(p["languages"].(map[string]any)[lang].(float64)) != n {
			t.Errorf("language %s: preview %v, count %d", lang, p["languages"], n)
		}
	}
	if p["needs_approval"] != true {
		t.Error("orange preview must say it needs approval")
	}
	t.Logf("preview: %v", p["channels"])
}
