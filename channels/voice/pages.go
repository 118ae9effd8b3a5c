package voice

import (
	"embed"
	"net/http"
	"path"
	"strings"
)

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
}

// pages holds the command-centre and field pages: plain HTML and JavaScript,
// nothing loaded from a CDN (the command centre may be cut off from the
// internet on the worst night).
//
//go:embed pages/*.html pages/*.js pages/*.css pages/*.json
var pages embed.FS

// PagesHandler serves the pages (mounted at /voice/): the command centre at
// /voice/, the field page at /voice/field. It also works unprefixed.
func (s *Server) PagesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/voice")
		var name string
		switch p {
		case "", "/", "/index.html":
			name = "index.html"
		case "/field", "/field.html":
			name = "field.html"
		default:
			name = strings.TrimPrefix(p, "/")
		}
		ctype := contentTypes[path.Ext(name)]
		if ctype == "" || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		name = "pages/" + name
		b, err := pages.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		// Microphone for this origin only; no framing by other sites.
		h.Set("Permissions-Policy", "microphone=(self)")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; frame-ancestors 'none'")
		_, _ = w.Write(b)
	})
}
