package audio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	r := newTestRenderer(t, &fakeSynth{})
	res, err := r.Render(context.Background(), Programme{Attention: SignalYellow, Speech: bilingual[:1], Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/audio/", http.StripPrefix("/audio", r.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	wavURL := "/audio/" + res.SHA256 + ".wav"
	resp, body := get(wavURL, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("GET wav: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != res.SHA256 || int64(len(body)) != res.Size {
		t.Fatal("served bytes do not hash to the name")
	}
	if got := resp.Header.Get("ETag"); got != `"`+res.SHA256+`"` {
		t.Errorf("ETag %q", got)
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	if got := resp.Header.Get("Repr-Digest"); got != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" {
		t.Errorf("Repr-Digest %q", got)
	}
	if d, _ := DigestReader(bytes.NewReader(body)); d != res.SHA256 {
		t.Error("DigestReader disagrees")
	}

	// Range: a resuming speaker asks for the rest.
	resp, part := get(wavURL, map[string]string{"Range": "bytes=44-1043"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, body[44:1044]) {
		t.Errorf("Range: %d, %d bytes", resp.StatusCode, len(part))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 44-1043/%d", len(body)) {
		t.Errorf("Content-Range %q", cr)
	}
	resp, _ = get(wavURL, map[string]string{"If-None-Match": `"` + res.SHA256 + `"`})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}

	// G.711: 8 kHz, one byte per sample, same length in time.
	for _, f := range []Format{FormatPCMU, FormatPCMA} {
		resp, g := get("/audio/"+res.SHA256+"."+f.String(), nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "audio/"+strings.ToUpper(f.String())) {
			t.Fatalf("%v: %d %q", f, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if want := res.Duration.Seconds() * G711Rate; abs(len(g)-int(want)) > 1 {
			t.Errorf("%v: %d bytes for %v", f, len(g), res.Duration)
		}
		if et := resp.Header.Get("ETag"); et == `"`+res.SHA256+`"` || et == "" {
			t.Errorf("%v: ETag %q must differ from the WAV's", f, et)
		}
		// Second request is served from the derived cache file.
		if resp2, g2 := get("/audio/"+res.SHA256+"."+f.String(), nil); resp2.StatusCode != 200 || !bytes.Equal(g, g2) {
			t.Errorf("%v: second fetch differs", f)
		}
	}
	if _, err := os.Stat(filepath.Join(r.g711Dir, res.SHA256+".pcmu")); err != nil {
		t.Error("derived PCMU not cached")
	}

	for path, want := range map[string]int{
		"/audio/" + strings.Repeat("0", 64) + ".wav":     404,
		"/audio/" + res.SHA256 + ".mp3":                  404,
		"/audio/" + res.SHA256:                           404,
		"/audio/" + strings.ToUpper(res.SHA256) + ".wav": 404,
		"/audio/../../etc/passwd":                        404,
		"/audio/x.wav":                                   404,
	} {
		if resp, _ := get(path, nil); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp2, err := srv.Client().Post(srv.URL+wavURL, "audio/wav", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp2.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+wavURL, nil)
	if resp3, err := srv.Client().Do(req); err != nil || resp3.StatusCode != 200 || resp3.ContentLength != res.Size {
		t.Errorf("HEAD: %v %v", err, resp3)
	}
}

func TestOpenFormatErrors(t *testing.T) {
	r := newTestRenderer(t, nil)
	if _, _, err := r.Open("nope"); err == nil {
		t.Error("Open(nope)")
	}
	if _, _, err := r.OpenFormat(strings.Repeat("a", 64), FormatPCMU); err == nil {
		t.Error("OpenFormat unknown")
	}
	if _, _, err := r.OpenFormat(strings.Repeat("a", 64), FormatUnknown); err == nil {
		t.Error("OpenFormat(FormatUnknown)")
	}
	if f, err := ParseFormat("PCMA"); err != nil || f != FormatPCMA || f.String() != "pcma" {
		t.Errorf("ParseFormat: %v %v", f, err)
	}
	if _, err := ParseFormat("ogg"); err == nil {
		t.Error("ParseFormat(ogg)")
	}
}
