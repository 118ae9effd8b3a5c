package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/alertcast/alertcast/dispatch/api"
)

// TestMain lets the tests run alertctl as the user does: the test binary
// re-executes itself as alertctl (ALERTCTL_RUN_MAIN=1), so exit status,
// stdout and stderr are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("ALERTCTL_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

// alertctl runs the command line against baseURL ("" for none).
func alertctl(t *testing.T, baseURL string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ALERTCTL_RUN_MAIN=1", "ALERTCAST_URL="+baseURL, "ALERTCAST_TOKEN=test-token")
	if baseURL == "" {
		// Nothing listens on port 9 (discard): a request fails at once.
		cmd.Env = append(cmd.Env, "ALERTCAST_URL=http://127.0.0.1:9")
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run alertctl %v: %v", args, err)
	}
	return r
}

// fakeAPI records the requests alertctl makes and answers from a table.
type fakeAPI struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
	// answer returns status and JSON body for a request.
	answer func(r *http.Request, body []byte) (int, any)
}

type recorded struct {
	Method, Path, Auth string
	Body               []byte
}

func newFakeAPI(t *testing.T, answer func(r *http.Request, body []byte) (int, any)) *fakeAPI {
	f := &fakeAPI{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), body})
		answer := f.answer
		f.mu.Unlock()
		status, v := answer(r, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) setAnswer(a func(r *http.Request, body []byte) (int, any)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// apiErr is the server's own error body (dispatch.APIError), so the tests
// follow the API if it changes.
func apiErr(code, msg string) map[string]api.APIError {
	return map[string]api.APIError{"error": {Code: code, Message: msg}}
}

const testID = "01JEXAMPLE0000000000000001"

func TestHelpExitsZeroAndShowsEveryCommandWithItsArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"-h"}, {"help"}} {
		r := alertctl(t, "", "", args...)
		if r.code != 0 {
			t.Errorf("alertctl %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for name := range commands {
			if !strings.Contains(r.stdout, "  "+commandLine(name)+"\n") {
				t.Errorf("alertctl %v does not list %q", args, commandLine(name))
			}
		}
		for _, want := range []string{"cancel ALERT_ID --reason TEXT", "allclear ALERT_ID --reason TEXT",
			"update ALERT_ID --file BODY.json", "approve ALERT_ID", "status ALERT_ID"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("alertctl %v: usage lacks %q", args, want)
			}
		}
	}
}

// TestHelpForEachCommand: "alertctl help CMD" and "alertctl CMD --help"
// exit 0 for every command, without doing anything else.
func TestHelpForEachCommand(t *testing.T) {
	api := newFakeAPI(t, func(*http.Request, []byte) (int, any) { return 200, map[string]string{} })
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := alertctl(t, api.URL, "", append([]string{"help"}, strings.Fields(n)...)...)
		if r.code != 0 {
			t.Errorf("alertctl help %s: exit %d, stderr %q", n, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout+r.stderr, "usage: alertctl "+n) {
			t.Errorf("alertctl help %s shows no usage line: %q %q", n, r.stdout, r.stderr)
		}
	}
	if reqs := api.requests(); len(reqs) != 0 {
		t.Errorf("help made requests: %+v", reqs)
	}
	r := alertctl(t, "", "", "help", "cancel")
	for _, want := range []string{"usage: alertctl cancel ALERT_ID --reason TEXT", "cancel a warning", "-reason", "(required)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help cancel lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := alertctl(t, "", "", "cancel", testID, "--help"); r.code != 0 || !strings.Contains(r.stdout, "usage: alertctl cancel ALERT_ID") {
		t.Errorf("cancel ID --help: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// A wrong flag is said once, with the synopsis, not the flag package's
	// message and usage followed by the same message again.
	r = alertctl(t, "", "", "cancel", testID, "--bogus")
	if r.code != 1 || strings.Count(r.stderr, "flag provided but not defined: -bogus") != 1 ||
		!strings.HasPrefix(r.stderr, "alertctl: cancel: flag provided but not defined: -bogus\nusage: alertctl cancel ALERT_ID --reason TEXT") {
		t.Errorf("cancel --bogus: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := alertctl(t, "", "", "help", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, %q", r.code, r.stderr)
	}
}

func TestFlagsBeforeOrAfterTheID(t *testing.T) {
	api := newFakeAPI(t, func(r *http.Request, body []byte) (int, any) {
		return 200, map[string]any{"id": testID, "version": 2, "state": "cancelled"}
	})
	for _, args := range [][]string{
		{"cancel", testID, "--reason", "sensor fault"},
		{"cancel", "--reason", "sensor fault", testID},
		{"cancel", "--reason=sensor fault", testID},
		{"allclear", testID, "--reason", "sensor fault"},
		{"approve", testID, "--reason", "sensor fault"},
		{"reject", "--", "-" + testID}, // after "--" even a dash is the id
	} {
		before := len(api.requests())
		r := alertctl(t, api.URL, "", args...)
		if args[0] == "reject" {
			// "--" ended the flags, so there is no --reason: refused.
			if r.code != 1 || !strings.Contains(r.stderr, "--reason is required") {
				t.Errorf("%v: exit %d, %q", args, r.code, r.stderr)
			}
			continue
		}
		if r.code != 0 {
			t.Fatalf("%v: exit %d, %q", args, r.code, r.stderr)
		}
		reqs := api.requests()[before:]
		if len(reqs) != 1 {
			t.Fatalf("%v: %d requests", args, len(reqs))
		}
		var body struct{ Reason string }
		_ = json.Unmarshal(reqs[0].Body, &body)
		if reqs[0].Method != "POST" || reqs[0].Path != "/api/v1/alerts/"+testID+"/"+args[0] || body.Reason != "sensor fault" || reqs[0].Auth != "Bearer test-token" {
			t.Errorf("%v: sent %s %s %s", args, reqs[0].Method, reqs[0].Path, reqs[0].Body)
		}
		if !strings.Contains(r.stdout, testID+"  v2  state=cancelled") {
			t.Errorf("%v: printed %q", args, r.stdout)
		}
	}
	// status: the flag after the id too.
	api.setAnswer(func(*http.Request, []byte) (int, any) {
		return 200, map[string]any{"id": testID, "version": 1, "level": "red", "state": "issued", "channels": []string{}}
	})
	if r := alertctl(t, api.URL, "", "status", testID, "--once"); r.code != 0 || !strings.Contains(r.stdout, testID+" v1  RED") {
		t.Errorf("status ID --once: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestCancelAndAllClearNeedAReason(t *testing.T) {
	api := newFakeAPI(t, func(*http.Request, []byte) (int, any) {
		return 200, map[string]any{"id": testID, "version": 2, "state": "cancelled"}
	})
	// Positive control: with a reason the request is made.
	if r := alertctl(t, api.URL, "", "cancel", testID, "--reason", "drill ended"); r.code != 0 || len(api.requests()) != 1 {
		t.Fatalf("control: exit %d, %d requests, %q", r.code, len(api.requests()), r.stderr)
	}
	for _, args := range [][]string{
		{"cancel", testID},
		{"allclear", testID},
		{"reject", testID},
		{"cancel", testID, "--reason", "  "},
	} {
		r := alertctl(t, api.URL, "", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "--reason is required for warning "+testID) ||
			!strings.Contains(r.stderr, "usage: alertctl "+args[0]+" ALERT_ID --reason TEXT") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("refused commands still reached the API: %d requests", n)
	}
	// No id at all: said so, not a request to /api/v1/alerts//cancel.
	if r := alertctl(t, api.URL, "", "cancel", "--reason", "x"); r.code != 1 || !strings.Contains(r.stderr, "ALERT_ID argument is missing") {
		t.Errorf("cancel without id: exit %d, %q", r.code, r.stderr)
	}
	if r := alertctl(t, api.URL, "", "cancel", "a", "b", "--reason", "x"); r.code != 1 || !strings.Contains(r.stderr, "one ALERT_ID expected, got 2") {
		t.Errorf("cancel with two ids: exit %d, %q", r.code, r.stderr)
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("bad command lines reached the API: %d requests", n)
	}
}

func TestErrorsNameTheIDAndSayItOnce(t *testing.T) {
	answers := map[string]struct {
		status int
		body   any
	}{
		"/api/v1/alerts/" + testID + "/cancel":   {409, apiErr("conflict", "conflict: warning is already cancelled")},
		"/api/v1/alerts/" + testID + "/allclear": {403, apiErr("forbidden", "forbidden: role viewer cannot end warnings (operator or above)")},
		"/api/v1/alerts/NOPE/cancel":             {404, apiErr("not_found", "not found")},
		"/api/v1/alerts/NOPE":                    {404, apiErr("not_found", "not found")},
		"/api/v1/alerts/NOPE/update":             {404, apiErr("not_found", "not found")},
		"/api/v1/alerts/" + testID + "/approve":  {401, apiErr("unauthorized", "wrong name, password or token")},
	}
	api := newFakeAPI(t, func(r *http.Request, _ []byte) (int, any) {
		a, ok := answers[r.URL.Path]
		if !ok {
			return 500, apiErr("internal", "internal error: unexpected "+r.URL.Path)
		}
		return a.status, a.body
	})
	body := filepath.Join(t.TempDir(), "alert.json")
	os.WriteFile(body, []byte(`{"event":"sandstorm"}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel", testID, "--reason", "x"}, "alertctl: warning " + testID + ": conflict: warning is already cancelled\n"},
		{[]string{"allclear", testID, "--reason", "x"}, "alertctl: warning " + testID + ": forbidden: role viewer cannot end warnings (operator or above)\n"},
		{[]string{"cancel", "NOPE", "--reason", "x"}, "alertctl: warning NOPE: not found\n"},
		{[]string{"status", "--once", "NOPE"}, "alertctl: warning NOPE: not found\n"},
		{[]string{"update", "NOPE", "--file", body}, "alertctl: warning NOPE: not found\n"},
		{[]string{"approve", testID}, "alertctl: warning " + testID + ": unauthorized: wrong name, password or token\n"},
	} {
		r := alertctl(t, api.URL, "", c.args...)
		if r.code != 1 || r.stderr != c.want {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	api := newFakeAPI(t, func(r *http.Request, body []byte) (int, any) {
		return 200, map[string]any{"id": testID, "version": 3, "level": "orange", "event": "sandstorm", "status": "actual", "state": "issued", "dispatch": "queued"}
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "alert.json")
	doc := `{"event":"sandstorm","level":"orange","status":"actual","area":{"codes":["653122"]},"text":{"zh":{"headline":"沙尘暴橙色预警"}},"expires":"2026-12-04T00:00:00Z"}`
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"update", testID, "--file", file},
		{"update", "--file", file, testID},
		{"update", testID, "--file", "-"},
	} {
		before := len(api.requests())
		r := alertctl(t, api.URL, doc, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, %q", args, r.code, r.stderr)
		}
		reqs := api.requests()[before:]
		if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/api/v1/alerts/"+testID+"/update" || string(reqs[0].Body) != doc {
			t.Fatalf("%v: sent %+v", args, reqs)
		}
		if want := testID + "  v3  ORANGE sandstorm actual  state=issued  dispatch=queued\n"; r.stdout != want {
			t.Errorf("%v: printed %q, want %q", args, r.stdout, want)
		}
	}
	n := len(api.requests())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", testID}, "--file is required for warning " + testID},
		{[]string{"update", "--file", file}, "ALERT_ID argument is missing"},
		{[]string{"update", testID, "--file", filepath.Join(dir, "missing.json")}, "--file: open " + filepath.Join(dir, "missing.json")},
		{[]string{"update", testID, "--file", "-"}, "--file -: empty"},
	} {
		r := alertctl(t, api.URL, "", c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want it to contain %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if len(api.requests()) != n {
		t.Errorf("bad update command lines reached the API")
	}
}

func TestSpeakersKey(t *testing.T) {
	const pub = "MCowBQYDK2VwAyEAexampleexampleexampleexampleexample="
	api := newFakeAPI(t, func(r *http.Request, _ []byte) (int, any) {
		if r.URL.Path != "/api/v1/speakers/key" {
			return 404, apiErr("not_found", "not found")
		}
		return 200, map[string]string{"public_key": pub, "algorithm": "ed25519"}
	})
	if r := alertctl(t, api.URL, "", "speakers", "key"); r.code != 0 || r.stdout != pub+"\n" {
		t.Errorf("speakers key: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	api.setAnswer(func(*http.Request, []byte) (int, any) {
		return 404, apiErr("not_found", "the loudspeaker hub is not enabled")
	})
	if r := alertctl(t, api.URL, "", "speakers", "key"); r.code != 1 || r.stderr != "alertctl: speakers key: the loudspeaker hub is not enabled\n" {
		t.Errorf("speakers key without hub: exit %d, %q", r.code, r.stderr)
	}
}
