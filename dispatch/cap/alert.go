package cap

import (
	"time"
)

// Namespaces.
const (
	Namespace12 = "urn:oasis:names:tc:emergency:cap:1.2"
	Namespace11 = "urn:oasis:names:tc:emergency:cap:1.1"
	// Namespace10 is CAP 1.0, read for import only.
	Namespace10 = "http://www.incident.com/cap/1.0"
	// NamespaceEDXLDE is the OASIS EDXL Distribution Element 1.0 envelope.
	NamespaceEDXLDE = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
	// NamespaceXMLDSig is the W3C XML digital signature namespace.
	NamespaceXMLDSig = "http://www.w3.org/2000/09/xmldsig#"
	// MIMEType is the media type of a CAP document.
	MIMEType = "application/cap+xml"
)

// Alert is a CAP 1.2 <alert>: the message envelope.
type Alert struct {
	// Version is the CAP version the document was read in: "1.2", "1.1" or "1.0".
	// Marshal always writes 1.2. Empty means 1.2.
	Version string

	Identifier  string    // unique per sender; no spaces, commas, '<' or '&'
	Sender      string    // globally unique sender id, same character rules
	Sent        time.Time // with its original UTC offset
	Status      Status
	MsgType     MsgType
	Source      string
	Scope       Scope
	Restriction string // when Scope is Restricted
	Addresses   string // space-separated, required when Scope is Private
	Codes       []string
	Note        string
	References  []Reference // earlier messages this one updates, cancels, acknowledges
	Incidents   string      // space-separated incident ids
	Infos       []Info

	// Signatures holds each xmldsig <Signature> element verbatim (UTF-8), as
	// received. Parse does not verify them (VerifySignature does, on the
	// original document) and Marshal does not write them.
	Signatures [][]byte
}

// Reference names an earlier message: the "sender,identifier,sent" triple of
// CAP's <references>.
type Reference struct {
	Sender     string
	Identifier string
	Sent       time.Time
}

// Info is one <info> block: the alert in one language.
type Info struct {
	Language      string // RFC 3066 tag; empty means CAP's default "en-US"
	Categories    []Category
	Event         string
	ResponseTypes []ResponseType
	Urgency       Urgency
	Severity      Severity
	Certainty     Certainty
	Audience      string
	EventCodes    []NamedValue
	Effective     time.Time // zero: absent (effective when sent)
	Onset         time.Time // zero: absent
	Expires       time.Time // zero: absent
	SenderName    string
	Headline      string
	Description   string
	Instruction   string
	Web           string
	Contact       string
	Parameters    []NamedValue
	Resources     []Resource
	Areas         []Area
}

// NamedValue is CAP's valueName/value pair (eventCode, parameter, geocode).
type NamedValue struct {
	ValueName string
	Value     string
}

// Resource is a <resource>: a file (audio, image, map) related to the info.
type Resource struct {
	Desc     string // resourceDesc
	MimeType string
	Size     int64 // bytes; 0 means absent
	URI      string
	DerefURI string // base64 content, when sent inline
	Digest   string // SHA-1 hex of the resource
}

// Area is an <area>: a description plus any polygons, circles and geocodes.
type Area struct {
	Desc     string // areaDesc
	Polygons []Polygon
	Circles  []Circle
	Geocodes []NamedValue
	Altitude *float64 // feet above mean sea level (CAP's unit)
	Ceiling  *float64 // feet; only with Altitude
}

// Point is a WGS 84 coordinate.
type Point struct {
	Lat, Lon float64
}

// Polygon is a closed ring: the first and last points are equal and there are
// at least four points.
type Polygon []Point

// Circle is a centre and a radius in kilometres.
type Circle struct {
	Center   Point
	RadiusKm float64
}

// Lang returns the info's language, applying CAP's default "en-US".
func (in *Info) Lang() string {
	if in.Language == "" {
		return "en-US"
	}
	return in.Language
}

// ExpiresAt returns the latest <expires> over all info blocks and whether
// any block has one. CAP allows an alert without expiry; callers decide a
// default.
func (a *Alert) ExpiresAt() (time.Time, bool) {
	var latest time.Time
	for i := range a.Infos {
		if e := a.Infos[i].Expires; !e.IsZero() && e.After(latest) {
			latest = e
		}
	}
	return latest, !latest.IsZero()
}
