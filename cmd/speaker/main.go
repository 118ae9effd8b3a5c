// Command speaker is the Alertcast loudspeaker agent. It runs on the village
// loudspeaker's controller (linux/arm64 or linux/arm v7, pure Go), dials the
// platform, plays only commands signed by the platform key, and reports what
// it did.
//
//	speaker --config /etc/alertcast/speaker.yaml
//	speaker --config sim.yaml --simulate 500 --credentials creds.csv
//	speaker --example-config
//
// Build for the devices:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build ./cmd/speaker
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build ./cmd/speaker
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// liveJoiner joins live announcements (WebRTC). cmd/speaker/live.go sets it
// from an init function when the build includes WebRTC; without it every
// live command is refused and reported as "live not supported".
var liveJoiner agent.LiveJoiner = agent.NoLive{}

const exampleConfig = `# Alertcast loudspeaker agent
url: https://alertd.example.org        # platform base URL (http:// only on a trusted network)
device: 653122100201-01                 # device id given at enrolment
credential_file: /etc/alertcast/speaker.credential   # or: credential: <secret shown once at enrolment>
public_key: <base64 platform public key: run "alertctl speakers key", or GET /api/v1/speakers/key>
cache_dir: /var/lib/alertcast-speaker   # audio cache and replay-protection state (keep on persistent storage)
window: 2m          # accepted clock difference to the platform, either way
heartbeat: 20s
firmware: "1.0.0"
signal_file: ""     # optional: a file holding the modem RSSI in dBm (e.g. written by the modem script)
sink:
  type: command     # command | file | discard
  command: ["aplay", "-q", "{file}"]   # {file} = WAV path, {volume} = 0..100
  dir: ""           # for type file: one WAV per programme is written here
  realtime: true    # file/discard: take as long as the audio lasts
`

// fileConfig is the YAML config file.
type fileConfig struct {
	URL            string        `yaml:"url"`
	Device         string        `yaml:"device"`
	Credential     string        `yaml:"credential"`
	CredentialFile string        `yaml:"credential_file"`
	PublicKey      string        `yaml:"public_key"`
	CacheDir       string        `yaml:"cache_dir"`
	Window         time.Duration `yaml:"window"`
	Heartbeat      time.Duration `yaml:"heartbeat"`
	Firmware       string        `yaml:"firmware"`
	SignalFile     string        `yaml:"signal_file"`
	Sink           struct {
		Type     string   `yaml:"type"`
		Command  []string `yaml:"command"`
		Dir      string   `yaml:"dir"`
		Realtime bool     `yaml:"realtime"`
	} `yaml:"sink"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "speaker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/alertcast/speaker.yaml", "config file")
	example := fs.Bool("example-config", false, "print an example config file and exit")
	simulate := fs.Int("simulate", 0, "run N virtual speakers in this process (sink discards; needs --credentials)")
	creds := fs.String("credentials", "", "CSV of device,credential for --simulate")
	realtime := fs.Bool("realtime", false, "with --simulate: virtual speakers take as long as the audio lasts")
	ramp := fs.Duration("ramp", 5*time.Second, "with --simulate: spread first connections over this long")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit (load tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *example {
		_, err := io.WriteString(stdout, exampleConfig)
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	fc, err := loadConfig(*cfgPath, *simulate > 0)
	if err != nil {
		return err
	}
	pub, err := wire.ParsePublicKey(fc.PublicKey)
	if err != nil {
		return fmt.Errorf("%s: public_key: %w", *cfgPath, err)
	}
	if *simulate > 0 {
		if *creds == "" {
			return errors.New("--simulate needs --credentials FILE (device,credential per line)")
		}
		f, err := os.Open(*creds)
		if err != nil {
			return err
		}
		devs, err := agent.ReadCredentials(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *creds, err)
		}
		if len(devs) < *simulate {
			return fmt.Errorf("--simulate %d but %s has only %d devices", *simulate, *creds, len(devs))
		}
		log.Info("simulating speakers", "n", *simulate, "url", fc.URL)
		return agent.Simulate(ctx, agent.SimConfig{URL: fc.URL, PublicKey: pub, Devices: devs[:*simulate],
			Realtime: *realtime, Ramp: *ramp, Heartbeat: fc.Heartbeat, Window: fc.Window, Firmware: fc.Firmware,
			Logger: log, CacheDir: fc.CacheDir})
	}

	sink, err := buildSink(fc)
	if err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	var signalFn func() int
	if fc.SignalFile != "" {
		path := fc.SignalFile
		signalFn = func() int {
			b, err := os.ReadFile(path)
			if err != nil {
				return 0
			}
			n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return n
		}
	}
	a, err := agent.New(agent.Config{URL: fc.URL, Device: fc.Device, Credential: fc.Credential, PublicKey: pub,
		StateDir: fc.CacheDir, Sink: sink, Live: liveJoiner, Window: fc.Window, Heartbeat: fc.Heartbeat,
		Firmware: fc.Firmware, Signal: signalFn, Logger: log})
	if err != nil {
		return err
	}
	log.Info("speaker agent starting", "device", fc.Device, "url", fc.URL, "sink", fc.Sink.Type)
	return a.Run(ctx)
}

// loadConfig reads and checks the config file; errors name the field.
func loadConfig(path string, simulating bool) (fileConfig, error) {
	var fc fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return fc, err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return fc, fmt.Errorf("%s: %w", path, err)
	}
	if v := os.Getenv("ALERTCAST_SPEAKER_CREDENTIAL"); v != "" {
		fc.Credential = v
	}
	if fc.Credential == "" && fc.CredentialFile != "" {
		c, err := os.ReadFile(fc.CredentialFile)
		if err != nil {
			return fc, fmt.Errorf("%s: credential_file: %w", path, err)
		}
		fc.Credential = strings.TrimSpace(string(c))
	}
	if fc.URL == "" {
		return fc, fmt.Errorf("%s: url: required", path)
	}
	if fc.PublicKey == "" {
		return fc, fmt.Errorf("%s: public_key: required", path)
	}
	if !simulating {
		if fc.Device == "" {
			return fc, fmt.Errorf("%s: device: required", path)
		}
		if fc.Credential == "" {
			return fc, fmt.Errorf("%s: credential or credential_file: required", path)
		}
		if fc.CacheDir == "" {
			return fc, fmt.Errorf("%s: cache_dir: required (replay protection and the audio cache live there)", path)
		}
	}
	return fc, nil
}

func buildSink(fc fileConfig) (agent.Sink, error) {
	switch fc.Sink.Type {
	case "", "command":
		argv := fc.Sink.Command
		if len(argv) == 0 {
			argv = []string{"aplay", "-q", "{file}"}
		}
		return &agent.CommandSink{Argv: argv}, nil
	case "file":
		if fc.Sink.Dir == "" {
			return nil, errors.New("sink.dir: required for sink type file")
		}
		if err := os.MkdirAll(fc.Sink.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("sink.dir: %w", err)
		}
		return &agent.FileSink{Dir: fc.Sink.Dir, Realtime: fc.Sink.Realtime}, nil
	case "discard":
		return &agent.DiscardSink{Realtime: fc.Sink.Realtime}, nil
	default:
		return nil, fmt.Errorf("sink.type: one of command, file, discard (got %q)", fc.Sink.Type)
	}
}
