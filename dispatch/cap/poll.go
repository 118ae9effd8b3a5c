package cap

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Poller fetches upstream CAP sources — Atom or RSS feeds listing CAP
// alerts, or single CAP documents — on an interval, with conditional GET
// (ETag / Last-Modified), and hands each alert it has not seen before to
// Handle.
//
// "Seen" is per process and keyed by sender and identifier (CAP's own
// uniqueness rule), so Handle must still ignore identifiers it stored before
// a restart. An item whose fetch or Handle fails is retried on the next
// round; a document Parse refuses is logged, counted and not retried until
// its feed entry changes.
type Poller struct {
	// Sources are the URLs to poll.
	Sources []string
	// Interval between rounds; zero means one minute.
	Interval time.Duration
	// Client does the fetching; nil means a client with a 30 s timeout.
	Client *http.Client
	// Handle receives each new alert with the raw bytes of the document it
	// came in and its URL. For an EDXL-DE envelope carrying several alerts,
	// raw is each alert re-written on its own by Marshal (so that Parse of
	// raw gives exactly that alert). It runs on the polling goroutine.
	// An error is retried next round, unless it wraps ErrPermanent: then
	// the alert is logged, counted and not offered again.
	Handle func(ctx context.Context, a *Alert, raw []byte, from string) error
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	once    sync.Once
	mu      sync.Mutex
	sources map[string]*sourceState
	seen    map[string]time.Time // sender + "\x00" + identifier → when first handled
	metrics *pollerMetrics
}

type sourceState struct {
	etag, lastModified string
	done               map[string]bool // feed entries handled or refused: ID + "\x00" + updated
}

type pollerMetrics struct {
	fetches *prometheus.CounterVec // by result: ok, not_modified, error
	alerts  *prometheus.CounterVec // by result: new, duplicate, refused, handler_error
}

// RegisterMetrics registers the poller's metrics on reg and attaches them
// to p. Call before Run; without it the poller keeps no metrics.
func (p *Poller) RegisterMetrics(reg prometheus.Registerer) error {
	m := &pollerMetrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_cap_poll_fetches_total", Help: "Fetches of upstream CAP feeds and documents, by result.",
		}, []string{"result"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_cap_poll_alerts_total", Help: "CAP alerts seen by the poller, by result (new, duplicate, refused, handler_refused, handler_error).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.fetches, m.alerts} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("cap poller metrics: %w", err)
		}
	}
	p.metrics = m
	return nil
}

func (p *Poller) count(vec func(*pollerMetrics) *prometheus.CounterVec, result string) {
	if p.metrics != nil {
		vec(p.metrics).WithLabelValues(result).Inc()
	}
}

func fetchesOf(m *pollerMetrics) *prometheus.CounterVec { return m.fetches }
func alertsOf(m *pollerMetrics) *prometheus.CounterVec  { return m.alerts }

func (p *Poller) init() {
	p.once.Do(func() {
		if p.Client == nil {
			p.Client = &http.Client{Timeout: 30 * time.Second}
		}
		if p.Logger == nil {
			p.Logger = slog.Default()
		}
		p.sources = map[string]*sourceState{}
		p.seen = map[string]time.Time{}
	})
}

// Run polls every Interval until ctx is done, starting at once. It returns
// ctx's error.
func (p *Poller) Run(ctx context.Context) error {
	interval := p.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.Logger.Warn("CAP poll round had errors", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Poll runs one round over all sources. The error joins each source's
// failure; one failing source does not stop the others.
func (p *Poller) Poll(ctx context.Context) error {
	if p.Handle == nil {
		return errors.New("cap: poller has no Handle")
	}
	p.init()
	p.mu.Lock() // one round at a time
	defer p.mu.Unlock()
	var errs []error
	for _, src := range p.Sources {
		if err := p.pollSource(ctx, src); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
		}
	}
	// Forget identifiers long past: an alert a week old is not re-sent.
	for k, t := range p.seen {
		if time.Since(t) > 7*24*time.Hour {
			delete(p.seen, k)
		}
	}
	return errors.Join(errs...)
}

func (p *Poller) pollSource(ctx context.Context, src string) error {
	st := p.sources[src]
	if st == nil {
		st = &sourceState{done: map[string]bool{}}
		p.sources[src] = st
	}
	body, status, hdr, err := p.get(ctx, src, st.etag, st.lastModified, MaxFeedSize)
	if err != nil {
		p.count(fetchesOf, "error")
		return err
	}
	if status == http.StatusNotModified {
		p.count(fetchesOf, "not_modified")
		return nil
	}
	p.count(fetchesOf, "ok")
	root, err := rootName(body)
	if err != nil {
		return fmt.Errorf("cap: %w", err)
	}
	var errs []error
	switch root.Local {
	case "feed", "rss":
		items, err := ParseFeed(bytes.NewReader(body))
		if err != nil {
			return err
		}
		base, _ := url.Parse(src)
		done := map[string]bool{}
		for _, it := range items {
			key := it.ID + "\x00" + it.Updated.String()
			if st.done[key] {
				done[key] = true
				continue
			}
			ref, err := url.Parse(it.CAPURL)
			if err != nil {
				errs = append(errs, fmt.Errorf("entry %s: bad link %q", it.ID, it.CAPURL))
				continue
			}
			u := base.ResolveReference(ref).String()
			doc, status, _, err := p.get(ctx, u, "", "", MaxDocumentSize)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("HTTP %d", status)
			}
			if err != nil {
				p.count(fetchesOf, "error")
				errs = append(errs, fmt.Errorf("entry %s: %w", it.ID, err))
				continue // retried next round
			}
			p.count(fetchesOf, "ok")
			if err := p.deliver(ctx, doc, u); err != nil {
				errs = append(errs, fmt.Errorf("entry %s: %w", it.ID, err))
				continue
			}
			done[key] = true
		}
		st.done = done // only entries still in the feed are remembered
	default:
		if err := p.deliver(ctx, body, src); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		// Only a fully handled response may be skipped next time.
		st.etag, st.lastModified = hdr.Get("ETag"), hdr.Get("Last-Modified")
	}
	return errors.Join(errs...)
}

// deliver parses one CAP document and hands it on. A refused document is
// not an error of the round (it would never get better); a Handle failure
// is.
func (p *Poller) deliver(ctx context.Context, doc []byte, from string) error {
	alerts, err := ParseAll(bytes.NewReader(doc))
	if err != nil {
		p.count(alertsOf, "refused")
		p.Logger.Warn("upstream CAP document refused", "url", from, "err", err)
		return nil
	}
	for _, a := range alerts {
		key := a.Sender + "\x00" + a.Identifier
		if _, ok := p.seen[key]; ok {
			p.count(alertsOf, "duplicate")
			continue
		}
		raw := doc
		if len(alerts) > 1 {
			if raw, err = a.Marshal(); err != nil {
				return fmt.Errorf("re-writing %s from its envelope: %w", a.Identifier, err)
			}
		}
		if err := p.Handle(ctx, a, raw, from); err != nil {
			if errors.Is(err, ErrPermanent) {
				p.count(alertsOf, "handler_refused")
				p.Logger.Warn("upstream CAP alert not imported", "url", from, "identifier", a.Identifier, "err", err)
				p.seen[key] = time.Now()
				continue
			}
			p.count(alertsOf, "handler_error")
			return fmt.Errorf("handling %s: %w", a.Identifier, err)
		}
		p.seen[key] = time.Now()
		p.count(alertsOf, "new")
	}
	return nil
}

// ErrPermanent marks a Handle error that retrying cannot cure (the alert
// references nothing known, is not a warning, breaks a rule): wrap it,
// e.g. fmt.Errorf("%w: %v", cap.ErrPermanent, err), and the poller will
// not offer the alert again.
var ErrPermanent = errors.New("permanent")

func (p *Poller) get(ctx context.Context, u, etag, lastModified string, limit int64) ([]byte, int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Accept", MIMEType+", application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.1")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return nil, resp.StatusCode, resp.Header, nil
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, resp.StatusCode, resp.Header, fmt.Errorf("HTTP %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, nil, err
	}
	if int64(len(body)) > limit {
		return nil, 0, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return body, resp.StatusCode, resp.Header, nil
}

// rootName returns the name of the document's root element, refusing
// DOCTYPEs like Parse.
func rootName(data []byte) (xml.Name, error) {
	src, err := toUTF8(data)
	if err != nil {
		return xml.Name{}, err
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}, fmt.Errorf("%w: %v", ErrNotWellFormed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return xml.Name{}, fmt.Errorf("%w (found <!%s>)", ErrDoctype, truncate(string(t), 40))
		case xml.StartElement:
			return t.Name, nil
		}
	}
}
