// Package console is the duty officer console: the browser application in
// which a graded warning is composed, previewed, approved, watched until every
// loudspeaker and phone has it, and ended. It is plain HTML, CSS and
// JavaScript embedded with go:embed — no build step, no CDN, no external
// library — because it runs on a government network without internet.
//
// The console talks only to the public HTTP API (/api/v1) and, for live
// progress, the WebSocket channel (/ws); it never reaches into dispatch. The
// package serves static files, the county outline and the approximate
// township map (geometry derived from village locations it is handed,
// cached per population version); it must never hold sessions, secrets or
// any state of its own.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/alertcast/alertcast/targeting"
)

//go:embed static
var staticFS embed.FS

// AssetPrefix is the URL path under which the console's files are served.
const AssetPrefix = "/console/"

// ContentSecurityPolicy is sent with every console response: scripts,
// styles, images and media only from the server itself; connections to the
// same origin (HTTP and WebSocket).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

type asset struct {
	body  []byte
	gz    []byte
	ctype string
	etag  string
}

// site is a set of embedded pages served under one security policy: built
// once, on first use.
type site struct {
	name  string
	build func() (map[string]*asset, error)
	// csp is the page's Content-Security-Policy; permissions, when set, its
	// Permissions-Policy.
	csp, permissions string

	once   sync.Once
	assets map[string]*asset // by URL path
	err    error
}

var consoleSite = &site{name: "console", build: build, csp: ContentSecurityPolicy}

// Handler serves the console: the application at "/" and its files under
// "/console/" (including /console/outline.json, the county outline built
// from the targeting package's embedded GeoJSON). Mount it for
// "GET /{$}" and "GET /console/" so the API keeps its own 404/405 answers.
func Handler() http.Handler { return consoleSite.handler() }

// Paths lists the URL paths the console serves, for tests and page-weight
// checks.
func Paths() []string { return consoleSite.paths() }

func (s *site) load() map[string]*asset {
	s.once.Do(func() { s.assets, s.err = s.build() })
	if s.err != nil {
		// The files are embedded: a failure here is a build defect that the
		// package tests catch.
		panic(fmt.Sprintf("console: %s: %v", s.name, s.err))
	}
	return s.assets
}

func (s *site) handler() http.Handler {
	s.load()
	return http.HandlerFunc(s.serve)
}

func (s *site) paths() []string {
	assets := s.load()
	out := make([]string, 0, len(assets))
	for p := range assets {
		out = append(out, p)
	}
	return out
}

func build() (map[string]*asset, error) {
	out, err := embeddedAssets(staticFS, "static", AssetPrefix, "/", typeOf)
	if err != nil {
		return nil, err
	}
	if out["/"] == nil {
		return nil, fmt.Errorf("static/index.html missing")
	}
	ol, err := outlineJSON()
	if err != nil {
		return nil, err
	}
	out[AssetPrefix+"outline.json"] = newAsset(ol, "application/json; charset=utf-8")
	return out, nil
}

// embeddedAssets reads every file under root of fsys into an asset served
// at prefix + its path below root, index.html at index, typed by ctype.
func embeddedAssets(fsys embed.FS, root, prefix, index string, ctype func(rel string) string) (map[string]*asset, error) {
	out := map[string]*asset{}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fsys.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root+"/")
		url := prefix + rel
		if rel == "index.html" {
			url = index
		}
		out[url] = newAsset(b, ctype(rel))
		return nil
	})
	return out, err
}

func typeOf(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".md":
		return "text/markdown; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func newAsset(b []byte, ctype string) *asset {
	sum := sha256.Sum256(b)
	a := &asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	if buf.Len() < len(b) {
		a.gz = buf.Bytes()
	}
	return a
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if s.permissions != "" {
		h.Set("Permissions-Policy", s.permissions)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := s.assets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	serveAsset(w, r, a, s.csp)
}

// serveAsset answers a GET or HEAD with a (ETag, gzip when accepted) under
// the policy csp.
func serveAsset(w http.ResponseWriter, r *http.Request, a *asset, csp string) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	// Revalidate every time: an upgraded server must never run a stale
	// console against a newer API. On loopback or a LAN a 304 costs nothing.
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}

// Outline is the county outline as the console draws it: rings of
// [lon, lat] rounded to 1e-5 degrees (about a metre), with the bounding box.
type Outline struct {
	Name        string           `json:"name"`
	Code        string           `json:"code"`
	BBox        [4]float64       `json:"bbox"` // min lon, min lat, max lon, max lat
	Polygons    [][][][2]float64 `json:"polygons"`
	Attribution string           `json:"attribution"`
}

// outlineAttribution repeats targeting/data/README.md's source note.
const outlineAttribution = "Outline: DataV GeoAtlas (Alibaba/AutoNavi) via lyhmyd1211/GeoMapData_CN county/653122.json; " +
	"probably GCJ-02, not survey-grade; third-party data with unclear redistribution rights (see targeting/data/README.md)."

func outlineJSON() ([]byte, error) {
	mp := targeting.DefaultOutline()
	if len(mp) == 0 {
		return nil, fmt.Errorf("empty county outline")
	}
	b := mp.Bound()
	round := func(v float64) float64 { return math.Round(v*1e5) / 1e5 }
	o := Outline{Name: "疏勒县", Code: targeting.ShuleCounty, Attribution: outlineAttribution,
		BBox: [4]float64{round(b.Min[0]), round(b.Min[1]), round(b.Max[0]), round(b.Max[1])}}
	for _, poly := range mp {
		var rings [][][2]float64
		for _, ring := range poly {
			pts := make([][2]float64, 0, len(ring))
			for _, p := range ring {
				pts = append(pts, [2]float64{round(p[0]), round(p[1])})
			}
			rings = append(rings, pts)
		}
		o.Polygons = append(o.Polygons, rings)
	}
	return json.Marshal(o)
}
