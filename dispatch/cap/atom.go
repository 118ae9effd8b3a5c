package cap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/wording"
)

// feedNow is the clock of an empty feed's <updated>; tests replace it.
var feedNow = time.Now

// NamespaceAtom is the Atom 1.0 namespace (RFC 4287).
const NamespaceAtom = "http://www.w3.org/2005/Atom"

// Feed is an Atom 1.0 feed of CAP alerts — the form in which MeteoAlarm, the
// US NWS and IPAWS, and aggregators such as Google Public Alerts publish
// active warnings: one entry per alert, linking its CAP document, with the
// main CAP fields repeated as cap:* elements so that readers can filter
// without fetching every document.
type Feed struct {
	ID      string    // a stable IRI for the feed, usually its URL
	Title   string    // e.g. "疏勒县应急管理局 预警信息 / Shule County warnings"
	Self    string    // the feed's own URL (rel="self")
	Author  string    // the publishing agency
	Updated time.Time // zero: the latest entry's, or the current time for an empty feed
	Entries []FeedEntry
}

// FeedEntry is one alert in a feed.
type FeedEntry struct {
	Alert *Alert
	// URL serves the CAP document (e.g. GET /api/v1/alerts/{id}/cap). It
	// is also the entry id unless ID is set.
	URL     string
	ID      string
	Updated time.Time // zero: Alert.Sent
	// Language picks the info block used for the entry's title and
	// summary ("zh-CN"); empty or not found: the first info.
	Language string
}

// Marshal writes the feed as Atom 1.0 (UTF-8).
func (f *Feed) Marshal() ([]byte, error) {
	if f.ID == "" || f.Title == "" {
		return nil, fmt.Errorf("cap: atom feed: %w: feed id and title are required", ErrMissing)
	}
	author := f.Author
	if author == "" {
		author = f.Title
	}
	for i, e := range f.Entries {
		if e.Alert == nil || e.URL == "" {
			return nil, fmt.Errorf("cap: atom feed: entry %d: %w: alert and URL are required", i, ErrMissing)
		}
	}
	updated := f.Updated
	if updated.IsZero() {
		for _, e := range f.Entries {
			if u := e.updated(); u.After(updated) {
				updated = u
			}
		}
	}
	if updated.IsZero() {
		// An empty feed is current as of now: "nothing active" is news a
		// reader must not mistake for a feed dead since 1970.
		updated = feedNow()
	}
	w := &writer{}
	w.buf.WriteString(xml.Header)
	w.buf.WriteString(`<feed xmlns="` + NamespaceAtom + `" xmlns:cap="` + Namespace12 + `">` + "\n")
	w.el(1, "id", f.ID)
	w.el(1, "title", f.Title)
	w.el(1, "updated", updated.UTC().Format(time.RFC3339))
	w.open(1, "author")
	w.el(2, "name", author)
	w.close(1, "author")
	if f.Self != "" {
		w.link(1, "self", "application/atom+xml", f.Self)
	}
	for _, e := range f.Entries {
		w.entry(e)
	}
	w.buf.WriteString("</feed>\n")
	return w.buf.Bytes(), nil
}

func (e FeedEntry) updated() time.Time {
	if !e.Updated.IsZero() {
		return e.Updated
	}
	return e.Alert.Sent
}

func (w *writer) link(n int, rel, typ, href string) {
	w.indent(n)
	w.buf.WriteString(`<link rel="`)
	escapeText(&w.buf, rel)
	w.buf.WriteString(`" type="`)
	escapeText(&w.buf, typ)
	w.buf.WriteString(`" href="`)
	escapeAttr(&w.buf, href)
	w.buf.WriteString("\"/>\n")
}

func escapeAttr(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // escapes quotes too
}

func (w *writer) entry(e FeedEntry) {
	a := e.Alert
	var in *Info
	for i := range a.Infos {
		if in == nil || (e.Language != "" && strings.EqualFold(a.Infos[i].Language, e.Language)) {
			in = &a.Infos[i]
		}
	}
	title := a.Identifier
	if in != nil {
		title = firstNonEmpty(in.Headline, in.Event, a.Identifier)
	}
	if a.MsgType == MsgCancel {
		title = "Cancel: " + title
	}
	// A reader that shows only titles must still see that this is a drill
	// or a test: the marker of the entry's language (package wording).
	lang := ""
	if in != nil {
		lang, _, _ = strings.Cut(strings.ToLower(in.Language), "-")
	}
	switch a.Status {
	case StatusExercise:
		title = wording.Marker("exercise", lang) + title
	case StatusTest:
		title = wording.Marker("test", lang) + title
	}
	id := e.ID
	if id == "" {
		id = e.URL
	}
	w.open(1, "entry")
	w.el(2, "id", id)
	w.el(2, "title", title)
	w.el(2, "updated", e.updated().UTC().Format(time.RFC3339))
	w.el(2, "published", a.Sent.UTC().Format(time.RFC3339))
	w.link(2, "alternate", MIMEType, e.URL)
	if in != nil {
		if s := strings.TrimSpace(in.Description); s != "" {
			w.el(2, "summary", s)
		}
		for _, c := range in.Categories {
			w.indent(2)
			w.buf.WriteString(`<category term="` + string(c) + `"/>` + "\n")
		}
	}
	w.el(2, "cap:identifier", a.Identifier)
	w.el(2, "cap:sender", a.Sender)
	w.el(2, "cap:sent", FormatTime(a.Sent))
	w.el(2, "cap:status", string(a.Status))
	w.el(2, "cap:msgType", string(a.MsgType))
	if in != nil {
		w.el(2, "cap:event", in.Event)
		w.el(2, "cap:urgency", string(in.Urgency))
		w.el(2, "cap:severity", string(in.Severity))
		w.el(2, "cap:certainty", string(in.Certainty))
		if !in.Effective.IsZero() {
			w.el(2, "cap:effective", FormatTime(in.Effective))
		}
		if !in.Expires.IsZero() {
			w.el(2, "cap:expires", FormatTime(in.Expires))
		}
		var descs []string
		for _, ar := range in.Areas {
			descs = append(descs, ar.Desc)
		}
		if len(descs) > 0 {
			w.el(2, "cap:areaDesc", strings.Join(descs, "; "))
		}
	}
	w.close(1, "entry")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return strings.TrimSpace(x)
		}
	}
	return ""
}
