package lifecycle

// Mapping between CAP 1.2 (package dispatch/cap) and the warning domain.
//
// Export (AlertToCAP): one CAP message per warning version.
//
//	identifier   "<warning id>-v<version>"          (e.g. A5ZK3JQ2M4XDPW7Q-v2)
//	sender       "alertcast@<host of baseURL>"
//	sent         IssuedAt (else UpdatedAt, CreatedAt) at UTC+08:00, Beijing time as used in Xinjiang offices
//	status       actual/exercise/test → Actual/Exercise/Test; a warning still pending approval or rejected → Draft
//	msgType      kind alert → Alert, update → Update, cancel → Cancel, allclear → Update + responseType AllClear
//	references   every earlier version (WithPriorVersions), as sender,identifier,sent
//	incidents    the warning id, shared by all its versions
//	info         one per language: zh → "zh-CN", ug → "ug-CN" (zh first)
//	  category   the event's CAP category (see events.go)
//	  event      the event's Chinese name in zh-CN; in ug-CN its Uyghur name (capEventUyghur) or else English
//	  headline   the text's headline; a cancel or all-clear version is prefixed 预警取消：/预警解除： (zh) and
//	             ئاگاھلاندۇرۇش بىكار قىلىندى: (ug), removed again on import
//	  urgency    cancel/allclear → Past; no onset or onset reached → Immediate; onset within an hour → Expected; else Future
//	  severity   blue → Minor, yellow → Moderate, orange → Severe, red → Extreme
//	  certainty  earthquake → Observed, others → Likely (a warning is a forecast)
//	  eventCode  valueName "ALERTCAST_EVENT", value the event code ("sandstorm")
//	  parameter  ALERTCAST_LEVEL (blue…red), ALERTCAST_VERSION, ALERTCAST_EXCLUDE (excluded codes, space separated),
//	             ALERTCAST_APPROVED_BY: who approved this version (an officer, "cap-rule:<name>" for an auto rule
//	             with an authenticated sender, or a schedule's approver), absent when the policy needed none;
//	             written for the record, never read back on import (an approval does not travel)
//	  resource   the loudspeaker programme (WithAudio), mime type from its format; an evacuate's shelters (capaction.go)
//	  (action)   responseType, instruction, ALERTCAST_AWAY_FROM and the shelters resource: see capaction.go
//	  area       one per info: areaDesc = region names in that language (codes when no names are known),
//	             polygons, circles, and one geocode per administrative code:
//	             valueName "ADCODE", value the 6-, 9- or 12-digit statistical division code
//	             (国家统计局 统计用区划代码; the 6-digit prefix is the GB/T 2260 county code).
//
// Import (CAPToDraft): see its documentation and capEventTable.

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// CAP value names Alertcast writes and reads.
const (
	CAPGeocodeADCODE = "ADCODE"
	CAPEventCodeName = "ALERTCAST_EVENT"
	CAPParamLevel    = "ALERTCAST_LEVEL"
	CAPParamVersion  = "ALERTCAST_VERSION"
	CAPParamExclude  = "ALERTCAST_EXCLUDE"
	// CAPParamApprovedBy names the second officer who approved the version.
	CAPParamApprovedBy = "ALERTCAST_APPROVED_BY"
)

// beijing is the UTC offset CAP documents are written at.
var beijing = time.FixedZone("CST", 8*3600)

// capLanguages maps our text languages to CAP/RFC 3066 tags.
var capLanguages = map[string]string{"zh": "zh-CN", "ug": "ug-CN"}

// capEventUyghur names events in the ug-CN <event> (the wording alertctl's
// audio preview uses); events not listed use their English name.
var capEventUyghur = map[warning.Event]string{
	warning.EventSandstorm:  "قۇم-بوران",
	warning.EventRainstorm:  "قاتتىق يامغۇر",
	warning.EventHail:       "مۆلدۈر",
	warning.EventGale:       "قاتتىق شامال",
	warning.EventColdWave:   "سوغۇق ئېقىم",
	warning.EventHeat:       "يۇقىرى تېمپېراتۇرا",
	warning.EventFlood:      "كەلكۈن",
	warning.EventEarthquake: "يەر تەۋرەش",
	warning.EventGeological: "گېئولوگىيىلىك ئاپەت",
}

// capEndPrefix marks the headline of a cancel or all-clear version, so that
// a reader who sees only headlines is not told of the danger again.
var capEndPrefix = map[warning.Kind]map[string]string{
	warning.KindAllClear: {"zh": "预警解除：", "ug": "ئاگاھلاندۇرۇش ئەمەلدىن قالدۇرۇلدى: "},
	warning.KindCancel:   {"zh": "预警撤销：", "ug": "ئاگاھلاندۇرۇش قايتۇرۇۋېلىندى: "},
}

// capEndPrefixBefore are the markers earlier exports used, still taken off
// when such a document is imported again.
var capEndPrefixBefore = []string{"预警取消：", "ئاگاھلاندۇرۇش بىكار قىلىندى: "}

// CAPOption adds what a CAP export needs besides the warning version.
type CAPOption func(*capExport)

type capExport struct {
	prior      []*dispatch.Alert
	audio      *channels.Audio
	senderName string
	names      func(code, lang string) string
	guidance   *dispatch.VillageGuidance
}

// WithPriorVersions gives the earlier versions of the warning (as from
// Store.AlertVersions; the current and later versions are ignored) so that
// an update, cancel or all-clear references them.
func WithPriorVersions(versions ...*dispatch.Alert) CAPOption {
	return func(x *capExport) { x.prior = versions }
}

// WithAudio links the rendered loudspeaker programme as a <resource>. A
// relative URL is resolved against baseURL.
func WithAudio(au *channels.Audio) CAPOption { return func(x *capExport) { x.audio = au } }

// WithSenderName sets <senderName>, e.g. "疏勒县应急管理局".
func WithSenderName(name string) CAPOption { return func(x *capExport) { x.senderName = name } }

// WithRegionNames names administrative codes in <areaDesc>: names(code,
// "zh"|"ug") returns the name or "" when unknown. WithRegionTree adapts a
// targeting.Tree.
func WithRegionNames(names func(code, lang string) string) CAPOption {
	return func(x *capExport) { x.names = names }
}

// WithRegionTree names codes from the region tree (Uyghur names where the
// tree has them, Chinese otherwise).
func WithRegionTree(t *targeting.Tree) CAPOption {
	return WithRegionNames(func(code, lang string) string {
		r, ok := t.Region(code)
		if !ok {
			return ""
		}
		if lang == "ug" && r.NameUG != "" {
			return r.NameUG
		}
		return r.Name
	})
}

// CAPIdentifier is the CAP identifier of one warning version.
func CAPIdentifier(id string, version int) string { return fmt.Sprintf("%s-v%d", id, version) }

// CAPSender is the CAP sender Alertcast uses for documents served under
// baseURL.
func CAPSender(baseURL string) string {
	host := "localhost"
	if u, err := url.Parse(baseURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "alertcast@" + host
}

func capSent(a *dispatch.Alert) time.Time {
	for _, t := range []time.Time{a.IssuedAt, a.UpdatedAt, a.CreatedAt} {
		if !t.IsZero() {
			return t.In(beijing).Truncate(time.Second)
		}
	}
	return time.Unix(0, 0).In(beijing)
}

// AlertToCAP renders one version of a warning as a CAP 1.2 alert (see the
// table at the top of this file). baseURL is the platform's public base URL
// ("https://alert.shule.gov.cn"). The result is not validated here; call
// Marshal, which validates, to get the document.
func AlertToCAP(a *dispatch.Alert, baseURL string, opts ...CAPOption) *cap.Alert {
	var x capExport
	for _, o := range opts {
		o(&x)
	}
	sender := CAPSender(baseURL)
	sent := capSent(a)
	c := &cap.Alert{
		Identifier: CAPIdentifier(a.ID, a.Version),
		Sender:     sender,
		Sent:       sent,
		Status:     capStatus(a),
		MsgType:    cap.MsgAlert,
		Source:     "Alertcast",
		Scope:      cap.ScopePublic,
		Incidents:  a.ID,
	}
	switch a.Kind {
	case warning.KindUpdate, warning.KindAllClear:
		c.MsgType = cap.MsgUpdate
	case warning.KindCancel:
		c.MsgType = cap.MsgCancel
	}
	switch {
	case a.State == warning.StatePending:
		c.Note = "awaiting approval; not issued"
	case a.State == warning.StateRejected:
		c.Note = "rejected; never issued"
	case a.Kind == warning.KindCancel || a.Kind == warning.KindAllClear:
		c.Note = a.Reason
	}
	prior := slices.Clone(x.prior)
	sort.Slice(prior, func(i, j int) bool { return prior[i].Version < prior[j].Version })
	for _, p := range prior {
		if p == nil || p.ID != a.ID || p.Version >= a.Version {
			continue
		}
		c.References = append(c.References, cap.Reference{Sender: sender, Identifier: CAPIdentifier(p.ID, p.Version), Sent: capSent(p)})
	}

	langs := make([]string, 0, len(a.Text))
	for l := range a.Text {
		langs = append(langs, l)
	}
	sort.Slice(langs, func(i, j int) bool { return langRank(langs[i]) < langRank(langs[j]) })
	ev := a.Event.Info()
	for _, l := range langs {
		t := a.Text[l]
		tag := capLanguages[l]
		if tag == "" {
			tag = l
		}
		in := cap.Info{
			Language:   tag,
			Categories: []cap.Category{cap.Category(ev.CAPCategory)},
			Event:      ev.Chinese,
			Urgency:    capUrgency(a, sent),
			Severity:   cap.Severity(a.Level.CAPSeverity()),
			Certainty:  cap.CertaintyLikely,
			EventCodes: []cap.NamedValue{{ValueName: CAPEventCodeName, Value: a.Event.String()}},
			Onset:      inBeijing(a.Onset),
			Expires:    inBeijing(a.Expires),
			SenderName: x.senderName,
			Headline:   t.Headline,
			Parameters: []cap.NamedValue{
				{ValueName: CAPParamLevel, Value: a.Level.String()},
				{ValueName: CAPParamVersion, Value: strconv.Itoa(a.Version)},
			},
		}
		switch {
		case l == "ug" && capEventUyghur[a.Event] != "":
			in.Event = capEventUyghur[a.Event]
		case l != "zh" || in.Event == "":
			in.Event = ev.English
		}
		if pre := capEndPrefix[a.Kind][l]; pre != "" && in.Headline != "" {
			in.Headline = pre + in.Headline
		}
		if a.Event == warning.EventEarthquake {
			in.Certainty = cap.CertaintyObserved
		}
		if a.Kind == warning.KindAllClear {
			in.ResponseTypes = []cap.ResponseType{cap.ResponseAllClear}
		}
		if len(a.Audience.Groups) > 0 {
			in.Audience = strings.Join(a.Audience.Groups, ", ")
		}
		in.Description = t.Description
		in.Instruction = t.Instruction
		if a.Kind == warning.KindCancel || a.Kind == warning.KindAllClear {
			// The danger is over or the warning was withdrawn: say why
			// (package wording, as on every channel) and never repeat the
			// old description or instruction.
			w := wording.Compose(dispatch.MessageOf(a), l)
			in.Description, in.Instruction = w.Description, ""
		}
		if len(a.Area.Exclude) > 0 {
			in.Parameters = append(in.Parameters, cap.NamedValue{ValueName: CAPParamExclude, Value: strings.Join(a.Area.Exclude, " ")})
		}
		capAction(a, &x, l, &in)
		if a.ApprovedBy != "" {
			in.Parameters = append(in.Parameters, cap.NamedValue{ValueName: CAPParamApprovedBy, Value: a.ApprovedBy})
		}
		if x.audio != nil && x.audio.URL != "" {
			in.Resources = append(in.Resources, cap.Resource{
				Desc:     audioDesc(l),
				MimeType: audioMIME(x.audio.Format),
				URI:      absURL(baseURL, x.audio.URL),
			})
		}
		in.Areas = []cap.Area{capArea(a, l, x.names)}
		c.Infos = append(c.Infos, in)
	}
	return c
}

func langRank(l string) string {
	switch l {
	case "zh":
		return "0"
	case "ug":
		return "1"
	}
	return "2" + l
}

func inBeijing(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(beijing).Truncate(time.Second)
}

func capStatus(a *dispatch.Alert) cap.Status {
	if a.State == warning.StatePending || a.State == warning.StateRejected {
		return cap.StatusDraft
	}
	switch a.Status {
	case warning.StatusExercise:
		return cap.StatusExercise
	case warning.StatusTest:
		return cap.StatusTest
	}
	return cap.StatusActual
}

func capUrgency(a *dispatch.Alert, sent time.Time) cap.Urgency {
	switch {
	case a.Kind == warning.KindCancel || a.Kind == warning.KindAllClear:
		return cap.UrgencyPast
	case a.Onset.IsZero() || !a.Onset.After(sent):
		return cap.UrgencyImmediate
	case a.Onset.Sub(sent) <= time.Hour:
		return cap.UrgencyExpected
	}
	return cap.UrgencyFuture
}

func audioDesc(lang string) string {
	if lang == "ug" {
		return "Broadcast programme (audio)"
	}
	return "应急广播音频"
}

func audioMIME(format string) string {
	f := strings.ToLower(format)
	switch {
	case strings.HasPrefix(f, "wav"):
		return "audio/wav"
	case strings.HasPrefix(f, "ogg"), strings.HasPrefix(f, "opus"):
		return "audio/ogg"
	case strings.HasPrefix(f, "mp3"):
		return "audio/mpeg"
	}
	return "application/octet-stream"
}

func absURL(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

func capArea(a *dispatch.Alert, lang string, names func(code, lang string) string) cap.Area {
	var ar cap.Area
	var desc []string
	for _, code := range a.Area.Codes {
		ar.Geocodes = append(ar.Geocodes, cap.NamedValue{ValueName: CAPGeocodeADCODE, Value: code})
		n := ""
		if names != nil {
			n = names(code, lang)
		}
		if n == "" {
			n = code
		}
		desc = append(desc, n)
	}
	for _, p := range a.Area.Polygons {
		if pg, err := cap.ParsePolygon(p); err == nil {
			ar.Polygons = append(ar.Polygons, pg)
		}
	}
	for _, s := range a.Area.Circles {
		if c, err := cap.ParseCircle(s); err == nil {
			ar.Circles = append(ar.Circles, c)
		}
	}
	if len(desc) == 0 {
		if lang == "zh" {
			desc = append(desc, "划定区域")
		} else {
			desc = append(desc, "Drawn area")
		}
	}
	ar.Desc = strings.Join(desc, ", ")
	return ar
}

// ---- import ----
