package audio

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"
	"time"
)

// Handler serves rendered programmes, wherever it is mounted:
//
//	GET /…/{sha256}.wav    PCM16 mono WAV (audio/wav)
//	GET /…/{sha256}.pcmu   raw G.711 µ-law 8 kHz (audio/PCMU)
//	GET /…/{sha256}.pcma   raw G.711 A-law 8 kHz (audio/PCMA)
//
// Content never changes under a name, so responses carry a strong ETag,
// Cache-Control immutable, Range support (via http.ServeContent) and, for
// the WAV, Repr-Digest (RFC 9530) so a device can check the hash it was given
// before playing. HEAD works too; other methods get 405.
func (r *Renderer) Handler() http.Handler {
	return http.HandlerFunc(r.serveHTTP)
}

func (r *Renderer) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Base(req.URL.Path)
	sha, ext, ok := strings.Cut(name, ".")
	if !ok || !reSHA256.MatchString(sha) {
		http.Error(w, "want /{sha256}.wav, .pcmu or .pcma", http.StatusNotFound)
		return
	}
	f, err := ParseFormat(ext)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	file, _, err := r.OpenFormat(sha, f)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			http.Error(w, "no such programme", http.StatusNotFound)
			return
		}
		r.log.Error("audio: serve", "sha256", sha, "format", f, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer file.Close()
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	switch f {
	case FormatWAV:
		h.Set("Content-Type", "audio/wav")
		h.Set("ETag", `"`+sha+`"`)
		raw, _ := hex.DecodeString(sha)
		h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(raw)+":")
	case FormatPCMU, FormatPCMA:
		h.Set("Content-Type", "audio/"+strings.ToUpper(f.String())+";rate=8000")
		h.Set("ETag", `"`+sha+"-"+f.String()+`"`)
	}
	http.ServeContent(w, req, "", time.Time{}, file)
}

// DigestReader returns the hex SHA-256 of everything read from rd: what a
// device computes over a download to compare with Rendered.SHA256.
func DigestReader(rd io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
