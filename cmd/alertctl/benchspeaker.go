package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/warning"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
)

// benchSpeaker measures the loudspeaker channel end to end on this machine:
// one speaker hub on a real redis-server, N simulated speakers (real agents:
// signature checks, player, reports) in a child process, and a county-wide
// red warning sent to all of them. It reports, per round, how long after the
// Send call each speaker reported "playing", and the hub's memory per
// connected speaker. Loopback only; bounded in time.
func benchSpeaker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench speaker", flag.ContinueOnError)
	n := fs.Int("speakers", 5000, "simulated speakers")
	rounds := fs.Int("rounds", 3, "warnings sent, one after another")
	redisAddr := fs.String("redis", "", "host:port of a redis-server to use (default: start a throwaway one from PATH)")
	ramp := fs.Duration("ramp", 10*time.Second, "spread speaker connections over this long")
	timeout := fs.Duration("timeout", 60*time.Second, "give up waiting for connections or reports after this long")
	role := fs.String("role", "hub", "internal: hub, or agents (the child process)")
	url := fs.String("url", "", "internal: hub URL for --role agents")
	pub := fs.String("public-key", "", "internal: platform public key for --role agents")
	creds := fs.String("credentials", "", "internal: credentials CSV for --role agents")
	cpuProfile := fs.String("cpuprofile", "", "write CPU profiles of the hub (FILE) and the simulated speakers (FILE.sim) during the rounds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *role == "agents" {
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			// Profile the rounds, not the connection ramp.
			go func() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(*ramp + 4*time.Second):
				}
				if pprof.StartCPUProfile(f) == nil {
					<-ctx.Done()
					pprof.StopCPUProfile()
				}
			}()
			defer pprof.StopCPUProfile()
		}
		return benchAgents(ctx, *url, *pub, *creds, *ramp)
	}
	if *n < 1 || *rounds < 1 {
		return errors.New("--speakers and --rounds must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout+time.Duration(*rounds)*(*timeout)+*ramp)
	defer cancel()

	tmp, err := os.MkdirTemp("", "alertctl-bench-speaker-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	addr := *redisAddr
	redisPid := 0
	if addr == "" {
		stop, a, pid, err := spkRedis(ctx, tmp)
		if err != nil {
			return err
		}
		defer stop()
		addr, redisPid = a, pid
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 32})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", addr, err)
	}

	_, key, _ := ed25519.GenerateKey(rand.Reader)
	devs := speaker.NewMemoryDevices()
	var csv strings.Builder
	ids := make([]string, *n)
	for i := range *n {
		// Twelve-digit village code plus a speaker number, as enrolled.
		ids[i] = fmt.Sprintf("653122%06d-%02d", 100200+i/4, i%4+1)
		fmt.Fprintf(&csv, "%s,%s\n", ids[i], devs.Enroll(ids[i], ids[i][:12]))
	}
	credPath := filepath.Join(tmp, "creds.csv")
	if err := os.WriteFile(credPath, []byte(csv.String()), 0o600); err != nil {
		return err
	}

	rec := newSpkPlayTimes()
	hub, err := speaker.NewHub(speaker.Config{Redis: rdb, Devices: devs, Key: key, NodeID: "bench",
		Reporter: rec, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HeartbeatTimeout: 2 * time.Minute})
	if err != nil {
		return err
	}
	defer hub.Close()

	// A 4-second programme, as the audio package would render it.
	audio := spkWAV(4 * time.Second)
	sum := sha256.Sum256(audio)
	sha := hex.EncodeToString(sum[:])
	mux := http.NewServeMux()
	mux.Handle("/speaker/ws", hub.Handler())
	mux.HandleFunc("/audio/"+sha+".wav", func(w http.ResponseWriter, _ *http.Request) { w.Write(audio) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	rss0 := spkRSS()
	g0 := runtime.NumGoroutine()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.CommandContext(ctx, self, "bench", "speaker", "--role", "agents", "--url", base,
		"--public-key", speaker.EncodePublicKey(key.Public().(ed25519.PublicKey)), "--credentials", credPath,
		"--ramp", ramp.String())
	if *cpuProfile != "" {
		child.Args = append(child.Args, "--cpuprofile", *cpuProfile+".sim")
	}
	child.Stderr = os.Stderr
	// The simulator is not what is measured: a lighter GC leaves more of the
	// shared CPU to the hub, as if the speakers were elsewhere.
	child.Env = append(os.Environ(), "GOGC=400")
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { _ = child.Process.Signal(os.Interrupt); _ = child.Wait() }()

	start := time.Now()
	for hub.Connected() < *n {
		if ctx.Err() != nil {
			return fmt.Errorf("only %d of %d speakers connected", hub.Connected(), *n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("speakers connected: %d in %s (ramp %s)\n", *n, time.Since(start).Round(time.Millisecond), *ramp)
	// Let the first heartbeats and status writes settle before measuring.
	time.Sleep(2 * time.Second)
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	rss1 := spkRSS()
	heapPer := (float64(m1.HeapInuse+m1.StackInuse) - float64(m0.HeapInuse+m0.StackInuse)) / float64(*n)
	rssPer := float64(rss1-rss0) / float64(*n)
	fmt.Printf("hub memory per connected speaker: %.1f KB (Go heap in use + stacks), %.1f KB (process RSS); goroutines per speaker: %.2f\n",
		heapPer/1024, rssPer/1024, float64(runtime.NumGoroutine()-g0)/float64(*n))

	rcpt := make([]channels.Recipient, *n)
	for i, id := range ids {
		rcpt[i] = channels.Recipient{ID: id, Address: id}
	}
	fmt.Printf("%-6s %10s %10s %10s %10s %12s %8s %10s %10s %10s\n", "round", "send", "p50", "p99", "max", "received p99", "playing", "hub CPU", "sim CPU", "redis CPU")
	var worstP99, worstMax time.Duration
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err == nil {
			defer pprof.StopCPUProfile()
		}
	}
	for r := 1; r <= *rounds; r++ {
		keyName := fmt.Sprintf("bench-%d/v1", r)
		m := &channels.Message{Key: keyName, AlertID: fmt.Sprintf("bench-%d", r), Version: 1, Kind: warning.KindAlert,
			Level: warning.LevelRed, Event: warning.EventSandstorm, Status: warning.StatusActual,
			Sent: time.Now(), Expires: time.Now().Add(time.Hour), Area: []string{"653122"},
			Audio: &channels.Audio{URL: "/audio/" + sha + ".wav", SHA256: sha, Duration: 4 * time.Second, Format: "wav/pcm16/8000"}}
		rec.reset(keyName)
		hubCPU0, simCPU0, redisCPU0 := spkCPUSelf(), spkCPUOf(child.Process.Pid), spkCPUOf(redisPid)
		t0 := time.Now()
		res, err := hub.Send(ctx, m, rcpt)
		sendDur := time.Since(t0)
		if err != nil {
			return fmt.Errorf("round %d: Send: %w", r, err)
		}
		for _, x := range res {
			if x.State != channels.StateSent {
				return fmt.Errorf("round %d: %s: %v", r, x.RecipientID, x.Err)
			}
		}
		playing, received := rec.wait(ctx, *n, t0)
		if len(playing) < *n {
			return fmt.Errorf("round %d: only %d of %d speakers reported playing", r, len(playing), *n)
		}
		slices.Sort(playing)
		slices.Sort(received)
		p50, p99, mx := spkPct(playing, 0.50), spkPct(playing, 0.99), playing[len(playing)-1]
		worstP99, worstMax = max(worstP99, p99), max(worstMax, mx)
		hubCPU, simCPU, redisCPU := spkCPUSelf()-hubCPU0, spkCPUOf(child.Process.Pid)-simCPU0, spkCPUOf(redisPid)-redisCPU0
		fmt.Printf("%-6d %10s %10s %10s %10s %12s %8d %10s %10s %10s\n", r, spkMS(sendDur), spkMS(p50), spkMS(p99), spkMS(mx),
			spkMS(spkPct(received, 0.99)), len(playing), spkMS(hubCPU), spkMS(simCPU), spkMS(redisCPU))
		// The 4 s programme finishes before the next round starts.
		time.Sleep(5 * time.Second)
	}
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "OVER BUDGET"
	}
	fmt.Printf("budget: every speaker playing within 2 s (worst %s: %s); p99 ≤ 1 s (worst %s: %s); ≤ 20 KB per speaker (%.1f KB: %s)\n",
		spkMS(worstMax), verdict(worstMax <= 2*time.Second), spkMS(worstP99), verdict(worstP99 <= time.Second),
		heapPer/1024, verdict(heapPer <= 20*1024))
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: %d CPUs, %s, %s; load average at the end: %s\n", runtime.NumCPU(), spkCPU(), runtime.Version(),
		strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	return nil
}

// benchAgents is the child process: the simulated speakers.
func benchAgents(ctx context.Context, url, pub, creds string, ramp time.Duration) error {
	key, err := speaker.ParsePublicKey(pub)
	if err != nil {
		return err
	}
	f, err := os.Open(creds)
	if err != nil {
		return err
	}
	devs, err := agent.ReadCredentials(f)
	f.Close()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return agent.Simulate(ctx, agent.SimConfig{URL: url, PublicKey: key, Devices: devs, Realtime: true, Ramp: ramp,
		Heartbeat: 30 * time.Second, Logger: log})
}

// spkPlayTimes records, per device, when the hub got its "received" and
// "playing" reports for the current round.
type spkPlayTimes struct {
	mu       sync.Mutex
	key      string
	playing  map[string]time.Time
	received map[string]time.Time
	notify   chan struct{}
}

func newSpkPlayTimes() *spkPlayTimes { return &spkPlayTimes{notify: make(chan struct{}, 1)} }

func (p *spkPlayTimes) reset(key string) {
	p.mu.Lock()
	p.key, p.playing, p.received = key, map[string]time.Time{}, map[string]time.Time{}
	p.mu.Unlock()
}

func (p *spkPlayTimes) Report(_ context.Context, r channels.Receipt) {
	now := time.Now()
	p.mu.Lock()
	if r.Key == p.key {
		switch r.Detail {
		case "playing":
			if _, ok := p.playing[r.RecipientID]; !ok {
				p.playing[r.RecipientID] = now
			}
		case "received":
			if _, ok := p.received[r.RecipientID]; !ok {
				p.received[r.RecipientID] = now
			}
		}
	}
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *spkPlayTimes) wait(ctx context.Context, n int, t0 time.Time) (playing, received []time.Duration) {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		done := len(p.playing) >= n
		p.mu.Unlock()
		if done {
			break
		}
		select {
		case <-ctx.Done():
		case <-deadline.C:
		case <-p.notify:
			continue
		}
		break
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.playing {
		playing = append(playing, t.Sub(t0))
	}
	for _, t := range p.received {
		received = append(received, t.Sub(t0))
	}
	return playing, received
}

func spkPct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func spkMS(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func spkWAV(d time.Duration) []byte {
	b, _ := audio.EncodeWAV(audio.PCM{Rate: 16000, Samples: make([]int16, int(d.Seconds()*16000))})
	return b
}

// startRedis runs a throwaway redis-server (AOF on, as in production) on a
// free loopback port.
func spkRedis(ctx context.Context, dir string) (stop func(), addr string, pid int, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", 0, errors.New("redis-server not on PATH (install Debian's redis-server, or pass --redis host:port)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxclients", "10000", "--loglevel", "warning")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", 0, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return stop, addr, cmd.Process.Pid, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, "", 0, fmt.Errorf("redis-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spkRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func spkCPU() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

// spkCPUSelf is this process's user+system CPU time.
func spkCPUSelf() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// spkCPUOf is another process's user+system CPU time from /proc (clock
// ticks of 10 ms).
func spkCPUOf(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
