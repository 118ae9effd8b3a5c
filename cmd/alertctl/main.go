// Command alertctl is the duty officer's command line for Alertcast: issue,
// approve, watch and cancel warnings, import registries and generate test
// data. Load benchmarks are a command of their own, alertbench.
//
// It reads ALERTCAST_URL (default http://127.0.0.1:8080) and ALERTCAST_TOKEN.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one alertctl sub-command. args excludes the command's own name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is the explicit table of sub-commands. Multi-word commands
// ("users add", "residents import") are keyed with a space.
var commands = map[string]command{
	"gen population": {"write synthetic residents.csv, speakers.csv and shelters.csv (--residents N --speakers N --seed N --out DIR; --prefecture 6531 for all of Kashgar)", genPopulation},
	"audio render":   {"render a broadcast programme locally to WAV/G.711 (--level red --event sandstorm --text-zh … --text-ug … -o out.wav)", audioRender},
	// Each feature adds its own line here.
	"issue":            {"issue a warning (--file body.json, or --event --level --codes --zh-headline … ; --watch)", issueAlert},
	"update":           {"replace an issued warning with a new version (POST /api/v1/alerts/{id}/update)", updateAlert},
	"approve":          {"approve a pending warning (second officer, approver role)", reasonCmd("approve")},
	"reject":           {"reject a pending warning (--reason required)", reasonCmd("reject")},
	"cancel":           {"cancel a warning: queued work is revoked, speakers stop", reasonCmd("cancel")},
	"allclear":         {"lift a warning (解除): all-clear to everyone reached", reasonCmd("allclear")},
	"status":           {"show a warning with a live per-channel progress bar until done", statusAlert},
	"list":             {"list warnings (--state, --limit)", listAlerts},
	"users add":        {"create a user (--role, --scope, --password) and print its token once", usersAdd},
	"users list":       {"list users with their role, state and scope (admin)", usersList},
	"users scope":      {"set where a user may act: *, a prefecture (6531) or region codes (admin, at most your own scope; audited)", usersScope},
	"users disable":    {"disable a user: their token and sessions stop working at once (admin)", usersState("disable")},
	"users enable":     {"enable a disabled user (admin)", usersState("enable")},
	"users rotate":     {"give a user a new token, printed once; the old one stops working (admin, or your own)", usersRotate},
	"users passwd":     {"set a password read from stdin (admin; your own with --old: current, then new)", usersPasswd},
	"regions import":   {"add another county's region tree from its CSV (code,name,level,parent_code,name_ug)", regionsImport},
	"residents import": {"import a residents CSV (all or nothing unless --partial)", importCmd("residents")},
	"speakers enroll":  {"issue device credentials: one (prints an agent config) or --all (CSV for speaker --simulate)", speakersEnroll},
	"speakers import":  {"import a speakers CSV (all or nothing unless --partial)", importCmd("speakers")},
	"speakers key":     {"print the platform's Ed25519 public key for the speaker agents' public_key", speakersKey},
	"shelters import":  {"import a shelters CSV (all or nothing unless --partial); villages not listed go to their nearest shelter", importCmd("shelters")},
	"audit export":     {"download the whole audit log as JSON lines (--out FILE; admin)", auditExport},
	"audit verify":     {"verify an audit export offline (FILE --key-file PATH), or alertd's database (--online); exits 1 on the first bad entry", auditVerify},
	"audit key":        {"print the id of the audit key file (--key-file), to check every node holds the same key", auditKey},
	"backup":           {"copy a running alertd's data dir (SQLite snapshot and key files) into a new directory (--out DIR --data-dir DIR)", backupCmd},
	"restore":          {"restore a backup into a new data dir and verify it (--from DIR --data-dir NEW_DIR)", restoreCmd},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "alertctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	err := dispatchCommand(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command printed its usage, as asked
	}
	return err
}

func dispatchCommand(ctx context.Context, args []string) error {
	if len(args) > 1 && args[0] == "help" {
		return commandHelp(ctx, args[1:])
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		return nil
	}
	// Longest match first: "residents import" before "residents".
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(ctx, args[2:])
		}
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(ctx, args[1:])
	}
	if args[0] == "bench" {
		return fmt.Errorf("the benchmarks are their own command now: alertbench %s (alertbench help)", strings.Join(args[1:], " "))
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
}

func usage(w *os.File) {
	fmt.Fprintln(w, "usage: alertctl COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n      %s\n", commandLine(n), commands[n].summary)
	}
	fmt.Fprintln(w, "\nflags may stand before or after ALERT_ID; alertctl help COMMAND shows a command's flags")
	fmt.Fprintln(w, "\nenvironment: ALERTCAST_URL (default http://127.0.0.1:8080), ALERTCAST_TOKEN")
	fmt.Fprintln(w, "\nload benchmarks (ws, speaker, spine, login): alertbench help")
}
