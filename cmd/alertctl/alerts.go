package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alertcast/alertcast/internal/apiclient"
)

// alertView is the part of GET /api/v1/alerts/{id} alertctl shows.
type alertView struct {
	ID        string                     `json:"id"`
	Version   int                        `json:"version"`
	Event     string                     `json:"event"`
	Level     string                     `json:"level"`
	Status    string                     `json:"status"`
	State     string                     `json:"state"`
	Kind      string                     `json:"kind"`
	Round     int                        `json:"round"`
	Channels  []string                   `json:"channels"`
	Expires   time.Time                  `json:"expires"`
	CreatedBy string                     `json:"created_by"`
	Dispatch  string                     `json:"dispatch"`
	Progress  map[string]channelProgress `json:"progress"`
	Overall   overallProgress            `json:"overall"`
	Plans     map[string]struct {
		Recipients int `json:"recipients"`
	} `json:"plans"`
	Text map[string]struct {
		Headline string `json:"headline"`
	} `json:"text"`
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("alertctl "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	setUsage(fs, name)
	return fs
}

func splitComma(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// issueAlert: alertctl issue --file body.json | --event … --level … …
func issueAlert(ctx context.Context, args []string) error {
	fs := newFlags("issue")
	file := fs.String("file", "", "JSON warning body (\"-\" for stdin); flags below build one instead")
	event := fs.String("event", "", "event code, e.g. sandstorm (see GET /api/v1/events)")
	level := fs.String("level", "", "blue, yellow, orange or red")
	status := fs.String("status", "actual", "actual, exercise (drill) or test")
	codes := fs.String("codes", "", "comma-separated region codes (6, 9 or 12 digits)")
	groups := fs.String("groups", "", "comma-separated population groups")
	chans := fs.String("channels", "speaker,sms,websocket", "comma-separated channels")
	zhH := fs.String("zh-headline", "", "Mandarin headline")
	zhD := fs.String("zh-description", "", "Mandarin description")
	zhI := fs.String("zh-instruction", "", "Mandarin instruction")
	ugH := fs.String("ug-headline", "", "Uyghur headline")
	ugD := fs.String("ug-description", "", "Uyghur description")
	ugI := fs.String("ug-instruction", "", "Uyghur instruction")
	ttl := fs.Duration("ttl", 6*time.Hour, "validity from now (ignored with --expires)")
	expires := fs.String("expires", "", "expiry, RFC 3339 with zone")
	watch := fs.Bool("watch", false, "show live progress afterwards")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("issue", "unexpected argument %q", pos[0])
	}
	var body []byte
	if *file != "" {
		if body, err = readBody("file", *file); err != nil {
			return err
		}
	} else {
		exp := *expires
		if exp == "" {
			exp = time.Now().Add(*ttl).Format(time.RFC3339)
		}
		text := map[string]map[string]string{}
		if *zhH != "" {
			text["zh"] = map[string]string{"headline": *zhH, "description": *zhD, "instruction": *zhI}
		}
		if *ugH != "" {
			text["ug"] = map[string]string{"headline": *ugH, "description": *ugD, "instruction": *ugI}
		}
		b := map[string]any{"event": *event, "level": *level, "status": *status, "area": map[string]any{"codes": splitComma(*codes)},
			"audience": map[string]any{"groups": splitComma(*groups)}, "channels": splitComma(*chans), "text": text, "expires": exp}
		body, _ = json.Marshal(b)
	}
	var key [12]byte
	_, _ = rand.Read(key[:])
	var a alertView
	c := apiclient.FromEnv()
	if err := c.Do(ctx, "POST", "/api/v1/alerts", body, &a, "Idempotency-Key", hex.EncodeToString(key[:])); err != nil {
		return err
	}
	fmt.Printf("%s  %s %s %s  state=%s  dispatch=%s\n", a.ID, strings.ToUpper(a.Level), a.Event, a.Status, a.State, a.Dispatch)
	if a.State == "pending" {
		fmt.Printf("waiting for approval by a second officer: alertctl approve %s\n", a.ID)
	}
	if *watch && a.State == "issued" {
		return watchAlert(ctx, c, a.ID)
	}
	return nil
}

func reasonCmd(action string) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		fs := newFlags(action)
		help := "reason, recorded in the audit log"
		if reasonRequired[action] {
			help += " (required)"
		}
		reason := fs.String("reason", "", help)
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		id, err := oneID(action, pos)
		if err != nil {
			return err
		}
		if reasonRequired[action] && strings.TrimSpace(*reason) == "" {
			return usageError(action, "--reason is required for warning %s: it goes into the audit log and the console shows it to the other officers", id)
		}
		var a alertView
		if err := apiclient.FromEnv().Do(ctx, "POST", alertPath(id, action), map[string]string{"reason": *reason}, &a); err != nil {
			return fmt.Errorf("warning %s: %w", id, err)
		}
		fmt.Printf("%s  v%d  state=%s\n", a.ID, a.Version, a.State)
		return nil
	}
}

// oneID returns the single ALERT_ID argument of cmd.
func oneID(cmd string, pos []string) (string, error) {
	switch {
	case len(pos) == 0:
		return "", usageError(cmd, "the ALERT_ID argument is missing")
	case len(pos) > 1:
		return "", usageError(cmd, "one ALERT_ID expected, got %d arguments (%s)", len(pos), strings.Join(pos, " "))
	case strings.TrimSpace(pos[0]) == "" || strings.ContainsAny(pos[0], "/?#% "):
		return "", usageError(cmd, "ALERT_ID %q is not a warning id", pos[0])
	}
	return pos[0], nil
}

func alertPath(id, action string) string {
	p := "/api/v1/alerts/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// updateAlert: alertctl update ALERT_ID --file body.json. The body is a
// whole warning (as for issue); the server decides whether the change needs
// a second officer's approval.
func updateAlert(ctx context.Context, args []string) error {
	fs := newFlags("update")
	file := fs.String("file", "", "JSON warning body, the whole new version (\"-\" for stdin; required)")
	watch := fs.Bool("watch", false, "show live progress afterwards")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID("update", pos)
	if err != nil {
		return err
	}
	if *file == "" {
		return usageError("update", "--file is required for warning %s (the new version as JSON, like issue --file)", id)
	}
	body, err := readBody("file", *file)
	if err != nil {
		return err
	}
	var a alertView
	c := apiclient.FromEnv()
	if err := c.Do(ctx, "POST", alertPath(id, "update"), body, &a); err != nil {
		return fmt.Errorf("warning %s: %w", id, err)
	}
	fmt.Printf("%s  v%d  %s %s %s  state=%s  dispatch=%s\n", a.ID, a.Version, strings.ToUpper(a.Level), a.Event, a.Status, a.State, a.Dispatch)
	if a.State == "pending" {
		fmt.Printf("waiting for approval by a second officer: alertctl approve %s\n", a.ID)
	}
	if *watch && a.State == "issued" {
		return watchAlert(ctx, c, a.ID)
	}
	return nil
}

func listAlerts(ctx context.Context, args []string) error {
	fs := newFlags("list")
	state := fs.String("state", "", "only this state: pending, issued, cancelled, allclear, expired, rejected")
	limit := fs.Int("limit", 20, "how many")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("list", "unexpected argument %q", pos[0])
	}
	var out struct {
		Alerts []alertView `json:"alerts"`
	}
	if err := apiclient.FromEnv().Do(ctx, "GET", fmt.Sprintf("/api/v1/alerts?limit=%d&state=%s", *limit, url.QueryEscape(*state)), nil, &out); err != nil {
		return err
	}
	fmt.Printf("%-18s %-3s %-7s %-14s %-9s %-10s %s\n", "ID", "V", "LEVEL", "EVENT", "STATUS", "STATE", "HEADLINE")
	for _, a := range out.Alerts {
		fmt.Printf("%-18s %-3d %-7s %-14s %-9s %-10s %s\n", a.ID, a.Version, a.Level, a.Event, a.Status, a.State, a.Text["zh"].Headline)
	}
	return nil
}

// statusAlert shows a warning and, until it is done, a live progress bar.
func statusAlert(ctx context.Context, args []string) error {
	fs := newFlags("status")
	once := fs.Bool("once", false, "print once and exit")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID("status", pos)
	if err != nil {
		return err
	}
	c := apiclient.FromEnv()
	if *once {
		a, err := fetchAlert(ctx, c, id)
		if err != nil {
			return err
		}
		printProgress(a, false)
		return nil
	}
	return watchAlert(ctx, c, id)
}

func fetchAlert(ctx context.Context, c *apiclient.Client, id string) (*alertView, error) {
	var a alertView
	if err := c.Do(ctx, "GET", alertPath(id, ""), nil, &a); err != nil {
		return nil, fmt.Errorf("warning %s: %w", id, err)
	}
	return &a, nil
}

// done reports whether nothing more will be sent: the server's overall
// phase is done, or only held (offline speakers) or unconfirmed records remain.
func (a *alertView) done() bool {
	return a.Overall.Phase == "done" || a.Overall.Phase == "unconfirmed" || a.Overall.Phase == "held"
}

func watchAlert(ctx context.Context, c *apiclient.Client, id string) error {
	tty := isTerminal()
	lines := 0
	for {
		a, err := fetchAlert(ctx, c, id)
		if err != nil {
			return err
		}
		if tty && lines > 0 {
			fmt.Printf("\x1b[%dA", lines)
		}
		lines = printProgress(a, tty)
		if a.done() || a.State == "rejected" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printProgress(a *alertView, tty bool) int {
	fmt.Printf("%s v%d  %s %s %s  state=%s%s\n", a.ID, a.Version, strings.ToUpper(a.Level), a.Event, a.Status, a.State, clearEOL(tty))
	lines := 1
	for _, l := range progressLines(a) {
		fmt.Printf("%s%s\n", l, clearEOL(tty))
		lines++
	}
	return lines
}

func clearEOL(tty bool) string {
	if tty {
		return "\x1b[K"
	}
	return ""
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func usersAdd(ctx context.Context, args []string) error {
	fs := newFlags("users add")
	role := fs.String("role", "operator", "viewer, operator, approver or admin")
	password := fs.String("password", "", "console password (at least 10 characters; optional)")
	scope := fs.String("scope", "", "where the user may act: * (the whole tree), a prefecture (6531) or region codes (653122); default your own scope")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: alertctl users add --role ROLE [--scope CODES] [--password PW] NAME")
	}
	var out struct {
		Name, Role, Token string
		ScopeLabel        string `json:"scope_label"`
	}
	body := map[string]string{"name": fs.Arg(0), "role": *role, "password": *password, "scope": *scope}
	if err := apiclient.FromEnv().Do(ctx, "POST", "/api/v1/users", body, &out); err != nil {
		return err
	}
	fmt.Printf("user %s (%s, scope %s) created; token (shown once):\n%s\n", out.Name, out.Role, out.ScopeLabel, out.Token)
	return nil
}

// importCmd uploads a residents, speakers or shelters CSV.
func importCmd(what string) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		fs := newFlags(what + " import")
		partial := fs.Bool("partial", false, "store the good lines even if some are bad (default: nothing unless all are good)")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError(what+" import", "one FILE.csv expected, got %d arguments", len(pos))
		}
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		st, _ := f.Stat()
		pr := &progressReader{r: f, total: st.Size(), label: "uploading " + pos[0], tty: isTerminal()}
		var rep struct {
			Lines, Accepted, ErrorCount, Duplicates, Stored int
			Applied                                         bool
			Errors                                          []struct {
				Line               int
				Field, Rule, Value string
			}
			// shelters only
			AssignedVillages int      `json:"assigned_villages"`
			Unassigned       []string `json:"unassigned"`
		}
		path := "/api/v1/" + what + "/import"
		if *partial {
			path += "?partial=1"
		}
		err = apiclient.FromEnv().Do(ctx, "POST", path, pr, &rep)
		pr.finish()
		var ae *apiclient.Error
		if err != nil && !(errors.As(err, &ae) && ae.Status == 422 && rep.Lines > 0) {
			return err
		}
		fmt.Printf("%s: %d lines, %d accepted, %d with errors, %d duplicates, %d stored\n", pos[0], rep.Lines, rep.Accepted, rep.ErrorCount, rep.Duplicates, rep.Stored)
		for _, e := range rep.Errors {
			fmt.Printf("  line %d: %s: %s", e.Line, e.Field, e.Rule)
			if e.Value != "" {
				fmt.Printf(" (got %q)", e.Value)
			}
			fmt.Println()
		}
		if !rep.Applied {
			return errors.New("nothing imported: fix the lines above, or use --partial to store the good ones")
		}
		if what == "shelters" {
			fmt.Printf("%d villages assigned to a shelter", rep.AssignedVillages)
			if n := len(rep.Unassigned); n > 0 {
				fmt.Printf("; %d villages have no location yet (no located resident or loudspeaker) and are listed by no shelter: import residents and speakers, then the shelters again", n)
			}
			fmt.Println()
		}
		return nil
	}
}

// progressReader prints an upload progress bar.
type progressReader struct {
	r     io.Reader
	total int64
	n     int64
	label string
	tty   bool
	last  time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.tty && time.Since(p.last) > 200*time.Millisecond && p.total > 0 {
		p.last = time.Now()
		fmt.Fprintf(os.Stderr, "\r%s %5.1f%%", p.label, 100*float64(p.n)/float64(p.total))
	}
	return n, err
}

func (p *progressReader) finish() {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r%s done%s\n", p.label, "\x1b[K")
	}
}

// regionsImport adds another county's region tree from its CSV.
func regionsImport(ctx context.Context, args []string) error {
	fs := newFlags("regions import")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("regions import", "one FILE.csv expected (columns code,name,level,parent_code,name_ug), got %d arguments", len(pos))
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var out struct {
		Counties []struct{ Code, Name string }
		Regions  int
	}
	if err := apiclient.FromEnv().Do(ctx, "POST", "/api/v1/regions/import", f, &out); err != nil {
		return err
	}
	for _, c := range out.Counties {
		fmt.Printf("imported county %s %s\n", c.Code, c.Name)
	}
	fmt.Printf("%d regions loaded in all\n", out.Regions)
	return nil
}
