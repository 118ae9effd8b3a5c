package console

import (
	"github.com/alertcast/alertcast/targeting"

	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves GET path, with the headers hdr, from the console's handler.
func get(t *testing.T, path string, hdr map[string]string) *http.Response {
	t.Helper()
	return serve(Handler(), path, hdr)
}

func serve(h http.Handler, path string, hdr map[string]string) *http.Response {
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesIndexAndAssets(t *testing.T) {
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="/console/app.js"`},
		{"/console/app.js", "text/javascript; charset=utf-8", "use strict"},
		{"/console/templates.js", "text/javascript; charset=utf-8", "ALERT_TEMPLATES"},
		{"/console/app.css", "text/css; charset=utf-8", "--red"},
		{"/console/outline.json", "application/json; charset=utf-8", `"code":"653122"`},
	} {
		res := get(t, tc.path, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", tc.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !bytes.Contains(body, []byte(tc.contains)) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q does not restrict scripts to the server", tc.path, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: missing nosniff / frame DENY headers", tc.path)
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	for _, p := range []string{"/console/", "/console/nope.js", "/index.html", "/console/../console.go", "/console/static/app.js"} {
		if res := get(t, p, nil); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("x")))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow=%q, want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("HEAD", "/console/app.js", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestGzipAndETag(t *testing.T) {
	plain := get(t, "/console/app.js", nil)
	want, _ := io.ReadAll(plain.Body)
	res := get(t, "/console/app.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip for Accept-Encoding: br, gzip")
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, want) {
		t.Fatalf("gzip body differs from the plain one")
	}
	etag := res.Header.Get("ETag")
	if etag == "" || etag != plain.Header.Get("ETag") {
		t.Fatalf("ETag %q vs %q", etag, plain.Header.Get("ETag"))
	}
	if r := get(t, "/console/app.js", map[string]string{"If-None-Match": etag}); r.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", r.StatusCode)
	}
	if r := get(t, "/console/app.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still got gzip")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"br": false, "*": true, "gzip;q=x": false, "identity": false,
	} {
		if got := acceptsGzip(ae); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}

func TestOutline(t *testing.T) {
	res := get(t, "/console/outline.json", nil)
	var o Outline
	if err := json.NewDecoder(res.Body).Decode(&o); err != nil {
		t.Fatal(err)
	}
	// Shule County: bbox ≈ 75.875–76.892 E, 38.858–39.498 N (targeting/data/README.md).
	b := o.BBox
	if b[0] < 75.8 || b[0] > 75.9 || b[2] < 76.8 || b[2] > 76.95 || b[1] < 38.8 || b[1] > 38.9 || b[3] < 39.45 || b[3] > 39.55 {
		t.Errorf("bbox %v is not Shule County's", b)
	}
	pts := 0
	for _, poly := range o.Polygons {
		for _, ring := range poly {
			if len(ring) < 4 || ring[0] != ring[len(ring)-1] {
				t.Errorf("ring of %d points is not closed", len(ring))
			}
			pts += len(ring)
		}
	}
	if pts < 500 {
		t.Errorf("outline has %d points, want the full 810-vertex ring", pts)
	}
	if !strings.Contains(o.Attribution, "DataV") {
		t.Errorf("attribution missing: %q", o.Attribution)
	}
}

// TestPageWeight sums the gzip sizes of everything the index loads before
// the first render (scripts, styles, the outline) and holds it to 300 KB.
func TestPageWeight(t *testing.T) {
	idx, _ := io.ReadAll(get(t, "/", nil).Body)
	paths := []string{"/", "/console/outline.json"} // the outline is fetched at start
	for _, m := range regexp.MustCompile(`(?:src|href)="(/console/[^"]+)"`).FindAllSubmatch(idx, -1) {
		paths = append(paths, string(m[1]))
	}
	if len(paths) < 5 {
		t.Fatalf("index references only %v", paths)
	}
	total := 0
	for _, p := range paths {
		res := get(t, p, map[string]string{"Accept-Encoding": "gzip"})
		if res.StatusCode != 200 {
			t.Fatalf("index references %s, which answers %d", p, res.StatusCode)
		}
		b, _ := io.ReadAll(res.Body)
		t.Logf("%-24s %7d bytes on the wire", p, len(b))
		total += len(b)
	}
	// The compose page also fetches the township map; its size follows the
	// population (here 3,000 loudspeakers over all 251 villages).
	src := &fakeVillages{pts: syntheticVillages(t, 3000, 1)}
	src.version.Store("weight")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/console/townships.json", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	TownshipsHandler(TownshipsConfig{Tree: targeting.DefaultTree, Villages: src}).ServeHTTP(rec, req)
	t.Logf("%-24s %7d bytes on the wire", "/console/townships.json", rec.Body.Len())
	total += rec.Body.Len()
	t.Logf("total %d bytes gzipped (budget 300 KB)", total)
	if total > 300*1024 {
		t.Errorf("console weighs %d bytes gzipped, budget %d", total, 300*1024)
	}
}

// TestNoExternalResources: the console runs on a network without internet,
// so no file may load anything from another origin.
func TestNoExternalResources(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import|fetch\(\s*["']https?:|new WebSocket\(\s*["']wss?://`)
	for _, p := range Paths() {
		res := get(t, p, nil)
		b, _ := io.ReadAll(res.Body)
		if loc := ext.FindIndex(b); loc != nil {
			t.Errorf("%s loads an external resource: %q", p, b[loc[0]:min(loc[1]+40, len(b))])
		}
	}
}

// TestTemplatesCoverLevels checks the template table's shape: every level
// named in both languages, and the drafts marked for review by the bureau.
func TestTemplatesMarkedForReview(t *testing.T) {
	b, _ := io.ReadAll(get(t, "/console/templates.js", nil).Body)
	for _, s := range []string{"TO BE REVIEWED", "reviewed: false", "蓝色", "黄色", "橙色", "红色", "كۆك", "سېرىق", "قىزىل"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("templates.js lacks %q", s)
		}
	}
}

// FuzzAcceptsGzip: the Accept-Encoding header comes from any client; the
// parser must never panic, and gzip must be refused when not named (or *).
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip;q=0", "br;q=1, gzip;q=0.001", "*;q=0", ";;;,,,", "gzip;q=", "GZip ; q=1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		got := acceptsGzip(ae)
		if got && !strings.Contains(strings.ToLower(ae), "gzip") && !strings.Contains(ae, "*") {
			t.Fatalf("acceptsGzip(%q) = true without gzip or *", ae)
		}
	})
}
