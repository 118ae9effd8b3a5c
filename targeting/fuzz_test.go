package targeting

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/warning"
)

func FuzzReadResidents(f *testing.F) {
	f.Add([]byte("id,phone,village,groups,language,opt_out,lat,lon\n1,13800000001,653122100001,herders;elderly,ug,false,39.1,76.2\n2,+86 138 0000 0002,653122100002,,zh,是,,\n"))
	f.Add([]byte("\xef\xbb\xbfphone,village,language\n13800000001,653122100001,zh\n13800000001,653122100001,zh\n"))
	f.Add([]byte("# SYNTHETIC\nphone,village,language,lat,lon\n\"138,1\",653122100001,zh,91,0\nx\n"))
	f.Add([]byte("\xca\xd6\xbb\xfa\xba\xc5,\xb4\xe5\xb4\xfa\xc2\xeb,\xd3\xef\xd1\xd4\n13800000001,653122100001,zh\n")) // GBK header
	f.Add([]byte("\xff\xfep\x00h\x00o\x00n\x00e\x00\n\x00"))
	f.Add([]byte("phone,village,language\n\"unterminated,1,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Resident
		rep, err := ReadResidents(bytes.NewReader(data), func(_ int, r Resident) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("file error is not a LineError: %v", err)
			}
			return
		}
		if rep.Accepted != len(got) || rep.Accepted+rep.Rejected+rep.Duplicates != rep.Lines {
			t.Fatalf("report does not add up: %+v (delivered %d)", rep, len(got))
		}
		if len(rep.Errors) > MaxReportedErrors || rep.ErrorCount < len(rep.Errors) || (rep.Rejected > 0) != (rep.ErrorCount > 0) {
			t.Fatalf("error accounting: %+v", rep)
		}
		phones := map[string]bool{}
		for _, r := range got {
			if n, err := NormalizePhone(r.Phone); err != nil || n != r.Phone {
				t.Fatalf("delivered phone %q not normalised (%v)", r.Phone, err)
			}
			if phones[r.Phone] {
				t.Fatalf("duplicate phone %s delivered", r.Phone)
			}
			phones[r.Phone] = true
			if lvl, err := levelOfCode(r.Village); err != nil || lvl != RegionVillage {
				t.Fatalf("delivered village %q", r.Village)
			}
			if r.Language != "zh" && r.Language != "ug" {
				t.Fatalf("language %q", r.Language)
			}
			if r.Point != nil && CheckPoint(*r.Point) != nil {
				t.Fatalf("point %+v", r.Point)
			}
			if _, err := groupMask(r.Groups, "groups"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzReadSpeakers(f *testing.F) {
	f.Add([]byte("id,village,lat,lon,zone,capabilities\nSPK-1,653122100001,39.2,76.1,market,pcm;opus\nSPK-1,653122100001,,,,\n"))
	f.Add([]byte("id,village\n,\n"))
	f.Add([]byte("id,village,lat\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix := NewIndex(DefaultTree())
		n := 0
		rep, err := ReadSpeakers(bytes.NewReader(data), func(_ int, s Speaker) error {
			n++
			return ix.PutSpeaker(s)
		})
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("file error is not a LineError: %v", err)
			}
			return
		}
		if rep.Accepted+rep.Rejected+rep.Duplicates != rep.Lines {
			t.Fatalf("report does not add up: %+v", rep)
		}
		if _, spk := ix.Len(); spk != rep.Accepted {
			t.Fatalf("%d speakers indexed, %d accepted", spk, rep.Accepted)
		}
	})
}

func FuzzParsePolygon(f *testing.F) {
	f.Add("39.1,76.0 39.1,76.2 39.3,76.2 39.3,76.0 39.1,76.0")
	f.Add("39.0,76.0 39.2,76.2 39.2,76.0 39.0,76.2 39.0,76.0")
	f.Add("1,1 1,1 1,1 1,1")
	f.Add("-90,-180 90,180 0,0 -90,-180")
	f.Add("1e400,0 0,0 0,1 1e400,0")
	f.Fuzz(func(t *testing.T, s string) {
		pts, err := ParsePolygon(s)
		if err != nil {
			var fe *warning.FieldError
			if !errors.As(err, &fe) || fe.Field != "polygon" {
				t.Fatalf("error is not a polygon FieldError: %v", err)
			}
			return
		}
		if err := CheckPolygon(pts); err != nil {
			t.Fatalf("parsed polygon fails its check: %v", err)
		}
		back, err := ParsePolygon(FormatPolygon(pts))
		if err != nil || len(back) != len(pts) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range pts {
			if back[i] != pts[i] {
				t.Fatalf("round trip changed point %d: %v → %v", i, pts[i], back[i])
			}
		}
		// A valid polygon resolves without error.
		ix := NewIndex(DefaultTree())
		if _, err := ix.Resolve(Aim{Polygons: [][]Point{pts}}); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseCircle(f *testing.F) {
	f.Add("39.2,76.1 12.5")
	f.Add("39.2,76.1 -1")
	f.Add("0,180 0")
	f.Add("90,0 20037.5")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCircle(s)
		if err != nil {
			var fe *warning.FieldError
			if !errors.As(err, &fe) || fe.Field != "circle" {
				t.Fatalf("error is not a circle FieldError: %v", err)
			}
			return
		}
		if c.RadiusKM < 0 || CheckCircle(c) != nil {
			t.Fatalf("bad circle accepted: %+v", c)
		}
		if back, err := ParseCircle(c.String()); err != nil || back != c {
			t.Fatalf("round trip %+v → %+v, %v", c, back, err)
		}
	})
}

func FuzzParseRegions(f *testing.F) {
	f.Add(string(shuleCSV[:2000]))
	f.Add("code,name,level,parent_code\n653122,疏勒县,county,653100\n653122100,疏勒镇,township,653122\n653122100001,a,village,653122100\n")
	f.Add("code,name,level,parent_code\n653122100001,a,village,653122100\n653122100,疏勒镇,township,653122\n")
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseRegions(strings.NewReader(s))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error does not name a line: %v", err)
			}
			return
		}
		for _, v := range tr.Villages() {
			if tr.TownshipOf(v.Code) == "" || len(tr.Ancestors(v.Code)) == 0 {
				t.Fatalf("village %s without its township", v.Code)
			}
		}
		for _, tw := range tr.Townships() {
			for _, c := range tr.Children(tw.Code) {
				if !tr.Contains(tw.Code, c.Code) || c.Level != RegionVillage {
					t.Fatalf("child %s of %s", c.Code, tw.Code)
				}
			}
		}
	})
}
