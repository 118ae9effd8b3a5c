package clustertest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/targeting"
)

// population is a synthetic resident registry, as imported.
type population struct {
	csv []byte
	// sms holds the ids of the residents who must get the SMS (not opted out).
	sms map[string]bool
}

// newPopulation generates n residents spread over Shule County.
func newPopulation(t *testing.T, n int) population {
	t.Helper()
	var res bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), n, 0, 7, &res, io.Discard); err != nil {
		t.Fatal(err)
	}
	p := population{csv: res.Bytes(), sms: map[string]bool{}}
	r := csv.NewReader(bytes.NewReader(res.Bytes()))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		if row[col["opt_out"]] != "true" && row[col["opt_out"]] != "1" {
			p.sms[row[col["id"]]] = true
		}
	}
	return p
}

// call does one JSON request and decodes the JSON answer. A transport error
// is returned, not fatal: nodes die in these tests.
func call(base, method, path, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	cl := http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, out, nil
}

func mustCall(t *testing.T, base, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	st, out, err := call(base, method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if st != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, st, want, out)
	}
	return out
}

// importResidents imports the population through base and returns an
// operator's token.
func importResidents(t *testing.T, base, adminToken string, p population) string {
	t.Helper()
	t0 := time.Now()
	mustCall(t, base, "POST", "/api/v1/residents/import", adminToken, p.csv, 200)
	t.Logf("imported %d residents in %s", len(p.sms), time.Since(t0).Round(time.Millisecond))
	out := mustCall(t, base, "POST", "/api/v1/users", adminToken, map[string]string{"name": "op", "role": "operator"}, 201)
	return out["token"].(string)
}

// countyExercise is a county-wide blue sandstorm exercise (no second
// officer needed) on the given channels.
func countyExercise(channels ...string) map[string]any {
	return map[string]any{
		"event": "sandstorm", "level": "blue", "status": "exercise",
		"area": map[string]any{"codes": []string{"653122"}}, "audience": map[string]any{},
		"channels": channels,
		"text": map[string]any{
			"zh": map[string]string{"headline": "疏勒县沙尘暴蓝色预警（演练）", "description": "预计今天下午有沙尘暴。", "instruction": "请关好门窗。"},
			"ug": map[string]string{"headline": "قۇم بورىنى ئاگاھلاندۇرۇشى", "description": "بۈگۈن چۈشتىن كېيىن قۇم بورىنى بولىدۇ.", "instruction": "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."},
		},
		"expires": time.Now().Add(6 * time.Hour).Format(time.RFC3339),
	}
}

// issue creates the warning through base and returns its id.
func issue(t *testing.T, base, token string, body map[string]any) string {
	t.Helper()
	return mustCall(t, base, "POST", "/api/v1/alerts", token, body, 201)["id"].(string)
}

// smsProgress is the SMS line of a warning's progress.
type smsProgress struct {
	planned, queued, sent, done float64
	plans                       float64 // recipients of the SMS plan, 0 until planned
}

func (p smsProgress) String() string {
	return fmt.Sprintf("plan %v, planned %v, queued %v, sent %v, done %v", p.plans, p.planned, p.queued, p.sent, p.done)
}

// complete reports whether every recipient of the plan has a record and
// none is still queued.
func (p smsProgress) complete() bool {
	return p.plans > 0 && p.planned == p.plans && p.queued == 0
}

// progress reads the SMS progress through the first base that answers.
func progress(bases []string, token, id string) (smsProgress, error) {
	var last error
	for _, base := range bases {
		st, out, err := call(base, "GET", "/api/v1/alerts/"+id, token, nil)
		if err != nil || st != 200 {
			last = fmt.Errorf("GET %s/api/v1/alerts/%s: %d %v %v", base, id, st, err, out)
			continue
		}
		var p smsProgress
		if pr, ok := out["progress"].(map[string]any); ok {
			if s, ok := pr["sms"].(map[string]any); ok {
				p.planned, _ = s["planned"].(float64)
				p.queued, _ = s["queued"].(float64)
				p.sent, _ = s["sent"].(float64)
				p.done, _ = s["done"].(float64)
			}
		}
		if plans, ok := out["plans"].(map[string]any); ok {
			if s, ok := plans["sms"].(map[string]any); ok {
				p.plans, _ = s["recipients"].(float64)
			}
		}
		return p, nil
	}
	return smsProgress{}, last
}

// waitProgress polls until cond holds (nodes may be down meanwhile) or the
// timeout passes; it returns the last progress read.
func waitProgress(t *testing.T, bases []string, token, id string, timeout time.Duration, what string, cond func(smsProgress) bool) smsProgress {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var p smsProgress
	var err error
	for {
		p, err = progress(bases, token, id)
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("warning %s: %s not reached within %s: %v (last error: %v)", id, what, timeout, p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// midBroadcast waits until a fifth of the population has been sent and the
// rest is still queued: the moment to inject a fault.
func midBroadcast(t *testing.T, bases []string, token, id string, pop population) smsProgress {
	t.Helper()
	want := float64(len(pop.sms) / 5)
	return waitProgress(t, bases, token, id, 90*time.Second, fmt.Sprintf("%v SMS sent", want), func(p smsProgress) bool {
		return p.sent+p.done >= want
	})
}

// checkStillRunning is the positive control after a fault: the broadcast
// had not finished when the fault hit, or the test proves nothing.
func checkStillRunning(t *testing.T, sim *smscsim.Server, pop population, what string) {
	t.Helper()
	if n := len(perDestParts(sim)); n >= len(pop.sms) {
		t.Fatalf("every recipient already had the SMS when %s: the test proves nothing", what)
	} else {
		t.Logf("%s with %d of %d recipients reached", what, n, len(pop.sms))
	}
}

// partKey names one part of one concatenated SMS (Total 0: a single part).
type partKey struct{ total, part byte }

// perDestParts counts, per phone, each SMS part the simulator accepted.
func perDestParts(sim *smscsim.Server) map[string]map[partKey]int {
	per := map[string]map[partKey]int{}
	for _, m := range sim.Messages() {
		if per[m.Dest] == nil {
			per[m.Dest] = map[partKey]int{}
		}
		per[m.Dest][partKey{m.Total, m.Part}]++
	}
	return per
}

// record is a delivery record as the tests read it back.
type record struct{ state, address, lastError string }

// interrupted reports whether r was possibly sent by a node that died
// before recording it, and so recorded failed and never sent again (the
// engine's default at-most-once rule, dispatch/engine/claims.go).
func (r record) interrupted() bool {
	return r.state == "failed" && r.lastError == engine.InterruptedReason
}

// recordsAPI reads a warning's SMS delivery records through the deliveries
// API, page by page.
func recordsAPI(t *testing.T, base, token, id string) map[string]record {
	t.Helper()
	t0 := time.Now()
	records := map[string]record{}
	cursor := ""
	for {
		q := url.Values{"channel": {"sms"}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		out := mustCall(t, base, "GET", "/api/v1/alerts/"+id+"/deliveries?"+q.Encode(), token, nil, 200)
		list, _ := out["deliveries"].([]any)
		for _, d := range list {
			m := d.(map[string]any)
			r, _ := m["recipient"].(string)
			if _, dup := records[r]; dup {
				t.Errorf("recipient %s listed twice", r)
			}
			st, _ := m["state"].(string)
			addr, _ := m["address"].(string)
			lastErr, _ := m["last_error"].(string)
			records[r] = record{st, addr, lastErr}
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	t.Logf("read %d delivery records through the API in %s", len(records), time.Since(t0).Round(time.Millisecond))
	return records
}

// verify checks the end state of a broadcast from outside alertd: every
// resident who must get the SMS has exactly one delivery record (records,
// keyed by recipient), in a done state (sent or delivered) — or, for at
// most maxInterrupted of them, failed "interrupted": handed to the SMSC by
// a node killed before it recorded the result, so possibly received and
// never submitted again. The SMSC got every part of every sent phone's SMS
// exactly once, no part of any phone twice, and nothing else.
func verify(t *testing.T, records map[string]record, sim *smscsim.Server, pop population, maxInterrupted int) {
	t.Helper()
	for r, rc := range records {
		// The SMSC sees the international number without its '+' (TON international).
		rc.address = strings.TrimPrefix(rc.address, "+")
		records[r] = rc
	}
	bad, interrupted := 0, 0
	for r, rc := range records {
		if !pop.sms[r] {
			t.Errorf("record for %s, who is not a recipient (opted out or unknown)", r)
		}
		if rc.interrupted() {
			interrupted++
			continue
		}
		if rc.state != "sent" && rc.state != "delivered" {
			if bad++; bad <= 10 {
				t.Errorf("recipient %s ends %s, want sent or delivered", r, rc.state)
			}
		}
	}
	missing := 0
	for r := range pop.sms {
		if _, ok := records[r]; !ok {
			if missing++; missing <= 10 {
				t.Errorf("recipient %s has no delivery record", r)
			}
		}
	}
	if bad > 0 || missing > 0 {
		t.Errorf("%d records not done, %d recipients without a record (of %d)", bad, missing, len(pop.sms))
	}
	if interrupted > maxInterrupted {
		t.Errorf("%d recipients ended failed \"interrupted\", more than the %d the killed nodes can have had in flight", interrupted, maxInterrupted)
	}

	// At the SMSC: each phone of a record got each part of its SMS once.
	per := perDestParts(sim)
	twice, incomplete, interruptedReached := 0, 0, 0
	phones := map[string]bool{}
	for _, rc := range records {
		phones[rc.address] = true
		parts := per[rc.address]
		if rc.interrupted() {
			// Possibly received: any part at most once, none required.
			if len(parts) > 0 {
				interruptedReached++
			}
			for k, n := range parts {
				if n > 1 {
					if twice++; twice <= 10 {
						t.Logf("phone %s (interrupted) got part %d/%d %d times", rc.address, max(k.part, 1), max(k.total, 1), n)
					}
					break
				}
			}
			continue
		}
		if len(parts) == 0 {
			if incomplete++; incomplete <= 10 {
				t.Errorf("phone %s has a %s record but the SMSC never got its SMS", rc.address, rc.state)
			}
			continue
		}
		dup := false
		for k, n := range parts {
			if n > 1 && !dup {
				dup = true
				if twice++; twice <= 10 {
					t.Logf("phone %s got part %d/%d %d times", rc.address, max(k.part, 1), max(k.total, 1), n)
				}
			}
			if k.total > 0 && len(parts) != int(k.total) {
				if incomplete++; incomplete <= 10 {
					t.Errorf("phone %s got %d distinct parts of a %d-part SMS", rc.address, len(parts), k.total)
				}
				break
			}
		}
	}
	for dest := range per {
		if !phones[dest] {
			t.Errorf("the SMSC got an SMS for %s, which has no record", dest)
		}
	}
	if incomplete > 0 {
		t.Errorf("%d phones got an incomplete SMS or none", incomplete)
	}
	if interrupted > 0 {
		report(t, "%d of %d recipients failed \"interrupted\" (at most once; the SMSC had got %d of them)", interrupted, len(records), interruptedReached)
	}
	if twice == 0 {
		if !t.Failed() {
			t.Logf("verified: %d recipients, one final record each (%d interrupted); %d SMS parts at the SMSC, none twice", len(records), interrupted, sim.Accepted())
		}
		return
	}
	msg := fmt.Sprintf("%d of %d phones got the same SMS part twice (counted at the SMSC)", twice, len(records))
	if enforceNoDuplicateParts {
		t.Error(msg)
		return
	}
	// Last, so every other check of the test has run: a skip after a
	// failure still fails.
	t.Skip("known bug, not fixed yet: " + msg + "; the re-run of an interrupted batch re-submits what had been handed to the SMSC but not recorded (issue 16). Set enforceNoDuplicateParts once fixed")
}

// enforceNoDuplicateParts makes an SMS part submitted twice fail the test.
// Today a batch interrupted by a dead worker, or whose results could not be
// written (PostgreSQL down), is re-run from its last recorded chunk and
// re-submits what had already been handed to the SMSC; until the engine
// fixes that (issue 16), a duplicate skips
// the test — loudly, as "known bug" — instead of failing it. Every other
// check (completion, one record per recipient, nothing missing) is always
// enforced.
const enforceNoDuplicateParts = true

// report logs a recovery figure, and appends it to the file named by
// ALERTCAST_CLUSTERTEST_REPORT when set, so a run can collect them.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("recovery: %s: ", t.Name()) + fmt.Sprintf(format, args...)
	t.Log(line)
	if path := os.Getenv("ALERTCAST_CLUSTERTEST_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}
