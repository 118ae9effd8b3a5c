package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// SimDevice is one enrolled device a simulation speaks for.
type SimDevice struct{ ID, Credential string }

// ReadCredentials reads "device_id,credential" lines (a header line
// "device,credential" is skipped) as exported by enrolment.
func ReadCredentials(r io.Reader) ([]SimDevice, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.Comment = '#'
	var out []SimDevice
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		if line == 1 && strings.EqualFold(rec[0], "device") {
			continue
		}
		if rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("credentials line %d: device and credential are required", line)
		}
		out = append(out, SimDevice{ID: rec[0], Credential: rec[1]})
	}
}

// SimConfig configures Simulate.
type SimConfig struct {
	URL       string
	PublicKey ed25519.PublicKey
	Devices   []SimDevice
	// Realtime makes each virtual speaker take as long as the programme
	// lasts; otherwise plays finish at once.
	Realtime bool
	// Ramp spreads the first connections over this long, like speakers
	// powering up across a county rather than all in the same millisecond.
	Ramp      time.Duration
	Heartbeat time.Duration
	Window    time.Duration
	Firmware  string
	Logger    *slog.Logger
	// CacheDir is shared by every virtual speaker (one download per
	// programme). Default: a temp dir removed at the end.
	CacheDir string
	// Sink, when set, gives each virtual speaker its own sink (tests count
	// what every device played); default a DiscardSink.
	Sink func(device string) Sink
}

// Simulate runs one virtual speaker per device in this process until ctx is
// done: real agents (verification, player, reports, heartbeats, reconnects)
// with a discarding sink, in-memory state and one shared audio cache.
func Simulate(ctx context.Context, cfg SimConfig) error {
	if len(cfg.Devices) == 0 {
		return errors.New("simulate: no devices")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir := cfg.CacheDir
	if dir == "" {
		d, err := os.MkdirTemp("", "speaker-sim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cache, err := NewCache(dir, &http.Client{Timeout: 2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: http.ProxyFromEnvironment}})
	if err != nil {
		return err
	}
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 2048, WriteBufferSize: 2048}
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for _, d := range cfg.Devices {
		var sink Sink = &DiscardSink{Realtime: cfg.Realtime}
		if cfg.Sink != nil {
			sink = cfg.Sink(d.ID)
		}
		a, err := New(Config{URL: cfg.URL, Device: d.ID, Credential: d.Credential, PublicKey: cfg.PublicKey,
			Cache: cache, Sink: sink, Window: cfg.Window, Heartbeat: cfg.Heartbeat,
			Firmware: cfg.Firmware, Logger: cfg.Logger, Dialer: dialer, Signal: func() int { return -60 - rand.IntN(40) }})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Ramp > 0 {
				t := time.NewTimer(time.Duration(rand.Int64N(int64(cfg.Ramp))))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			if err := a.Run(ctx); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
