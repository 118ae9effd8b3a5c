package cap

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
)

func f64(f float64) *float64 { return &f }

// fullAlert uses every element of CAP 1.2 at least once.
func fullAlert() *Alert {
	cst := time.FixedZone("", 8*3600)
	sent := time.Date(2026, 3, 2, 8, 0, 0, 0, cst)
	info := func(lang, event, headline string) Info {
		return Info{
			Language:      lang,
			Categories:    []Category{CategoryMet, CategorySafety},
			Event:         event,
			ResponseTypes: []ResponseType{ResponseShelter, ResponseAvoid},
			Urgency:       UrgencyImmediate,
			Severity:      SeveritySevere,
			Certainty:     CertaintyLikely,
			Audience:      "牧民 herders & <schools>",
			EventCodes:    []NamedValue{{"ALERTCAST", "sandstorm"}, {"GB/T 27962", "11B07"}},
			Effective:     sent,
			Onset:         sent.Add(time.Hour),
			Expires:       sent.Add(12 * time.Hour),
			SenderName:    "疏勒县应急管理局",
			Headline:      headline,
			Description:   "第一行\n第二行\twith tab & ampersand\r\nCRLF",
			Instruction:   "关好门窗。",
			Web:           "https://alert.example.cn/a/1?x=1&y=2",
			Contact:       "0998-1234567",
			Parameters:    []NamedValue{{"level", "orange"}, {"empty", ""}},
			Resources: []Resource{
				{Desc: "音频", MimeType: "audio/ogg", Size: 123456, URI: "https://alert.example.cn/a/1/audio.ogg", Digest: "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
				{Desc: "inline", MimeType: "text/plain", DerefURI: "aGVsbG8="},
			},
			Areas: []Area{{
				Desc:     "疏勒县 罕南力克镇",
				Polygons: []Polygon{{{39.4, 76}, {39.4, 76.3}, {39.2, 76.3}, {39.2, 76}, {39.4, 76}}},
				Circles:  []Circle{{Center: Point{39.3, 76.1}, RadiusKm: 12.5}},
				Geocodes: []NamedValue{{"ADCODE", "653122"}, {"ADCODE", "653122100"}},
				Altitude: f64(3900),
				Ceiling:  f64(12000.5),
			}},
		}
	}
	return &Alert{
		Identifier:  "CN-653122-20260302-0001",
		Sender:      "alertcast@shule.example.cn",
		Sent:        sent,
		Status:      StatusExercise,
		MsgType:     MsgUpdate,
		Source:      "duty officer 张三",
		Scope:       ScopeRestricted,
		Restriction: "county officials only",
		Addresses:   "a@b \"c d\"",
		Codes:       []string{"IPAWSv1.0", "profile:CN-EWIS:1.0"},
		Note:        "drill <one>",
		References: []Reference{
			{"alertcast@shule.example.cn", "CN-653122-20260302-0000", sent.Add(-time.Hour)},
			{"qxj@kashi.example.cn", "KS-1", time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)},
		},
		Incidents: "INC-1 INC-2",
		Infos: []Info{
			info("zh-CN", "沙尘暴", "沙尘暴橙色预警"),
			info("ug-CN", "قۇم-بوران", "قۇم-بوران ئاگاھلاندۇرۇشى"),
		},
	}
}

// TestExportValidatesAgainstXSD: every document we write — each imported
// sample re-exported and an alert using every CAP element — validates
// against the official CAP 1.2 schema with libxml2's xmllint.
func TestExportValidatesAgainstXSD(t *testing.T) {
	xmllint := testsvc.Need(t, "xmllint")
	dir := t.TempDir()
	var files []string
	write := func(name string, a *Alert) {
		out, err := a.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	write("full.xml", fullAlert())
	for _, c := range samples {
		if c.wantErr != nil {
			continue
		}
		a, err := Parse(bytes.NewReader(readSample(t, c.file)))
		if err != nil {
			t.Fatal(err)
		}
		write(c.file, a)
	}
	args := append([]string{"--noout", "--nonet", "--schema", filepath.Join("testdata", "schema", "CAP-v1.2.xsd")}, files...)
	out, err := exec.Command(xmllint, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), " validates"); n != len(files) {
		t.Fatalf("xmllint validated %d of %d files:\n%s", n, len(files), out)
	}
}

// TestSchemaCheckIsReal guards the test above: xmllint must reject a
// document that breaks the schema (so a silently skipped schema would show).
func TestSchemaCheckIsReal(t *testing.T) {
	xmllint := testsvc.Need(t, "xmllint")
	out, _ := fullAlert().Marshal()
	bad := bytes.Replace(out, []byte("<status>Exercise</status>"), []byte("<status>Drill</status>"), 1)
	p := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(p, bad, 0o600)
	if err := exec.Command(xmllint, "--noout", "--nonet", "--schema", "testdata/schema/CAP-v1.2.xsd", p).Run(); err == nil {
		t.Fatal("xmllint accepted a document with status Drill")
	}
}

func TestFullAlertRoundTrip(t *testing.T) {
	a := fullAlert()
	out, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBytes(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	a.Version = "1.2"
	// CR is escaped on output and so survives; the rest must be identical.
	eq(t, "alert", b, a)
	if !bytes.Contains(out, []byte("<sent>2026-03-02T08:00:00+08:00</sent>")) ||
		!bytes.Contains(out, []byte(",2026-03-01T23:00:00-00:00")) {
		t.Errorf("dates not in CAP form:\n%s", out)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	a := fullAlert()
	a.Infos[1].Areas[0].Polygons[0] = a.Infos[1].Areas[0].Polygons[0][:4]
	a.Infos[0].Severity = ""
	_, err := a.Marshal()
	for _, want := range []string{"alert/info[1]/area[0]/polygon[0]: invalid value: not closed", "alert/info[0]/severity: required element missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Marshal error %v does not contain %q", err, want)
		}
	}
}

func TestAtomFeed(t *testing.T) {
	a := fullAlert()
	c, err := ParseBytes([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	f := &Feed{
		ID:     "https://alert.example.cn/api/v1/alerts.atom",
		Title:  "疏勒县 预警 & warnings",
		Self:   "https://alert.example.cn/api/v1/alerts.atom?x=1&y=\"2\"",
		Author: "疏勒县应急管理局",
		Entries: []FeedEntry{
			{Alert: a, URL: "https://alert.example.cn/api/v1/alerts/1/cap", Language: "ug-CN"},
			{Alert: c, URL: "https://alert.example.cn/api/v1/alerts/2/cap"},
		},
	}
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		ID      string   `xml:"id"`
		Title   string   `xml:"title"`
		Updated string   `xml:"updated"`
		Author  string   `xml:"author>name"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Entries []struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Updated string `xml:"updated"`
			Link    struct {
				Rel  string `xml:"rel,attr"`
				Type string `xml:"type,attr"`
				Href string `xml:"href,attr"`
			} `xml:"link"`
			Severity string `xml:"urn:oasis:names:tc:emergency:cap:1.2 severity"`
			Expires  string `xml:"urn:oasis:names:tc:emergency:cap:1.2 expires"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(out, &feed); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	eq(t, "title", feed.Title, f.Title)
	eq(t, "self", feed.Links[0].Href, f.Self)
	eq(t, "entries", len(feed.Entries), 2)
	eq(t, "entry title in chosen language, marked as the exercise it is", feed.Entries[0].Title, "«مەشىق» قۇم-بوران ئاگاھلاندۇرۇشى")
	eq(t, "entry title default", feed.Entries[1].Title, "喀什地区气象台发布沙尘暴橙色预警")
	eq(t, "entry link", feed.Entries[0].Link.Type, MIMEType)
	eq(t, "entry id", feed.Entries[0].ID, f.Entries[0].URL)
	eq(t, "cap:severity", feed.Entries[0].Severity, "Severe")
	eq(t, "cap:expires", feed.Entries[1].Expires, "2026-03-02T20:00:00+08:00")
	eq(t, "feed updated = latest entry", feed.Updated, "2026-03-02T00:00:00Z")
	for _, e := range feed.Entries {
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil {
			t.Errorf("entry updated %q: %v", e.Updated, err)
		}
	}
	{
		xmllint := testsvc.Need(t, "xmllint")
		p := filepath.Join(t.TempDir(), "feed.xml")
		os.WriteFile(p, out, 0o600)
		if out, err := exec.Command(xmllint, "--noout", "--nonet", p).CombinedOutput(); err != nil {
			t.Errorf("feed not well-formed: %v\n%s", err, out)
		}
	}

	// An empty feed is current now, not 1970.
	defer func(f func() time.Time) { feedNow = f }(feedNow)
	feedNow = func() time.Time { return time.Date(2026, 12, 3, 7, 11, 5, 0, time.UTC) }
	empty, err := (&Feed{ID: "urn:x", Title: "t"}).Marshal()
	if err != nil || !bytes.Contains(empty, []byte("<updated>2026-12-03T07:11:05Z</updated>")) {
		t.Errorf("empty feed: %v\n%s", err, empty)
	}
	if _, err := (&Feed{Title: "t"}).Marshal(); err == nil {
		t.Error("feed without id accepted")
	}
}

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// TestGoldenExport pins the exact bytes we write, so a change in element
// order, indentation or date form shows up in review.
func TestGoldenExport(t *testing.T) {
	out, err := fullAlert().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden", "full.xml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("export differs from %s (go test -update to accept):\n%s", golden, out)
	}
}

// A drill or test entry says so in its title, in the entry's language.
func TestAtomFeedMarksDrills(t *testing.T) {
	for _, tc := range []struct {
		status     Status
		lang, want string
	}{
		{StatusExercise, "zh-CN", "【演练】"},
		{StatusTest, "zh-CN", "【测试】"},
		{StatusExercise, "ug-CN", "«مەشىق» "},
		{StatusTest, "ug-CN", "«سىناق» "},
		{StatusActual, "zh-CN", ""},
	} {
		a := fullAlert()
		a.Status = tc.status
		f := &Feed{ID: "urn:x", Title: "t", Entries: []FeedEntry{{Alert: a, URL: "https://x/cap", Language: tc.lang}}}
		out, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var feed struct {
			Titles []string `xml:"entry>title"`
		}
		if err := xml.Unmarshal(out, &feed); err != nil {
			t.Fatal(err)
		}
		in := a.Infos[0]
		for _, i := range a.Infos {
			if i.Language == tc.lang {
				in = i
			}
		}
		if want := tc.want + in.Headline; len(feed.Titles) != 1 || feed.Titles[0] != want {
			t.Errorf("%s %s: titles %q, want %q", tc.status, tc.lang, feed.Titles, want)
		}
	}
}
