package console

import (
	"embed"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// The field page (/field/) is what a field team opens on a phone to send a
// report (灾情报送) back to the command centre. It is its own small page,
// not a console route: it must load fast on a weak mobile link, work
// offline (a service worker keeps its files; reports wait in IndexedDB
// until the network returns) and show only what a field team needs.

//go:embed field
var fieldFS embed.FS

// FieldPrefix is the URL path of the field page and its files.
const FieldPrefix = "/field/"

// FieldContentSecurityPolicy adds to the console's policy what the field
// page needs: its service worker, photo previews from blob: URLs, the
// manifest.
const FieldContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

var (
	fieldOnce   sync.Once
	fieldAssets map[string]*asset
	fieldErr    error
)

// FieldHandler serves the field page at /field/ and its files under it.
// Mount it for "GET /field/".
func FieldHandler() http.Handler {
	fieldOnce.Do(func() { fieldAssets, fieldErr = buildField() })
	if fieldErr != nil {
		panic(fmt.Sprintf("console: field page: %v", fieldErr))
	}
	return http.HandlerFunc(serveField)
}

// FieldPaths lists the URL paths of the field page, for page-weight checks.
func FieldPaths() []string {
	FieldHandler()
	out := make([]string, 0, len(fieldAssets))
	for p := range fieldAssets {
		out = append(out, p)
	}
	return out
}

func buildField() (map[string]*asset, error) {
	out, err := embeddedAssets(fieldFS, "field", FieldPrefix, FieldPrefix, func(rel string) string {
		if strings.HasSuffix(rel, ".webmanifest") {
			return "application/manifest+json"
		}
		return typeOf(rel)
	})
	if err != nil {
		return nil, err
	}
	if out[FieldPrefix] == nil {
		return nil, fmt.Errorf("field/index.html missing")
	}
	return out, nil
}

func serveField(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", FieldContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// The page asks for the device's position; nothing else may.
	h.Set("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := fieldAssets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
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
