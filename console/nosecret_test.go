package console

import (
	"os"
	"regexp"
	"testing"
)

// The session is an HttpOnly cookie: no page may copy a session or token
// into Web Storage or put one in a WebSocket URL. WebSockets authenticate
// with one-use tickets (POST /api/v1/tickets). This guards the pages
// against a regression a browser test would only catch by chance.
func TestPagesKeepSessionsOutOfStorageAndURLs(t *testing.T) {
	files := []string{"static/app.js", "static/reports.js", "field/field.js", "../channels/voice/pages/voice.js", "../channels/voice/pages/cc.js", "../channels/voice/pages/field.js"}
	bad := []*regexp.Regexp{
		regexp.MustCompile(`(?i)(local|session)Storage\.setItem\([^)]*(token|session:|sess\b)`),
		regexp.MustCompile(`(?i)(local|session)Storage\.setItem\("[^"]*token`),
		regexp.MustCompile(`\{\s*token\s*:\s*S\.`),                 // URLSearchParams({ token: S.… })
		regexp.MustCompile(`[?&]token=`),                           // a token in a query string
		regexp.MustCompile(`S\.session\b|session:\s*S\.session\b`), // the session copied into page state
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range bad {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: %q — sessions and tokens must stay out of Web Storage and URLs", f, b[loc[0]:loc[1]])
			}
		}
	}
	// Positive control: the patterns do catch what the pages used to do.
	old := []string{
		`sessionStorage.setItem("alertcast.session", JSON.stringify({ me: S.me, csrf: S.csrf, session: S.session }));`,
		`const q = new URLSearchParams({ token: S.session, progress: "1", all: "1" });`,
		`sessionStorage.setItem("alertcast-voice-token", token);`,
	}
	for _, o := range old {
		hit := false
		for _, re := range bad {
			hit = hit || re.MatchString(o)
		}
		if !hit {
			t.Errorf("guard misses %q", o)
		}
	}
}
