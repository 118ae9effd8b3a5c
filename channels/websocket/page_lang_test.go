package websocket

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/internal/testsvc"
)

func TestAcceptedLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                           "",
		"en-US,en;q=0.9":             "",
		"zh-CN,zh;q=0.9,en;q=0.8":    "zh",
		"ug-CN,ug;q=0.9,zh-CN;q=0.8": "ug",
		"zh-CN;q=0.5, ug;q=0.8":      "ug",
		"ug;q=0, zh;q=0.1":           "zh",
		"ug;q=bogus, zh;q=0.1":       "zh",
		"UG":                         "ug",
	} {
		if got := acceptedLanguage(h); got != want {
			t.Errorf("acceptedLanguage(%q) = %q, want %q", h, got, want)
		}
	}
}

func get(t *testing.T, url, acceptLang string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if acceptLang != "" {
		req.Header.Set("Accept-Language", acceptLang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The page opens in the browser's language, else the village's majority
// language, else Mandarin.
func TestPageFirstLanguage(t *testing.T) {
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, func(c *Config) {
		c.VillageLanguage = func(v string) string {
			if v == village {
				return "ug"
			}
			return ""
		}
	})
	for _, tc := range []struct{ code, accept, want string }{
		{village, "", "ug"},                // the village reads Uyghur
		{village, "en-US", "ug"},           // a language we do not have: still the village's
		{village, "zh-CN,zh;q=0.9", "zh"},  // the browser asks for Mandarin
		{otherVil, "", "zh"},               // unknown majority
		{otherVil, "ug-CN,en;q=0.5", "ug"}, // the browser asks for Uyghur
	} {
		code, hdr, body := get(t, n.srv.URL+"/r/"+tc.code, tc.accept)
		if code != 200 || !strings.Contains(body, `data-lang="`+tc.want+`"`) {
			t.Errorf("%s with %q: HTTP %d, want data-lang %s in %.200s", tc.code, tc.accept, code, tc.want, body)
		}
		if !strings.Contains(strings.Join(hdr.Values("Vary"), ","), "Accept-Language") {
			t.Errorf("Vary = %q: caches must not mix languages", hdr.Values("Vary"))
		}
	}
}

// An unknown or malformed village code gets a page a resident can act on,
// in both languages, naming the code and linking to the chooser.
func TestPageUnknownVillage(t *testing.T) {
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	for _, tc := range []struct{ path, accept, first string }{
		{"/r/653122999999", "", "zh"},
		{"/r/999", "ug-CN", "ug"},
		{"/r/<script>", "zh-CN", "zh"},
	} {
		code, hdr, body := get(t, n.srv.URL+tc.path, tc.accept)
		if code != 404 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Errorf("%s: HTTP %d %s", tc.path, code, hdr.Get("Content-Type"))
		}
		zh, ug := strings.Index(body, "找不到这个村"), strings.Index(body, "بۇ كەنت تېپىلمىدى")
		if zh < 0 || ug < 0 || !strings.Contains(body, `href="/r/"`) || !strings.Contains(body, "12位") {
			t.Errorf("%s: page lacks a language or the way out:\n%s", tc.path, body)
		}
		if (tc.first == "ug") != (ug < zh) {
			t.Errorf("%s with %q: %s should come first", tc.path, tc.accept, tc.first)
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("%s: the code is not escaped", tc.path)
		}
		if want := strings.TrimPrefix(tc.path, "/r/"); tc.path != "/r/<script>" && !strings.Contains(body, want) {
			t.Errorf("%s: the page does not name the code", tc.path)
		}
	}
}
