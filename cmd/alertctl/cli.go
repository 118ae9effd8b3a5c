package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// synopses are the arguments of each command as usage and help show them.
// A command without an entry shows its name and summary only.
var synopses = map[string]string{
	"issue":            "--file BODY.json | --event E --level L --codes C --zh-headline H … [--watch]",
	"update":           "ALERT_ID --file BODY.json [--watch]",
	"approve":          "ALERT_ID [--reason TEXT]",
	"reject":           "ALERT_ID --reason TEXT",
	"cancel":           "ALERT_ID --reason TEXT",
	"allclear":         "ALERT_ID --reason TEXT",
	"status":           "ALERT_ID [--once]",
	"list":             "[--state STATE] [--limit N]",
	"users add":        "NAME [--role ROLE] [--scope CODES] [--password PW]",
	"users scope":      "NAME SCOPE",
	"regions import":   "FILE.csv",
	"residents import": "FILE.csv [--partial]",
	"speakers import":  "FILE.csv [--partial]",
	"shelters import":  "FILE.csv [--partial]",
	"speakers enroll":  "DEVICE_ID | --all [--out FILE]",
	"speakers key":     "",
	"audit export":     "--out FILE",
	"audit verify":     "FILE [--key-file PATH] | --online",
	"audit key":        "[--key-file PATH]",
	"backup":           "--out DIR [--data-dir DIR] [--db DSN] [--audit-key-file PATH] [--speaker-key-file PATH]",
	"restore":          "--from BACKUP_DIR --data-dir NEW_DATA_DIR",
	"gen population":   "[--residents N] [--speakers N] [--seed N] [--out DIR] [--prefecture 6531]",
	"audio render":     "--level L [--event E] [--text-zh T] [--text-ug T] -o OUT.wav",
}

// reasonRequired: the actions the console also refuses without a reason,
// because the reason is what the audit log and the other officers see.
var reasonRequired = map[string]bool{"reject": true, "cancel": true, "allclear": true}

// commandLine is "NAME SYNOPSIS" of a command.
func commandLine(name string) string {
	if s := synopses[name]; s != "" {
		return name + " " + s
	}
	return name
}

// summaryOf returns a command's summary. It is set in init because the
// commands table refers (through the commands' flag sets) to setUsage.
var summaryOf = func(string) string { return "" }

func init() {
	summaryOf = func(name string) string { return commands[name].summary }
}

// setUsage makes fs print the command's synopsis, summary and flags.
func setUsage(fs *flag.FlagSet, name string) {
	fs.Usage = func() {
		w := fs.Output()
		if !helpHeaderShown {
			printHelpHeader(w, name)
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
}

// parseArgs parses flags wherever they stand among the positional
// arguments ("cancel ID --reason x" as well as "cancel --reason x ID"); a
// "--" ends the flags. It returns the positional arguments. Asked for help
// (-h, --help), it prints the usage to stdout and returns flag.ErrHelp,
// which run turns into exit status 0.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints its error and the whole usage; we print the
	// usage on stdout when asked for, and otherwise return one error with
	// the synopsis (main prints it once).
	var printed bytes.Buffer
	fs.SetOutput(&printed)
	name := strings.TrimPrefix(fs.Name(), "alertctl ")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				_, _ = os.Stdout.Write(printed.Bytes())
				return nil, err
			}
			return nil, usageError(name, "%v", err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError is a wrong command line: the message and the command's usage.
func usageError(name, format string, a ...any) error {
	return fmt.Errorf("%s: %s\nusage: alertctl %s (alertctl help %s for more)", name, fmt.Sprintf(format, a...), commandLine(name), name)
}

// readBody reads a JSON body from a file, or stdin for "-".
func readBody(flagName, path string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("--%s %s: empty (a JSON warning body is required)", flagName, path)
	}
	return b, nil
}

// commandHelp is "alertctl help COMMAND": the command's own usage, on
// stdout, exit status 0.
func commandHelp(ctx context.Context, args []string) error {
	name := strings.Join(args, " ")
	c, ok := commands[name]
	if !ok {
		usage(os.Stderr)
		return fmt.Errorf("help: unknown command %q", name)
	}
	// Every command gets the same header, also those whose flag sets print
	// only their flags.
	printHelpHeader(os.Stdout, name)
	helpHeaderShown = true
	return c.run(ctx, []string{"--help"})
}

// helpHeaderShown: commandHelp printed the header already.
var helpHeaderShown bool

func printHelpHeader(w io.Writer, name string) {
	fmt.Fprintf(w, "usage: alertctl %s\n", commandLine(name))
	if s := summaryOf(name); s != "" {
		fmt.Fprintf(w, "\n%s\n", s)
	}
}
