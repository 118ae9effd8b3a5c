package targeting

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"13812345678":         "+8613812345678",
		"138 1234 5678":       "+8613812345678",
		"138-1234-5678":       "+8613812345678",
		"+86 138 1234 5678":   "+8613812345678",
		"+86-13812345678":     "+8613812345678",
		"008613812345678":     "+8613812345678",
		"8613812345678":       "+8613812345678",
		"(+86) 199.9999.0000": "+8619999990000",
		"+14155550123":        "+14155550123",
		"0044 20 7946 0958":   "+442079460958",
		" 13812345678 ":       "+8613812345678",
	} {
		got, err := NormalizePhone(in)
		if err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12812345678", "1381234567", "138123456789", "+8612812345678", "+86 0991 1234567",
		"09912345678", "+0123456789", "+1234567", "+1234567890123456", "138l2345678", "++8613812345678", "13812345678+"} {
		if got, err := NormalizePhone(bad); err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want error", bad, got)
		}
	}
}

func readRes(t *testing.T, in []byte) ([]Resident, ImportReport, error) {
	t.Helper()
	var out []Resident
	rep, err := ReadResidents(bytes.NewReader(in), func(_ int, r Resident) error { out = append(out, r); return nil })
	return out, rep, err
}

func TestReadResidents(t *testing.T) {
	in := "# a comment\n" +
		"phone,village,groups,language,opt_out,lat,lon,name\n" +
		"13800000001,653122100001,herders;elderly,ug,,39.1,76.2,阿依古丽\n" +
		"13800000002,653122100001,牧民；学生,zh,是,,,王芳\n" +
		"+86 138 0000 0001,653122100002,,ug,false,,,dup\n" + // duplicate phone of line 3
		"1380000000,653122100001,,ug,false,,,short\n" +
		"13800000003,65312210000,aliens,fr,maybe,95,76,bad\n" +
		"13800000004,653122100001,,ug,false,39.1,,half\n" +
		"13800000005,653122100001,,ug\n"
	got, rep, err := readRes(t, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || rep.Accepted != 2 || rep.Lines != 7 || rep.Duplicates != 1 || rep.Rejected != 4 {
		t.Fatalf("got %d, report %+v", len(got), rep)
	}
	if rep.Accepted+rep.Rejected+rep.Duplicates != rep.Lines {
		t.Error("lines do not add up")
	}
	if r := got[0]; r.Phone != "+8613800000001" || r.Village != "653122100001" || strings.Join(r.Groups, ",") != "herders,elderly" ||
		r.Language != "ug" || r.OptOut || r.Point == nil || r.Point.Lat != 39.1 {
		t.Errorf("first = %+v", r)
	}
	if r := got[1]; strings.Join(r.Groups, ",") != "herders,students" || !r.OptOut || r.Language != "zh" || r.Point != nil {
		t.Errorf("second = %+v", r)
	}
	if d := rep.DuplicateLines[0]; d.Line != 5 || d.FirstLine != 3 || d.Key != "+8613800000001" {
		t.Errorf("duplicate = %+v", d)
	}
	wantErrs := map[string]bool{"6 phone": true, "7 village": true, "7 groups": true, "7 language": true, "7 opt_out": true, "7 lat": true, "8 lat": true, "9 line": true}
	for _, e := range rep.Errors {
		key := strings.Fields(e.Error())[1] // "line N: field: …"
		field := strings.TrimSuffix(strings.Fields(e.Error())[2], ":")
		delete(wantErrs, strings.TrimSuffix(key, ":")+" "+field)
	}
	if len(wantErrs) > 0 {
		t.Errorf("missing errors %v in %v", wantErrs, rep.Errors)
	}
	if rep.ErrorCount != len(rep.Errors) || rep.IgnoredColumns[0] != "name" {
		t.Errorf("report %+v", rep)
	}
}

func TestReadResidentsEncodings(t *testing.T) {
	utf := "手机号,村代码,人群,语言\n13800000001,653122100001,牧民,维语\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(utf))
	if err != nil {
		t.Fatal(err)
	}
	u16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(utf))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		in  []byte
		enc string
	}{
		"utf-8":     {[]byte(utf), "utf-8"},
		"utf-8-bom": {append([]byte{0xEF, 0xBB, 0xBF}, utf...), "utf-8-bom"},
		"gbk":       {gbk, "gb18030"},
		"utf-16":    {u16, "utf-16"},
	} {
		got, rep, err := readRes(t, tc.in)
		if err != nil || len(got) != 1 || rep.Encoding != tc.enc {
			t.Errorf("%s: %v %+v", name, err, rep)
			continue
		}
		if got[0].Groups[0] != "herders" || got[0].Language != "ug" {
			t.Errorf("%s: %+v", name, got[0])
		}
	}
	// GBK whose first Chinese character comes after a long ASCII start.
	var late bytes.Buffer
	late.WriteString("phone,village,groups,language\n")
	for i := range 20000 {
		fmt.Fprintf(&late, "139%08d,653122100001,herders,ug\n", i)
	}
	late.Write(gbk[bytes.IndexByte(gbk, '\n')+1:])
	got, rep, err := readRes(t, late.Bytes())
	if err != nil || len(got) != 20001 || rep.Encoding != "gb18030" || got[20000].Groups[0] != "herders" || got[20000].Language != "ug" {
		t.Errorf("late GBK: %v, %d residents, %+v", err, len(got), rep.Errors)
	}
	// Neither UTF-8 nor GB18030.
	_, _, err = readRes(t, []byte("phone,village,language\n\xff\xff\xff\x80\x80,1,zh\n"))
	var le *LineError
	if !errors.As(err, &le) || le.Field != "encoding" {
		t.Errorf("binary file: %v", err)
	}
}

func TestReadResidentsFileErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":           "",
		"missing column":  "phone,village\n13800000001,653122100001\n",
		"twice":           "phone,mobile,village,language\n",
		"lat without lon": "phone,village,language,lat\n",
	} {
		_, _, err := readRes(t, []byte(in))
		var le *LineError
		if !errors.As(err, &le) || le.Field != "header" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReadResidentsCallbackErrors(t *testing.T) {
	ix := NewIndex(DefaultTree())
	in := "id,phone,village,language\n1,13800000001,653122100001,zh\n2,13800000002,653122999999,zh\n2,13800000003,653122100001,zh\n"
	rep, err := ReadResidents(strings.NewReader(in), func(_ int, r Resident) error { return ix.PutResident(r) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 1 || rep.ErrorCount != 2 || rep.Errors[0].Line != 3 || rep.Errors[0].Field != "village" ||
		rep.Errors[1].Line != 4 || rep.Errors[1].Field != "id" {
		t.Errorf("report %+v", rep)
	}
	boom := errors.New("database down")
	_, err = ReadResidents(strings.NewReader(in), func(int, Resident) error { return boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v", err)
	}
}

func TestReadResidentsCapsErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("phone,village,language\n")
	for range MaxReportedErrors + 50 {
		b.WriteString("x,653122100001,zh\n")
	}
	_, rep, err := readRes(t, []byte(b.String()))
	if err != nil || len(rep.Errors) != MaxReportedErrors || rep.ErrorCount != MaxReportedErrors+50 {
		t.Errorf("err %v, %d listed, %d counted", err, len(rep.Errors), rep.ErrorCount)
	}
}

func TestReadSpeakers(t *testing.T) {
	in := "id,village,lat,lon,zone,capabilities\n" +
		"SPK-1,653122100001,39.2,76.1,market,PCM;opus\n" +
		"SPK-2,653122100002,,,,\n" +
		"SPK-1,653122100003,,,,\n" +
		"bad id,653122100001,,,,\n" +
		"SPK-3,653122100001,39.2,276.1,,\n"
	var got []Speaker
	rep, err := ReadSpeakers(strings.NewReader(in), func(_ int, s Speaker) error { got = append(got, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || rep.Duplicates != 1 || rep.ErrorCount != 2 || rep.Errors[0].Field != "id" || rep.Errors[1].Field != "lon" {
		t.Fatalf("got %+v, report %+v", got, rep)
	}
	if s := got[0]; s.Zone != "market" || strings.Join(s.Capabilities, ",") != "pcm,opus" || s.Point == nil {
		t.Errorf("speaker = %+v", s)
	}
}

// TestGeneratedPopulation: deterministic per seed, marked synthetic, all
// points inside the outline, and importable into the index.
func TestGeneratedPopulation(t *testing.T) {
	gen := func(seed int64) (string, string) {
		var r, s bytes.Buffer
		if err := GeneratePopulation(DefaultTree(), DefaultOutline(), 5000, 300, seed, &r, &s); err != nil {
			t.Fatal(err)
		}
		return r.String(), s.String()
	}
	r1, s1 := gen(1)
	r2, s2 := gen(1)
	r3, _ := gen(2)
	if r1 != r2 || s1 != s2 {
		t.Fatal("same seed, different output")
	}
	if r1 == r3 {
		t.Fatal("different seeds, same output")
	}
	if !strings.HasPrefix(r1, SyntheticMarker) || !strings.HasPrefix(s1, SyntheticMarker) {
		t.Fatal("not marked synthetic")
	}
	p := genPopulation(t, 5000, 300, 1)
	mask := newOutlineMask(DefaultOutline())
	villages := map[string]bool{}
	langs := map[string]int{}
	for _, r := range p.residents {
		villages[r.Village] = true
		langs[r.Language]++
		if r.Point != nil && !mask.contains(r.Point.orb()) {
			t.Fatalf("resident %d outside the county: %+v", r.ID, r.Point)
		}
	}
	if len(villages) < 240 || langs["ug"] < langs["zh"]*3 {
		t.Errorf("villages %d, languages %v", len(villages), langs)
	}
	spkVillages := map[string]bool{}
	for _, s := range p.speakers {
		spkVillages[s.Village] = true
	}
	if len(spkVillages) != 251 {
		t.Errorf("speakers cover %d villages, want all 251", len(spkVillages))
	}
	p.index(t)
}
