package cap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// Limits applied by Parse. A real CAP alert is a few kilobytes and at most
// six elements deep (alert/info/area/geocode/value, or a signature's key
// info); an EDXL-DE envelope adds four levels.
const (
	MaxDocumentSize = 1 << 20
	MaxDepth        = 32
)

// Parse reads one CAP 1.2 (or 1.1) alert, possibly wrapped in an EDXL-DE
// envelope, and validates it. The error names the offending element. See the
// package documentation for what is accepted beyond the schema.
func Parse(r io.Reader) (*Alert, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("cap: reading document: %w", err)
	}
	return ParseBytes(data)
}

// ParseBytes is Parse for a document already in memory.
func ParseBytes(data []byte) (*Alert, error) {
	alerts, err := parseAll(data)
	if err != nil {
		return nil, err
	}
	if len(alerts) > 1 {
		return nil, fmt.Errorf("cap: %w", pathErr("EDXLDistribution", ErrUnexpected, "the EDXL-DE envelope carries %d CAP alerts; use ParseAll", len(alerts)))
	}
	return alerts[0], nil
}

// ParseAll is Parse for documents that may carry several alerts: an EDXL-DE
// envelope with one CAP alert per content object. Either every alert is
// valid and all are returned, or none is.
func ParseAll(r io.Reader) ([]*Alert, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("cap: reading document: %w", err)
	}
	return parseAll(data)
}

func parseAll(data []byte) ([]*Alert, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("cap: %w: more than %d bytes", ErrTooLarge, MaxDocumentSize)
	}
	src, err := toUTF8(data)
	if err != nil {
		return nil, fmt.Errorf("cap: %w", err)
	}
	p := &parser{src: src}
	p.d = xml.NewDecoder(bytes.NewReader(src))
	p.d.Strict = true
	// toUTF8 already transcoded everything; the declaration still names
	// the original encoding, so hand the bytes through unchanged.
	p.d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	alerts, err := p.document()
	if err != nil {
		return nil, fmt.Errorf("cap: %w", err)
	}
	for i, a := range alerts {
		if err := a.Validate(); err != nil {
			if len(alerts) > 1 {
				return nil, fmt.Errorf("cap: EDXL-DE alert %d (%s): %w", i, a.Identifier, err)
			}
			return nil, fmt.Errorf("cap: %w", err)
		}
	}
	return alerts, nil
}

var encodingDecl = regexp.MustCompile(`^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']`)

// toUTF8 strips a byte-order mark and transcodes a document whose XML
// declaration names another encoding (ISO-8859-1 from older US feeds, GBK
// or GB18030 from Chinese systems) to UTF-8.
func toUTF8(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		out, err := unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("%w: bad UTF-16: %v", ErrEncoding, err)
		}
		return out, nil
	}
	head := data
	if len(head) > 512 {
		head = head[:512]
	}
	m := encodingDecl.FindSubmatch(head)
	if m == nil {
		return data, nil
	}
	label := string(m[1])
	switch strings.ToLower(label) {
	case "utf-8", "utf8":
		return data, nil
	}
	enc, err := ianaindex.IANA.Encoding(label)
	if enc == nil || err != nil {
		enc, err = htmlindex.Get(label)
	}
	if enc == nil || err != nil {
		return nil, fmt.Errorf("%w: encoding %q declared in the XML declaration", ErrEncoding, label)
	}
	if enc == encoding.Nop || enc == unicode.UTF8 {
		return data, nil
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return nil, fmt.Errorf("%w: bytes are not valid %s: %v", ErrEncoding, label, err)
	}
	return out, nil
}

type parser struct {
	d       *xml.Decoder
	src     []byte
	depth   int
	prevOff int64 // input offset before the last token: where it starts
	ns      string
	version string
}

// next returns the next token, enforcing the depth limit and refusing
// directives (DOCTYPE, ENTITY) wherever they appear.
func (p *parser) next(path string) (xml.Token, error) {
	p.prevOff = p.d.InputOffset()
	tok, err := p.d.Token()
	if err != nil {
		if err == io.EOF {
			return nil, pathErr(path, ErrNotWellFormed, "document ends inside this element")
		}
		return nil, notWellFormed(err)
	}
	switch t := tok.(type) {
	case xml.Directive:
		return nil, doctypeErr(t)
	case xml.StartElement:
		p.depth++
		if p.depth > MaxDepth {
			return nil, pathErr(path, ErrTooDeep, "more than %d levels", MaxDepth)
		}
	case xml.EndElement:
		p.depth--
	}
	return tok, nil
}

// notWellFormed is a decoder error as ErrNotWellFormed, with the line of a
// syntax error.
func notWellFormed(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: line %d: %s", ErrNotWellFormed, se.Line, se.Msg)
	}
	return fmt.Errorf("%w: %v", ErrNotWellFormed, err)
}

// doctypeErr refuses a directive (DOCTYPE, ENTITY): XXE and entity bombs.
func doctypeErr(d xml.Directive) error {
	return fmt.Errorf("%w (found <!%s>)", ErrDoctype, truncate(string(d), 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// document reads the prolog, the root element and the epilogue.
func (p *parser) document() ([]*Alert, error) {
	var a []*Alert
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			if a == nil {
				return nil, fmt.Errorf("%w: no root element", ErrNotWellFormed)
			}
			return a, nil
		}
		if err != nil {
			return nil, notWellFormed(err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, doctypeErr(t)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: text outside the root element", ErrNotWellFormed)
			}
		case xml.StartElement:
			if a != nil {
				return nil, fmt.Errorf("%w: more than one root element", ErrNotWellFormed)
			}
			p.depth = 1
			if a, err = p.root(t); err != nil {
				return nil, err
			}
		}
	}
}

func (p *parser) root(se xml.StartElement) ([]*Alert, error) {
	if se.Name.Space == NamespaceEDXLDE && se.Name.Local == "EDXLDistribution" {
		return p.edxl(se)
	}
	if se.Name.Local != "alert" {
		return nil, pathErr(se.Name.Local, ErrNamespace, "root element is <%s> in namespace %q, want <alert> in %s", se.Name.Local, se.Name.Space, Namespace12)
	}
	if err := p.setNamespace(se.Name.Space, "alert"); err != nil {
		return nil, err
	}
	a, err := p.alert("alert")
	if err != nil {
		return nil, err
	}
	return []*Alert{a}, nil
}

func (p *parser) setNamespace(ns, path string) error {
	switch ns {
	case Namespace12:
		p.version = "1.2"
	case Namespace11:
		p.version = "1.1"
	case Namespace10:
		p.version = "1.0"
	case "":
		return pathErr(path, ErrNamespace, "no namespace; a CAP 1.2 alert is in %s", Namespace12)
	default:
		return pathErr(path, ErrNamespace, "namespace %q is not CAP 1.2 (%s), 1.1 or 1.0", ns, Namespace12)
	}
	p.ns = ns
	return nil
}

// edxl unwraps the CAP alerts of an EDXL-DE 1.0 envelope.
func (p *parser) edxl(se xml.StartElement) ([]*Alert, error) {
	var found []*Alert
	var walk func(path string) error
	walk = func(path string) error {
		return p.children(path, func(c xml.StartElement) error {
			cpath := path + "/" + c.Name.Local
			if c.Name.Local == "alert" && (c.Name.Space == Namespace12 || c.Name.Space == Namespace11 || c.Name.Space == Namespace10) {
				if err := p.setNamespace(c.Name.Space, cpath); err != nil {
					return err
				}
				a, err := p.alert(fmt.Sprintf("%s[%d]", cpath, len(found)))
				if err != nil {
					return err
				}
				found = append(found, a)
				return nil
			}
			switch {
			case c.Name.Space != NamespaceEDXLDE:
				return p.skip(cpath)
			case c.Name.Local == "contentObject", c.Name.Local == "xmlContent", c.Name.Local == "embeddedXMLContent":
				return walk(cpath)
			}
			return p.skip(cpath) // envelope metadata: distributionID, targetArea, …
		})
	}
	if err := walk("EDXLDistribution"); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, pathErr("EDXLDistribution", ErrNamespace, "EDXL-DE envelope holds no CAP 1.2 alert in contentObject/xmlContent/embeddedXMLContent")
	}
	return found, nil
}

// children calls fn for each child element of the element just started and
// returns at its end tag. fn must consume the child entirely.
func (p *parser) children(path string, fn func(xml.StartElement) error) error {
	for {
		tok, err := p.next(path)
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return pathErr(path, ErrUnexpected, "text %q between child elements", truncate(strings.TrimSpace(string(t)), 40))
			}
		}
	}
}

// text reads the character content of a simple element just started.
func (p *parser) text(path string) (string, error) {
	var b []byte
	for {
		tok, err := p.next(path)
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b = append(b, t...)
		case xml.StartElement:
			return "", pathErr(path, ErrUnexpected, "element <%s> inside a text-only element", t.Name.Local)
		case xml.EndElement:
			return string(b), nil
		}
	}
}

// skip consumes the element just started.
func (p *parser) skip(path string) error {
	for n := 1; n > 0; {
		tok, err := p.next(path)
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			n++
		case xml.EndElement:
			n--
		}
	}
	return nil
}

// once tracks elements that may appear at most once.
type once map[string]bool

func (o once) check(path, name string) error {
	if o[name] {
		return pathErr(path, ErrUnexpected, "<%s> appears more than once", name)
	}
	o[name] = true
	return nil
}

// capChildren is children for an element of the CAP vocabulary: a child in
// another namespace (an extension) is skipped, unless foreign is set and
// takes it (took); fn gets each CAP child's local name.
func (p *parser) capChildren(path string, foreign func(xml.StartElement) (took bool, err error), fn func(name string) error) error {
	return p.children(path, func(se xml.StartElement) error {
		if se.Name.Space != p.ns {
			if foreign != nil {
				if took, err := foreign(se); took || err != nil {
					return err
				}
			}
			return p.skip(path + "/" + se.Name.Local)
		}
		return fn(se.Name.Local)
	})
}

// field reads the text of the simple CAP child name of path. A repeatable
// element is numbered (n ≥ 0: path/name[n]); any other may appear once
// (seen). It returns the child's path and its text, as is and trimmed.
func (p *parser) field(path, name string, n int, seen once) (cpath, raw, t string, err error) {
	cpath = path + "/" + name
	if n >= 0 {
		cpath = fmt.Sprintf("%s/%s[%d]", path, name, n)
	} else if err := seen.check(cpath, name); err != nil {
		return cpath, "", "", err
	}
	raw, err = p.text(cpath)
	return cpath, raw, strings.TrimSpace(raw), err
}

func (p *parser) alert(path string) (*Alert, error) {
	a := &Alert{Version: p.version}
	seen := once{}
	signature := func(se xml.StartElement) (bool, error) {
		if se.Name.Space != NamespaceXMLDSig || se.Name.Local != "Signature" {
			return false, nil
		}
		start := p.prevOff
		if err := p.skip(path + "/Signature"); err != nil {
			return true, err
		}
		a.Signatures = append(a.Signatures, bytes.Clone(p.src[start:p.d.InputOffset()]))
		return true, nil
	}
	err := p.capChildren(path, signature, func(name string) error {
		if name == "info" {
			in, err := p.info(fmt.Sprintf("%s/info[%d]", path, len(a.Infos)))
			if err != nil {
				return err
			}
			a.Infos = append(a.Infos, in)
			return nil
		}
		n := -1
		if name == "code" {
			n = len(a.Codes)
		}
		cpath, s, t, err := p.field(path, name, n, seen)
		if err != nil {
			return err
		}
		switch name {
		case "identifier":
			a.Identifier = t
		case "sender":
			a.Sender = t
		case "sent":
			a.Sent, err = parseTimeAt(cpath, t)
		case "status":
			a.Status, err = parseEnumAt(cpath, t, statuses)
		case "msgType":
			a.MsgType, err = parseEnumAt(cpath, t, msgTypes)
		case "source":
			a.Source = t
		case "scope":
			a.Scope, err = parseEnumAt(cpath, t, scopes)
		case "restriction":
			a.Restriction = t
		case "addresses":
			a.Addresses = t
		case "code":
			if t != "" { // an empty <code/> says nothing; dropped
				a.Codes = append(a.Codes, t)
			}
		case "note":
			a.Note = s
		case "references":
			if t == "" {
				return pathErr(cpath, ErrMissing, "<references> is present but empty")
			}
			a.References, err = parseReferences(cpath, t)
		case "password":
			if p.version != "1.0" {
				return pathErr(cpath, ErrUnexpected, "<password> exists only in CAP 1.0")
			}
			// CAP 1.0's deprecated password: dropped, never re-emitted.
		case "incidents":
			a.Incidents = t
		default:
			return pathErr(cpath, ErrUnexpected, "<%s> is not a CAP %s alert element", name, p.version)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (p *parser) info(path string) (Info, error) {
	var in Info
	seen := once{}
	err := p.capChildren(path, nil, func(name string) error {
		switch name {
		case "eventCode", "parameter":
			list := &in.EventCodes
			if name == "parameter" {
				list = &in.Parameters
			}
			nv, err := p.namedValue(fmt.Sprintf("%s/%s[%d]", path, name, len(*list)))
			*list = append(*list, nv)
			return err
		case "resource":
			r, err := p.resource(fmt.Sprintf("%s/resource[%d]", path, len(in.Resources)))
			in.Resources = append(in.Resources, r)
			return err
		case "area":
			ar, err := p.area(fmt.Sprintf("%s/area[%d]", path, len(in.Areas)))
			in.Areas = append(in.Areas, ar)
			return err
		}
		n := -1
		switch name {
		case "category":
			n = len(in.Categories)
		case "responseType":
			n = len(in.ResponseTypes)
		}
		cpath, s, t, err := p.field(path, name, n, seen)
		if err != nil {
			return err
		}
		switch name {
		case "language":
			in.Language = t
		case "category":
			var c Category
			c, err = parseEnumAt(cpath, t, categories)
			in.Categories = append(in.Categories, c)
		case "event":
			in.Event = t
		case "responseType":
			var r ResponseType
			r, err = parseEnumAt(cpath, t, responseTypes)
			in.ResponseTypes = append(in.ResponseTypes, r)
		case "urgency":
			in.Urgency, err = parseEnumAt(cpath, t, urgencies)
		case "severity":
			in.Severity, err = parseEnumAt(cpath, t, severities)
		case "certainty":
			if p.version == "1.0" && strings.EqualFold(t, "Very Likely") {
				t = string(CertaintyLikely) // CAP 1.1 folded 1.0's "Very Likely" into Likely
			}
			in.Certainty, err = parseEnumAt(cpath, t, certainties)
		case "audience":
			in.Audience = t
		case "effective":
			in.Effective, err = parseTimeAt(cpath, t)
		case "onset":
			in.Onset, err = parseTimeAt(cpath, t)
		case "expires":
			in.Expires, err = parseTimeAt(cpath, t)
		case "senderName":
			in.SenderName = t
		case "headline":
			in.Headline = t
		case "description":
			in.Description = s
		case "instruction":
			in.Instruction = s
		case "web":
			in.Web = t
		case "contact":
			in.Contact = t
		default:
			return pathErr(cpath, ErrUnexpected, "<%s> is not a CAP %s info element", name, p.version)
		}
		return err
	})
	return in, err
}

func (p *parser) namedValue(path string) (NamedValue, error) {
	var nv NamedValue
	if p.version == "1.0" {
		// CAP 1.0 writes eventCode, parameter and geocode as "name=value".
		s, err := p.text(path)
		if err != nil {
			return nv, err
		}
		name, value, ok := strings.Cut(strings.TrimSpace(s), "=")
		if !ok {
			return nv, pathErr(path, ErrInvalid, "CAP 1.0 value %q is not name=value", truncate(s, 60))
		}
		return NamedValue{ValueName: strings.TrimSpace(name), Value: strings.TrimSpace(value)}, nil
	}
	seen := once{}
	err := p.capChildren(path, nil, func(name string) error {
		if name != "valueName" && name != "value" {
			return pathErr(path+"/"+name, ErrUnexpected, "only <valueName> and <value> belong here")
		}
		_, _, t, err := p.field(path, name, -1, seen)
		if name == "valueName" {
			nv.ValueName = t
		} else {
			nv.Value = t
		}
		return err
	})
	if err == nil && !seen["valueName"] {
		err = pathErr(path+"/valueName", ErrMissing, "")
	}
	if err == nil && !seen["value"] {
		err = pathErr(path+"/value", ErrMissing, "")
	}
	return nv, err
}

func (p *parser) resource(path string) (Resource, error) {
	var r Resource
	seen := once{}
	err := p.capChildren(path, nil, func(name string) error {
		cpath, _, t, err := p.field(path, name, -1, seen)
		if err != nil {
			return err
		}
		switch name {
		case "resourceDesc":
			r.Desc = t
		case "mimeType":
			r.MimeType = t
		case "size":
			r.Size, err = strconv.ParseInt(t, 10, 64)
			if err != nil || r.Size < 0 {
				return pathErr(cpath, ErrInvalid, "%q is not a size in bytes", truncate(t, 40))
			}
		case "uri":
			r.URI = t
		case "derefUri":
			r.DerefURI = t
		case "digest":
			r.Digest = t
		default:
			return pathErr(cpath, ErrUnexpected, "<%s> is not a CAP %s resource element", name, p.version)
		}
		return nil
	})
	if err == nil && r.MimeType == "" && p.version != "1.2" {
		r.MimeType = "application/octet-stream" // optional before 1.2, required in 1.2
	}
	return r, err
}

func (p *parser) area(path string) (Area, error) {
	var ar Area
	seen := once{}
	npoly, ncircle := 0, 0
	err := p.capChildren(path, nil, func(name string) error {
		if name == "geocode" {
			nv, err := p.namedValue(fmt.Sprintf("%s/geocode[%d]", path, len(ar.Geocodes)))
			ar.Geocodes = append(ar.Geocodes, nv)
			return err
		}
		n := -1
		switch name {
		case "polygon":
			n = npoly
			npoly++
		case "circle":
			n = ncircle
			ncircle++
		}
		cpath, _, t, err := p.field(path, name, n, seen)
		if err != nil {
			return err
		}
		switch name {
		case "areaDesc":
			ar.Desc = t
		case "polygon":
			if t == "" {
				return nil // US NWS sends <polygon></polygon>: no polygon
			}
			pg, err := ParsePolygon(t)
			if err != nil {
				return pathErr(cpath, ErrInvalid, "%v", err)
			}
			ar.Polygons = append(ar.Polygons, pg)
		case "circle":
			if t == "" {
				return nil
			}
			c, err := ParseCircle(t)
			if err != nil {
				return pathErr(cpath, ErrInvalid, "%v", err)
			}
			ar.Circles = append(ar.Circles, c)
		case "altitude", "ceiling":
			f, err := strconv.ParseFloat(t, 64)
			if err != nil || !decimalRE.MatchString(t) {
				return pathErr(cpath, ErrInvalid, "%q is not a decimal number of feet", truncate(t, 40))
			}
			if name == "altitude" {
				ar.Altitude = &f
			} else {
				ar.Ceiling = &f
			}
		default:
			return pathErr(cpath, ErrUnexpected, "<%s> is not a CAP %s area element", name, p.version)
		}
		return nil
	})
	return ar, err
}
