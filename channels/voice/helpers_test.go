package voice_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv("VOICE_BENCH_AGENTS") != "" {
		runAgents() // the agents' process of BenchmarkLiveFanout
		return
	}
	os.Exit(m.Run())
}

// leakCheck records goroutines and open file descriptors now and, when the
// test ends (after every later Cleanup), waits until both are back.
func leakCheck(t *testing.T) {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), openFDs()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			g, fd := runtime.NumGoroutine(), openFDs()
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("leak: goroutines %d → %d, open fds %d → %d\n%s", g0, g, fd0, fd, buf[:n])
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// env is a voice server on loopback behind an httptest server.
type env struct {
	srv     *voice.Server
	http    *httptest.Server
	wsURL   string
	live    *liveRecorder
	recs    chan voice.Recording
	reports *reports
	logs    *syncBuffer
	audits  *auditLog
}

// auditLog is what Config.Audit received.
type auditLog struct {
	mu      sync.Mutex
	es      []voice.LiveAudit
	changed chan struct{}
	fail    func(voice.LiveAudit) error // nil: every record is written
}

func (a *auditLog) write(_ context.Context, e voice.LiveAudit) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		if err := a.fail(e); err != nil {
			return err
		}
	}
	a.es = append(a.es, e)
	close(a.changed)
	a.changed = make(chan struct{})
	return nil
}

// wait returns the first record with action for which match is true.
func (a *auditLog) wait(t *testing.T, action string, match func(voice.LiveAudit) bool) voice.LiveAudit {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		a.mu.Lock()
		for _, e := range a.es {
			if e.Action == action && (match == nil || match(e)) {
				a.mu.Unlock()
				return e
			}
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s audit record; have %+v", action, a.all())
		}
	}
}

func (a *auditLog) all() []voice.LiveAudit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]voice.LiveAudit(nil), a.es...)
}

// frameLog collects the frames a client's OnFrame sees.
type frameLog struct {
	mu      sync.Mutex
	fs      []wire.Frame
	changed chan struct{}
}

func newFrameLog() *frameLog { return &frameLog{changed: make(chan struct{})} }

func (l *frameLog) on(f wire.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fs = append(l.fs, f)
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait returns the first frame for which match is true.
func (l *frameLog) wait(t *testing.T, what string, match func(wire.Frame) bool) wire.Frame {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for _, f := range l.fs {
			if match(f) {
				l.mu.Unlock()
				return f
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type liveRecorder struct {
	mu      sync.Mutex
	rooms   []voice.LiveRoom
	devices [][]string
	ch      chan voice.LiveRoom
}

func (l *liveRecorder) Live(_ context.Context, ids []string, r voice.LiveRoom) error {
	l.mu.Lock()
	l.rooms = append(l.rooms, r)
	l.devices = append(l.devices, ids)
	l.mu.Unlock()
	l.ch <- r
	return nil
}

type devicesByRegion map[string][]string

func (d devicesByRegion) DevicesIn(_ context.Context, region string) ([]string, error) {
	return d[region], nil
}

type reports struct {
	mu sync.Mutex
	rs []channels.Receipt
	ch chan channels.Receipt
}

func (r *reports) Report(_ context.Context, rc channels.Receipt) {
	r.mu.Lock()
	r.rs = append(r.rs, rc)
	r.mu.Unlock()
	r.ch <- rc
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tokens known to the test authenticator.
var testUsers = map[string][2]string{
	// duty1 holds the approver right, so it goes live alone at any level
	// (the SFU tests); the approval tests use the plain officers op1, op2.
	"tok-officer":  {"duty1", voice.RoleApprover},
	"tok-op1":      {"op1", voice.RoleOfficer},
	"tok-op2":      {"op2", voice.RoleOfficer},
	"tok-approver": {"chief1", voice.RoleApprover},
	"tok-field1":   {"field1", voice.RoleField},
	"tok-field2":   {"field2", voice.RoleField},
	"tok-field3":   {"field3", voice.RoleField},
	"tok-field4":   {"field4", voice.RoleField},
	"tok-guest":    {"guest", "resident"},
}

func newEnv(t *testing.T, mod func(*voice.Config)) *env {
	t.Helper()
	e := &env{
		live:    &liveRecorder{ch: make(chan voice.LiveRoom, 16)},
		recs:    make(chan voice.Recording, 16),
		reports: &reports{ch: make(chan channels.Receipt, 64)},
		logs:    &syncBuffer{},
		audits:  &auditLog{changed: make(chan struct{})},
	}
	cfg := voice.Config{
		Loopback:   true,
		UDPMuxAddr: "127.0.0.1:0",
		RecordDir:  t.TempDir(),
		OnRecording: func(_ context.Context, r voice.Recording) {
			e.recs <- r
		},
		Authenticate: func(_ context.Context, token string) (string, string, bool) {
			u, ok := testUsers[token]
			return u[0], u[1], ok
		},
		Reporter: e.reports,
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
		Devices:  devicesByRegion{"653122100": {"spk-100-01", "spk-100-02"}},
		Live:     e.live,
		Audit:    e.audits.write,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := voice.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/voice/ws", srv.SignalHandler())
	mux.Handle("/voice/", srv.PagesHandler())
	e.srv = srv
	e.http = httptest.NewServer(mux)
	e.wsURL = "ws" + strings.TrimPrefix(e.http.URL, "http") + "/voice/ws"
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := srv.Close(); err != nil { // twice is safe
			t.Errorf("second Close: %v", err)
		}
		e.http.CloseClientConnections()
		e.http.Close()
		if strings.Contains(e.logs.String(), "tok-") {
			t.Errorf("a token leaked into the logs")
		}
	})
	return e
}

func (e *env) dial(t *testing.T, token string, cfg rtcclient.Config) *rtcclient.Conn {
	t.Helper()
	cfg.Loopback = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtcclient.Dial(ctx, e.wsURL, token, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", token, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// opusPacket is a valid Opus frame header (TOC: CELT FB 20 ms, mono, one
// frame) followed by a payload that carries seq, so receivers can check it.
func opusPacket(seq uint16) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 1234},
		Payload: []byte{0xF8, byte(seq >> 8), byte(seq), 0xAA, 0xBB},
	}
}

// pump sends Opus packets every 20 ms until stop is closed.
func pump(t *testing.T, p *rtcclient.Publication, stop <-chan struct{}) <-chan uint16 {
	sent := make(chan uint16, 1)
	go func() {
		defer close(sent)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		for {
			select {
			case <-stop:
				sent <- seq
				return
			case <-tick.C:
			}
			seq++
			if err := p.WriteRTP(opusPacket(seq)); err != nil {
				sent <- seq
				return
			}
		}
	}()
	return sent
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type pcmuSource map[string][]byte

func (p pcmuSource) OpenPCMU(_ context.Context, sha string) (io.ReadCloser, error) {
	b, ok := p[sha]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
