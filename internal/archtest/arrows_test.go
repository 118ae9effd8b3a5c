package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/alertcast/alertcast"

// pkg is what `go list -deps -json` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	CgoFiles   []string
	Standard   bool
	Module     *struct{ Path string }
}

// rule forbids the packages matching from to depend (directly or not) on
// the packages matching any of to. Patterns are import paths relative to
// the module ("dispatch/..." is dispatch and everything under it) or, for
// outside modules, full paths with the same "/..." suffix.
type rule struct {
	from   string
	to     []string
	except []string // packages under from the rule does not cover
	why    string
}

// The arrows that must never exist. docs/architecture.md lists the same.
var rules = []rule{
	{from: "warning", to: []string{"..."},
		why: "warning is the leaf vocabulary every part shares; it imports only the standard library"},
	{from: "targeting", to: []string{"dispatch/...", "channels/...", "audio/...", "wording/...", "console/...", "internal/...", "cmd/..."},
		why: "targeting is pure: regions, population and speakers registries, resolution"},
	{from: "audio", to: []string{"dispatch/...", "channels/...", "targeting/...", "wording/...", "console/...", "internal/...", "cmd/..."},
		why: "audio renders sound from a programme; it knows nothing of warnings or channels"},
	{from: "wording", to: []string{"dispatch/...", "targeting/...", "audio/...", "console/...", "internal/...", "cmd/..."},
		why: "wording turns a message into text; it never reaches the store, the queue or the wiring"},
	{from: "channels/...", to: []string{"dispatch/...", "console/...", "internal/...", "cmd/...",
		"github.com/hibiken/asynq/...", "github.com/jackc/pgx/...", "modernc.org/sqlite/..."},
		why: "a channel sees a rendered message and recipients, never a warning, the queue or storage"},
	{from: "channels/speaker/agent", to: []string{"channels", "channels/speaker", "channels/sms/...", "channels/websocket/...",
		"channels/voice/...", "channels/webrtc/...", "targeting/...", "audio/...", "wording/...",
		"github.com/redis/...", "github.com/pion/..."},
		why: "the loudspeaker agent runs on small ARM devices: it speaks only the speaker wire protocol"},
	{from: "channels/websocket/...", to: []string{"targeting/..."},
		why: "the WebSocket hub asks its own Coverage interface, which targeting serves (Tree.Scopes()); it never holds the tree"},
	{from: "dispatch/...", to: []string{"internal/...", "cmd/...", "console/..."},
		why: "dispatch is the domain; the composition root (internal/alertd) wires it, never the other way"},
	{from: "console/...", to: []string{"dispatch/...", "channels/...", "internal/...", "cmd/..."},
		why: "the console is static pages and their server-side helpers; it calls the API over HTTP"},
	{from: "...", to: []string{"cmd/..."}, except: []string{"cmd/..."},
		why: "commands are roots: nothing imports a main package"},
}

// match reports whether import path p matches pattern pat (module-relative
// unless it names a host).
func match(pat, p string) bool {
	if pat == "..." {
		return strings.HasPrefix(p, module+"/")
	}
	full := pat
	if !strings.Contains(strings.SplitN(pat, "/", 2)[0], ".") {
		full = module + "/" + pat
	}
	if base, ok := strings.CutSuffix(full, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == full
}

func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test=false", "-json", module+"/...")
	cmd.Dir = "../.."
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestNeverArrows(t *testing.T) {
	pkgs := list(t)
	seen := 0
	for _, p := range pkgs {
		if !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		seen++
		for _, r := range rules {
			if !match(r.from, p.ImportPath) {
				continue
			}
			skip := false
			for _, e := range r.except {
				skip = skip || match(e, p.ImportPath)
			}
			if skip {
				continue
			}
			for _, d := range p.Deps {
				for _, to := range r.to {
					if d != p.ImportPath && match(to, d) {
						t.Errorf("%s depends on %s: %s", strings.TrimPrefix(p.ImportPath, module+"/"), d, r.why)
					}
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list found only %d packages of the module", seen)
	}
}

// The dispatch root is the domain its stages share; a stage may import the
// root, never the root a stage (that would be a cycle in all but name).
func TestDispatchRootImportsNoStage(t *testing.T) {
	for _, p := range list(t) {
		if p.ImportPath != module+"/dispatch" {
			continue
		}
		for _, d := range p.Imports {
			if strings.HasPrefix(d, module+"/dispatch/") && path.Base(d) != "cap" {
				t.Errorf("dispatch imports its stage %s", d)
			}
		}
	}
}

// The agent cross-compiles to ARM without a C toolchain.
func TestAgentIsPureGo(t *testing.T) {
	for _, p := range list(t) {
		if !match("channels/speaker/agent", p.ImportPath) && !match("cmd/speaker", p.ImportPath) {
			continue
		}
		if len(p.CgoFiles) > 0 {
			t.Errorf("%s has cgo files %v", p.ImportPath, p.CgoFiles)
		}
	}
}

// The rules themselves: a pattern that matches nothing is a rule about a
// package that was renamed away, and guards nothing.
func TestRulesMatchPackages(t *testing.T) {
	pkgs := list(t)
	for _, r := range rules {
		n := 0
		for _, p := range pkgs {
			if match(r.from, p.ImportPath) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("rule from %q matches no package", r.from)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, p string
		want   bool
	}{
		{"dispatch/...", module + "/dispatch", true},
		{"dispatch/...", module + "/dispatch/store", true},
		{"dispatch/...", module + "/dispatcher", false},
		{"channels", module + "/channels/sms", false},
		{"...", module + "/warning", true},
		{"...", "fmt", false},
		{"github.com/pion/...", "github.com/pion/webrtc/v4", true},
		{"github.com/pion/...", module + "/channels/webrtc", false},
	} {
		if got := match(tc.pat, tc.p); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pat, tc.p, got, tc.want)
		}
	}
}
