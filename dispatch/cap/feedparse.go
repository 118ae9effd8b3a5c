package cap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxFeedSize bounds an upstream feed. A national feed of active warnings
// (the US NWS Atom feed is the largest public one) is a few megabytes.
const MaxFeedSize = 16 << 20

// FeedItem is one entry of an upstream Atom or RSS feed of CAP alerts.
type FeedItem struct {
	ID      string    // atom:id or RSS guid (else the link)
	Updated time.Time // atom:updated or RSS pubDate; zero when absent or unreadable
	Title   string
	// CAPURL is the entry's link to its CAP document: the first link of
	// type application/cap+xml, else the alternate link. It may be
	// relative to the feed's URL.
	CAPURL string
}

// ParseFeed reads an Atom 1.0 or RSS 2.0 feed that lists CAP alerts (the
// form MeteoAlarm, the US NWS and IPAWS, and Alertcast's own
// /api/v1/alerts.atom publish). The same hostile-input rules as Parse
// apply: DOCTYPE refused, size and depth limited.
func ParseFeed(r io.Reader) ([]FeedItem, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("cap: reading feed: %w", err)
	}
	if len(data) > MaxFeedSize {
		return nil, fmt.Errorf("cap: feed: %w: more than %d bytes", ErrTooLarge, MaxFeedSize)
	}
	src, err := toUTF8(data)
	if err != nil {
		return nil, fmt.Errorf("cap: feed: %w", err)
	}
	// First pass: refuse directives, bound depth, find the root.
	p := &parser{src: src, d: xml.NewDecoder(bytes.NewReader(src))}
	p.d.Strict = true
	p.d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	root, err := p.scan()
	if err != nil {
		return nil, fmt.Errorf("cap: feed: %w", err)
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	d.CharsetReader = p.d.CharsetReader
	switch {
	case root.Space == NamespaceAtom && root.Local == "feed":
		return atomItems(d)
	case root.Local == "rss":
		return rssItems(d)
	}
	return nil, fmt.Errorf("cap: feed: %w: root element <%s> in %q is neither an Atom feed nor RSS 2.0", ErrNamespace, root.Local, root.Space)
}

func atomItems(d *xml.Decoder) ([]FeedItem, error) {
	var f struct {
		Entries []struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Updated string `xml:"updated"`
			Links   []struct {
				Rel  string `xml:"rel,attr"`
				Type string `xml:"type,attr"`
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"http://www.w3.org/2005/Atom entry"`
	}
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("cap: feed: %w: %v", ErrNotWellFormed, err)
	}
	items := make([]FeedItem, 0, len(f.Entries))
	for i, e := range f.Entries {
		it := FeedItem{ID: strings.TrimSpace(e.ID), Title: strings.TrimSpace(e.Title)}
		it.Updated, _ = time.Parse(time.RFC3339, strings.TrimSpace(e.Updated))
		for _, l := range e.Links {
			if strings.EqualFold(strings.TrimSpace(l.Type), MIMEType) {
				it.CAPURL = strings.TrimSpace(l.Href)
				break
			}
		}
		if it.CAPURL == "" {
			for _, l := range e.Links {
				if l.Rel == "" || l.Rel == "alternate" {
					it.CAPURL = strings.TrimSpace(l.Href)
					break
				}
			}
		}
		if it.CAPURL == "" {
			return nil, pathErr(fmt.Sprintf("feed/entry[%d]/link", i), ErrMissing, "no link to a CAP document")
		}
		if it.ID == "" {
			it.ID = it.CAPURL
		}
		items = append(items, it)
	}
	return items, nil
}

func rssItems(d *xml.Decoder) ([]FeedItem, error) {
	var f struct {
		Items []struct {
			GUID      string `xml:"guid"`
			Title     string `xml:"title"`
			Link      string `xml:"link"`
			PubDate   string `xml:"pubDate"`
			Enclosure []struct {
				Type string `xml:"type,attr"`
				URL  string `xml:"url,attr"`
			} `xml:"enclosure"`
		} `xml:"channel>item"`
	}
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("cap: feed: %w: %v", ErrNotWellFormed, err)
	}
	items := make([]FeedItem, 0, len(f.Items))
	for i, e := range f.Items {
		it := FeedItem{ID: strings.TrimSpace(e.GUID), Title: strings.TrimSpace(e.Title), CAPURL: strings.TrimSpace(e.Link)}
		for _, enc := range e.Enclosure {
			if strings.EqualFold(enc.Type, MIMEType) {
				it.CAPURL = strings.TrimSpace(enc.URL)
			}
		}
		it.Updated, _ = time.Parse(time.RFC1123Z, strings.TrimSpace(e.PubDate))
		if it.CAPURL == "" {
			return nil, pathErr(fmt.Sprintf("rss/channel/item[%d]/link", i), ErrMissing, "no link to a CAP document")
		}
		if it.ID == "" {
			it.ID = it.CAPURL
		}
		items = append(items, it)
	}
	return items, nil
}

// scan reads the whole document once, refusing directives and enforcing
// the depth limit, and returns the root element's name.
func (p *parser) scan() (xml.Name, error) {
	var root xml.Name
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			if root.Local == "" {
				return root, fmt.Errorf("%w: no root element", ErrNotWellFormed)
			}
			return root, nil
		}
		if err != nil {
			return root, fmt.Errorf("%w: %v", ErrNotWellFormed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return root, fmt.Errorf("%w (found <!%s>)", ErrDoctype, truncate(string(t), 40))
		case xml.StartElement:
			if root.Local == "" {
				root = t.Name
			}
			p.depth++
			if p.depth > MaxDepth {
				return root, pathErr(t.Name.Local, ErrTooDeep, "more than %d levels", MaxDepth)
			}
		case xml.EndElement:
			p.depth--
		}
	}
}
