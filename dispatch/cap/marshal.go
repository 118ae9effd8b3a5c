package cap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Marshal writes the alert as a CAP 1.2 document (UTF-8, elements in the
// schema's order, two-space indentation). It validates first and writes
// nothing for an invalid alert. Signatures are not written (see the package
// documentation).
func (a *Alert) Marshal() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("cap: marshal: %w", err)
	}
	w := &writer{}
	w.buf.Grow(2048)
	w.buf.WriteString(xml.Header)
	w.buf.WriteString(`<alert xmlns="` + Namespace12 + `">` + "\n")
	w.alertBody(a, 1)
	w.buf.WriteString("</alert>\n")
	return w.buf.Bytes(), nil
}

type writer struct{ buf bytes.Buffer }

func (w *writer) indent(n int) {
	for range n {
		w.buf.WriteString("  ")
	}
}

func (w *writer) open(n int, name string) {
	w.indent(n)
	w.buf.WriteString("<" + name + ">\n")
}

func (w *writer) close(n int, name string) {
	w.indent(n)
	w.buf.WriteString("</" + name + ">\n")
}

// el writes <name>text</name>, always, even when text is empty.
func (w *writer) el(n int, name, text string) {
	w.indent(n)
	w.buf.WriteString("<" + name + ">")
	escapeText(&w.buf, text)
	w.buf.WriteString("</" + name + ">\n")
}

// opt writes the element only when text is not empty.
func (w *writer) opt(n int, name, text string) {
	if text != "" {
		w.el(n, name, text)
	}
}

func (w *writer) alertBody(a *Alert, n int) {
	w.el(n, "identifier", a.Identifier)
	w.el(n, "sender", a.Sender)
	w.el(n, "sent", FormatTime(a.Sent))
	w.el(n, "status", string(a.Status))
	w.el(n, "msgType", string(a.MsgType))
	w.opt(n, "source", a.Source)
	w.el(n, "scope", string(a.Scope))
	w.opt(n, "restriction", a.Restriction)
	w.opt(n, "addresses", a.Addresses)
	for _, c := range a.Codes {
		w.el(n, "code", c)
	}
	w.opt(n, "note", a.Note)
	if len(a.References) > 0 {
		w.el(n, "references", FormatReferences(a.References))
	}
	w.opt(n, "incidents", a.Incidents)
	for i := range a.Infos {
		w.info(&a.Infos[i], n)
	}
}

// FormatReferences writes references as CAP's space-separated
// "sender,identifier,sent" triples.
func FormatReferences(refs []Reference) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.Sender + "," + r.Identifier + "," + FormatTime(r.Sent)
	}
	return strings.Join(parts, " ")
}

func (w *writer) info(in *Info, n int) {
	w.open(n, "info")
	m := n + 1
	w.opt(m, "language", in.Language)
	for _, c := range in.Categories {
		w.el(m, "category", string(c))
	}
	w.el(m, "event", in.Event)
	for _, r := range in.ResponseTypes {
		w.el(m, "responseType", string(r))
	}
	w.el(m, "urgency", string(in.Urgency))
	w.el(m, "severity", string(in.Severity))
	w.el(m, "certainty", string(in.Certainty))
	w.opt(m, "audience", in.Audience)
	for _, ec := range in.EventCodes {
		w.namedValue(m, "eventCode", ec)
	}
	if !in.Effective.IsZero() {
		w.el(m, "effective", FormatTime(in.Effective))
	}
	if !in.Onset.IsZero() {
		w.el(m, "onset", FormatTime(in.Onset))
	}
	if !in.Expires.IsZero() {
		w.el(m, "expires", FormatTime(in.Expires))
	}
	w.opt(m, "senderName", in.SenderName)
	w.opt(m, "headline", in.Headline)
	w.opt(m, "description", in.Description)
	w.opt(m, "instruction", in.Instruction)
	w.opt(m, "web", in.Web)
	w.opt(m, "contact", in.Contact)
	for _, p := range in.Parameters {
		w.namedValue(m, "parameter", p)
	}
	for _, r := range in.Resources {
		w.open(m, "resource")
		w.el(m+1, "resourceDesc", r.Desc)
		w.el(m+1, "mimeType", r.MimeType)
		if r.Size > 0 {
			w.el(m+1, "size", strconv.FormatInt(r.Size, 10))
		}
		w.opt(m+1, "uri", r.URI)
		w.opt(m+1, "derefUri", r.DerefURI)
		w.opt(m+1, "digest", r.Digest)
		w.close(m, "resource")
	}
	for i := range in.Areas {
		w.area(&in.Areas[i], m)
	}
	w.close(n, "info")
}

func (w *writer) namedValue(n int, name string, nv NamedValue) {
	w.open(n, name)
	w.el(n+1, "valueName", nv.ValueName)
	w.el(n+1, "value", nv.Value)
	w.close(n, name)
}

func (w *writer) area(ar *Area, n int) {
	w.open(n, "area")
	m := n + 1
	w.el(m, "areaDesc", ar.Desc)
	for _, pg := range ar.Polygons {
		w.el(m, "polygon", pg.String())
	}
	for _, c := range ar.Circles {
		w.el(m, "circle", c.String())
	}
	for _, g := range ar.Geocodes {
		w.namedValue(m, "geocode", g)
	}
	if ar.Altitude != nil {
		w.el(m, "altitude", fmtFloat(*ar.Altitude))
	}
	if ar.Ceiling != nil {
		w.el(m, "ceiling", fmtFloat(*ar.Ceiling))
	}
	w.close(n, "area")
}

// escapeText writes s as XML character data. Unlike xml.EscapeText it keeps
// line breaks and tabs readable (descriptions are multi-line); it escapes CR
// so that it survives parsing, and replaces characters XML 1.0 forbids with
// U+FFFD.
func escapeText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF, r > 0x10FFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
}
