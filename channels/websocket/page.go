package websocket

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

//go:embed page/index.html page/app.js page/app.css
var pageFS embed.FS

// asset is one file of the resident page, kept plain and gzipped.
type asset struct {
	ctype string
	plain []byte
	gz    []byte
	etag  string
	cache string
}

func newAsset(ctype, cache string, b []byte) *asset {
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	sum := sha256.Sum256(b)
	return &asset{ctype: ctype, plain: b, gz: z.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, cache: cache}
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", a.cache)
	h.Set("ETag", a.etag)
	h.Add("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.plain
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

type pageRegion struct {
	Code     string       `json:"code"`
	Name     string       `json:"name"`
	NameUG   string       `json:"name_ug,omitempty"`
	Villages []pageRegion `json:"villages,omitempty"`
}

// regionsJSON lists townships and their villages for the chooser.
func regionsJSON(dir Directory) []byte {
	var out struct {
		Townships []pageRegion `json:"townships"`
	}
	place := func(code string) pageRegion {
		zh, ug := dir.Names(code)
		return pageRegion{Code: code, Name: zh, NameUG: ug}
	}
	for _, t := range dir.Townships() {
		pr := place(t)
		for _, v := range dir.Villages(t) {
			pr.Villages = append(pr.Villages, place(v))
		}
		out.Townships = append(out.Townships, pr)
	}
	b, _ := json.Marshal(out)
	return b
}

// PageHandler serves the resident page (mount at /r/): /r/ lets a resident
// choose village and language once (kept in localStorage), /r/{code}?lang=ug
// shows that region's warnings live. Assets are embedded, gzipped, and small
// enough for a slow link (about 6 KB compressed in all).
func (h *Hub) PageHandler() http.Handler {
	var once sync.Once
	var index, js, css, regions *asset
	var indexLang map[string]*asset
	load := func() {
		read := func(n string) []byte { b, _ := pageFS.ReadFile("page/" + n); return b }
		index = newAsset("text/html; charset=utf-8", "no-cache", read("index.html"))
		indexLang = map[string]*asset{}
		for _, l := range []string{"zh", "ug"} {
			indexLang[l] = newAsset("text/html; charset=utf-8", "no-cache", indexFor(read("index.html"), l))
		}
		js = newAsset("text/javascript; charset=utf-8", "public, max-age=300", read("app.js"))
		css = newAsset("text/css; charset=utf-8", "public, max-age=300", read("app.css"))
		regions = newAsset("application/json", "public, max-age=3600", regionsJSON(h.cfg.Regions))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "method", "GET only")
			return
		}
		once.Do(load)
		i := strings.LastIndex(r.URL.Path, "/r/")
		rest := r.URL.Path
		if i >= 0 {
			rest = rest[i+3:]
		} else {
			rest = strings.TrimPrefix(rest, "/")
		}
		switch rest = strings.TrimSuffix(rest, "/"); {
		case rest == "" || rest == "index.html":
			index.serve(w, r)
		case rest == "app.js":
			js.serve(w, r)
		case rest == "app.css":
			css.serve(w, r)
		case rest == "regions.json":
			regions.serve(w, r)
		case strings.HasSuffix(rest, "/guidance") && wellFormedCode(strings.TrimSuffix(rest, "/guidance")):
			h.serveGuidance(w, r, strings.TrimSuffix(rest, "/guidance"))
		case wellFormedCode(rest):
			if !h.knownRegion(rest) {
				notFound(w, r, rest)
				return
			}
			// The first language depends on the browser and the village.
			w.Header().Set("Vary", "Accept-Language")
			indexLang[h.pageLanguage(r, rest)].serve(w, r)
		default:
			notFound(w, r, rest)
		}
	})
}
