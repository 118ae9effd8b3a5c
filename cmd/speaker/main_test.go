package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/warning"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// TestPureGoForDevices checks that the agent's whole dependency graph is
// pure Go for the loudspeaker controllers (linux/arm64 and linux/arm v7):
// with CGO_ENABLED=0 no package needs cgo and none fails to resolve, and the
// agent cross-builds for both, as test.sh also does (so the build cache is
// warm there):
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build ./cmd/speaker
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build ./cmd/speaker
func TestPureGoForDevices(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, target := range []struct{ arch, arm string }{{"arm64", ""}, {"arm", "7"}} {
		t.Run(target.arch+target.arm, func(t *testing.T) {
			env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+target.arch, "GOARM="+target.arm)
			cmd := exec.Command(goBin, "list", "-e", "-deps", "-f", "{{.ImportPath}} cgo={{len .CgoFiles}} err={{if .Error}}{{.Error}}{{end}}", ".")
			cmd.Env = env
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, b)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if !strings.Contains(line, " cgo=0 ") || !strings.HasSuffix(line, "err=") {
					t.Errorf("not pure Go for linux/%s: %s", target.arch, line)
				}
			}
			out := filepath.Join(t.TempDir(), "speaker")
			build := exec.Command(goBin, "build", "-o", out, ".")
			build.Env = env
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("GOARCH=%s GOARM=%s go build: %v\n%s", target.arch, target.arm, err, b)
			}
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "speaker.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsNameTheField(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := speaker.EncodePublicKey(key.Public().(ed25519.PublicKey))
	for want, body := range map[string]string{
		"url:":         "public_key: " + pub + "\n",
		"public_key:":  "url: http://127.0.0.1:1\n",
		"device:":      "url: http://127.0.0.1:1\npublic_key: " + pub + "\n",
		"credential":   "url: http://127.0.0.1:1\npublic_key: " + pub + "\ndevice: d\n",
		"cache_dir:":   "url: http://127.0.0.1:1\npublic_key: " + pub + "\ndevice: d\ncredential: c\n",
		"sink.type":    "url: http://127.0.0.1:1\npublic_key: " + pub + "\ndevice: d\ncredential: c\ncache_dir: /tmp/x\nsink: {type: piano}\n",
		"field volume": "url: http://127.0.0.1:1\nvolume: 3\n",
	} {
		err := run(context.Background(), []string{"--config", writeConfig(t, body)}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: got %v, want an error naming %q", body, err, want)
		}
	}
}

func TestExampleConfigParses(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--example-config"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	// The placeholder points at what exists: alertctl's command and the API route.
	const placeholder = `<base64 platform public key: run "alertctl speakers key", or GET /api/v1/speakers/key>`
	if !strings.Contains(out.String(), "public_key: "+placeholder+"\n") {
		t.Fatalf("example config's public_key line changed:\n%s", out.String())
	}
	body := strings.Replace(out.String(), placeholder, speaker.EncodePublicKey(key.Public().(ed25519.PublicKey)), 1)
	body = strings.Replace(body, "credential_file: /etc/alertcast/speaker.credential", "credential: from-enrolment", 1)
	if _, err := loadConfig(writeConfig(t, body), false); err != nil {
		t.Fatalf("example config: %v", err)
	}
}

func silentWAV(d time.Duration) []byte {
	b, _ := audio.EncodeWAV(audio.PCM{Rate: 8000, Samples: make([]int16, int(d.Seconds()*8000))})
	return b
}

// TestAgentWritesProgrammeFile runs the binary's entry point against a real
// hub on a real Redis: a red warning ends up as a WAV file in the sink
// folder, byte for byte the programme the platform rendered.
func TestAgentWritesProgrammeFile(t *testing.T) {
	rs := testsvc.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	devs := speaker.NewMemoryDevices()
	secret := devs.Enroll("653122100201-01", "653122100201")
	got := make(chan channels.Receipt, 16)
	hub, err := speaker.NewHub(speaker.Config{Redis: rdb, Devices: devs, Key: key, Logger: slog.New(slog.DiscardHandler),
		Reporter: channels.ReporterFunc(func(_ context.Context, r channels.Receipt) { got <- r })})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	audio := silentWAV(200 * time.Millisecond)
	sum := sha256.Sum256(audio)
	sha := hex.EncodeToString(sum[:])
	mux := http.NewServeMux()
	mux.Handle("/speaker/ws", hub.Handler())
	mux.HandleFunc("/audio/"+sha+".wav", func(w http.ResponseWriter, _ *http.Request) { w.Write(audio) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("url: %s\ndevice: 653122100201-01\ncredential: %s\npublic_key: %s\ncache_dir: %s\nheartbeat: 1s\nsink:\n  type: file\n  dir: %s\n",
		srv.URL, secret, speaker.EncodePublicKey(key.Public().(ed25519.PublicKey)), t.TempDir(), out))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", cfg, "--log-level", "error"}, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	m := &channels.Message{Key: "W1/v1", AlertID: "W1", Version: 1, Kind: warning.KindAlert, Level: warning.LevelRed, Event: warning.EventSandstorm, Status: warning.StatusActual,
		Expires: time.Now().Add(time.Hour), Audio: &channels.Audio{URL: "/audio/" + sha + ".wav", SHA256: sha}}
	res, err := hub.Send(context.Background(), m, []channels.Recipient{{ID: "653122100201-01", Address: "653122100201-01"}})
	if err != nil || res[0].State != channels.StateSent {
		t.Fatalf("Send: %v %+v", err, res)
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case r := <-got:
			if r.Detail != "played" {
				continue
			}
			files, _ := filepath.Glob(filepath.Join(out, "*-W1_v1-r1.wav"))
			if len(files) != 1 {
				t.Fatalf("sink folder: %v", files)
			}
			b, _ := os.ReadFile(files[0])
			if !bytes.Equal(b, audio) {
				t.Fatal("programme file differs from the rendered audio")
			}
			return
		case <-deadline:
			t.Fatal("no played receipt")
		}
	}
}
