// Command alertbench runs Alertcast's load benchmarks: WebSocket fan-out
// (its own hub or a running alertd), loudspeaker fan-out, the spine's accept
// and issue-to-all-records times, and a login flood. BENCHMARKS.md records
// the commands and their figures. Every benchmark is bounded in time, talks
// to loopback servers only where it floods, and stops only the processes it
// started.
//
// It reads ALERTCAST_URL (default http://127.0.0.1:8080) and ALERTCAST_TOKEN
// where it drives a running alertd.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one benchmark. args excludes the command's own name.
type command struct {
	synopsis string
	summary  string
	run      func(ctx context.Context, args []string) error
}

// commands is set in init: the benchmarks' flag sets print their usage
// from it.
var commands map[string]command

func init() {
	commands = map[string]command{
		"ws": {"[--url ws://…/ws] [--subscribers N] [--warnings N] | serve",
			"WebSocket fan-out latency and memory per connection (--url ws://…/ws --subscribers 5000 --warnings 50; `ws serve` runs a hub)", benchWS},
		"speaker": {"[--speakers N] [--rounds N]",
			"loudspeaker fan-out: N simulated speakers on one hub + redis-server, red warning to all (--speakers 5000 --rounds 3)", benchSpeaker},
		"spine": {"[--residents N]",
			"accept latency and issue-to-all-records time for a county-wide warning (--residents 355544)", benchSpine},
		"login": {"[--attackers N] [--duration D] [--pid PID]",
			"password-guessing flood vs an officer's latency and alertd's memory (--attackers 100 --duration 30s --pid PID; loopback only)", benchLogin},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "alertbench:", err)
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
		c, ok := commands[args[1]]
		if !ok {
			usage(os.Stderr)
			return fmt.Errorf("help: unknown command %q", args[1])
		}
		printHelpHeader(os.Stdout, args[1])
		helpHeaderShown = true
		return c.run(ctx, []string{"--help"})
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		return nil
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(ctx, args[1:])
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: alertbench COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s %s\n      %s\n", n, commands[n].synopsis, commands[n].summary)
	}
	fmt.Fprintln(w, "\nalertbench help COMMAND shows a command's flags")
	fmt.Fprintln(w, "\nenvironment: ALERTCAST_URL (default http://127.0.0.1:8080), ALERTCAST_TOKEN")
}

// helpHeaderShown: "alertbench help COMMAND" printed the header already.
var helpHeaderShown bool

func printHelpHeader(w io.Writer, name string) {
	c := commands[name]
	fmt.Fprintf(w, "usage: alertbench %s %s\n\n%s\n", name, c.synopsis, c.summary)
}

// newFlags is the flag set of a benchmark; its usage names the command.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("alertbench "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	if helpHeaderShown { // asked for: the usage is the answer
		fs.SetOutput(os.Stdout)
	}
	fs.Usage = func() {
		w := fs.Output()
		if !helpHeaderShown {
			printHelpHeader(w, name)
		}
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
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
