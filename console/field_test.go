package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// getField serves GET path, with the headers hdr, from the field page's handler.
func getField(t *testing.T, path string, hdr map[string]string) *http.Response {
	t.Helper()
	return serve(FieldHandler(), path, hdr)
}

// The field page is opened on a phone over a weak link: everything it
// loads (page, script, style, manifest, service worker) stays within
// issue 21's budget of 150 KB gzipped.
func TestFieldPageWeight(t *testing.T) {
	idx, _ := io.ReadAll(getField(t, "/field/", nil).Body)
	paths := []string{"/field/", "/field/sw.js"}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/field/[^"]+)"`).FindAllSubmatch(idx, -1) {
		paths = append(paths, string(m[1]))
	}
	if len(paths) < 5 {
		t.Fatalf("the field page references only %v", paths)
	}
	total := 0
	for _, p := range paths {
		res := getField(t, p, map[string]string{"Accept-Encoding": "gzip"})
		if res.StatusCode != 200 {
			t.Fatalf("%s answers %d", p, res.StatusCode)
		}
		b, _ := io.ReadAll(res.Body)
		t.Logf("%-30s %7d bytes on the wire", p, len(b))
		total += len(b)
	}
	t.Logf("total %d bytes gzipped (budget 150 KB)", total)
	if total > 150*1024 {
		t.Errorf("the field page weighs %d bytes gzipped, budget %d", total, 150*1024)
	}
}

func TestFieldPageServes(t *testing.T) {
	res := getField(t, "/field/", nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/field/: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "worker-src 'self'", "img-src 'self' data: blob:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if res := getField(t, "/field/sw.js", nil); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("service worker: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := getField(t, "/field/manifest.webmanifest", nil); res.Header.Get("Content-Type") != "application/manifest+json" {
		t.Errorf("manifest: %s", res.Header.Get("Content-Type"))
	}
	if res := getField(t, "/field/nope.js", nil); res.StatusCode != 404 {
		t.Errorf("unknown file: %d", res.StatusCode)
	}
	// Every file the service worker keeps for offline use exists.
	sw, _ := io.ReadAll(getField(t, "/field/sw.js", nil).Body)
	m := regexp.MustCompile(`const SHELL = \[([^\]]*)\]`).FindSubmatch(sw)
	if m == nil {
		t.Fatal("sw.js: no SHELL list")
	}
	for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllSubmatch(m[1], -1) {
		if res := getField(t, string(q[1]), nil); res.StatusCode != 200 {
			t.Errorf("sw.js keeps %s, which answers %d", q[1], res.StatusCode)
		}
	}
}

// No innerHTML and friends: server and user strings go in with textContent.
func TestFieldScriptsSetTextOnly(t *testing.T) {
	for _, p := range []string{"/field/field.js", "/field/sw.js", "/console/reports.js"} {
		var b []byte
		if strings.HasPrefix(p, "/field/") {
			b, _ = io.ReadAll(getField(t, p, nil).Body)
		} else {
			rec := httptest.NewRecorder()
			Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			b = rec.Body.Bytes()
		}
		if len(b) == 0 {
			t.Fatalf("%s: empty", p)
		}
		if loc := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`).FindIndex(b); loc != nil {
			t.Errorf("%s: %q", p, b[loc[0]:loc[1]])
		}
	}
}
