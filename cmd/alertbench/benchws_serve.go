package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alertcast/alertcast/channels"
	wschan "github.com/alertcast/alertcast/channels/websocket"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// reexecPinned runs this same command again under taskset.
func reexecPinned(ctx context.Context, cpus string, args []string) error {
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("--client-cpu needs taskset (util-linux): %w", err)
	}
	self, _ := os.Executable()
	cmd := exec.CommandContext(ctx, ts, append([]string{"-c", cpus, self, "ws"}, args...)...)
	cmd.Env = append(os.Environ(), "ALERTCAST_BENCH_PINNED=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// spawnServer starts `alertbench ws serve` (pinned when cpus is set) and
// waits until it answers.
func spawnServer(ctx context.Context, addr, cpus string, baseline bool, extra ...string) (func(), error) {
	self, _ := os.Executable()
	argv := []string{self, "ws", "serve", "--listen", addr}
	if baseline {
		argv = append(argv, "--baseline")
	}
	argv = append(argv, extra...)
	if cpus != "" {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("--server-cpu needs taskset: %w", err)
		}
		argv = append([]string{ts, "-c", cpus}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/bench/stats")
		if err == nil {
			resp.Body.Close()
			return stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("spawned server not answering on %s: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchWSServe runs an in-process hub on a real redis-server: the channel
// alone, without dispatch, for the channel-only figure.
func benchWSServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench ws serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve /ws, /sse, /r/ and /bench/* on (loopback only)")
	redisURL := fs.String("redis", "", "Redis URL; empty starts a throwaway redis-server (AOF on) in a temp dir")
	verbose := fs.Bool("v", false, "log at debug level")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server to this file")
	baseline := fs.Bool("baseline", false, "serve a minimal gorilla broadcaster instead of the hub: no Redis, no matching, no resume (the reference)")
	profileDir := fs.String("profile-dir", "", "let POST /bench/profile?start=1 … ?stop=1 write CPU and allocation profiles to this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	benchProfiler.dir = *profileDir
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *baseline {
		return serveBaseline(ctx, *listen)
	}
	if *redisURL == "" {
		u, stop, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer stop()
		*redisURL = u
	}
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	hub, err := wschan.NewHub(wschan.Config{
		Redis: rdb, Regions: targeting.DefaultTree().Scopes(), Logger: log,
		MaxConnsPerIP: -1, PublicRate: -1, // every load client comes from 127.0.0.1
	})
	if err != nil {
		return err
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("/ws", hub.Handler())
	mux.Handle("/sse", hub.SSEHandler())
	mux.Handle("/r/", hub.PageHandler())
	mux.HandleFunc("/bench/send", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		ttl, err := time.ParseDuration(r.URL.Query().Get("ttl"))
		if r.Method != http.MethodPost || id == "" || err != nil || ttl <= 0 {
			http.Error(w, "POST /bench/send?id=…&ttl=10s", http.StatusBadRequest)
			return
		}
		m := &channels.Message{
			Key: id + "/v1", AlertID: id, Version: 1, Kind: warning.KindAlert, Level: warning.LevelYellow,
			Event: warning.EventSandstorm, Status: warning.StatusExercise,
			Sent: time.Now(), Expires: time.Now().Add(ttl), Area: []string{"653122"},
			Texts: map[string]channels.Text{
				"zh": {Headline: "疏勒县沙尘暴黄色预警（演练）", Description: "预计今天下午有沙尘暴，能见度小于1000米。这是一次演练。", Instruction: "请关好门窗，减少外出。"},
				"ug": {Headline: "قۇم بورىنى سېرىق ئاگاھلاندۇرۇشى (مەشىق)", Description: "بۈگۈن چۈشتىن كېيىن قۇم بورىنى بولىدۇ. بۇ مەشىق.", Instruction: "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."},
			},
		}
		res, err := hub.Send(r.Context(), m, []channels.Recipient{{ID: "broadcast"}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.Handle("/bench/stats", statsHandler(hub.Subscribers))
	mux.Handle("/bench/profile", &benchProfiler)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hub.Close()
		_ = srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "bench ws serve: hub on http://%s (/ws, /sse, /r/, /bench/send, /bench/stats), redis %s\n", ln.Addr(), *redisURL)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// procStats reads another process's RSS, CPU time and thread count from
// /proc (no GC can be forced there, so RSS includes garbage not yet
// collected).
func procStats(pid int) (map[string]float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			out["rss"] = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// Fields after the command name (which may contain spaces): utime and
	// stime are fields 14 and 15 of the line, in clock ticks (100 Hz).
	if i := bytes.LastIndexByte(stat, ')'); i > 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 13 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			out["cpu"] = (ut + st) / 100
		}
	}
	return out, nil
}

// cpuSeconds is the CPU time (user+system) this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func rssBytes() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// startRedis runs a throwaway redis-server (AOF on, like production) on a
// free loopback port.
func startRedis(ctx context.Context) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("no redis-server on PATH (install Debian package redis-server) or pass --redis: %w", err)
	}
	dir, err := os.MkdirTemp("", "alertcast-benchws-")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--loglevel", "warning")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("redis-server did not start on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "redis://" + addr + "/0", stop, nil
}

func statsHandler(subscribers func() int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
			debug.FreeOSMemory()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(map[string]float64{
			"subscribers": float64(subscribers()), "goroutines": float64(runtime.NumGoroutine()),
			"heap_inuse": float64(ms.HeapInuse), "stack_inuse": float64(ms.StackInuse),
			"sys": float64(ms.Sys), "rss": float64(rssBytes()), "cpu": cpuSeconds(),
		})
	})
}

// profiler serves /bench/profile?start=1 and ?stop=1: a CPU profile of what
// happens in between, and the allocation profile at both ends (compare with
// -diff_base), so connecting thousands of clients stays out of the figures.
type profiler struct {
	dir string
	mu  sync.Mutex
	cpu *os.File
}

var benchProfiler profiler

func (p *profiler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dir == "" || r.Method != http.MethodPost {
		http.Error(w, "POST /bench/profile?start=1 or ?stop=1, with serve --profile-dir", http.StatusBadRequest)
		return
	}
	writeAllocs := func(name string) error {
		f, err := os.Create(filepath.Join(p.dir, name))
		if err != nil {
			return err
		}
		runtime.GC() // the allocs profile is as of the last GC
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	var err error
	switch {
	case r.URL.Query().Has("start") && p.cpu == nil:
		if err = writeAllocs("allocs-before.pprof"); err == nil {
			if p.cpu, err = os.Create(filepath.Join(p.dir, "cpu.pprof")); err == nil {
				if err = pprof.StartCPUProfile(p.cpu); err != nil {
					p.cpu.Close()
					p.cpu = nil
				}
			}
		}
	case r.URL.Query().Has("stop") && p.cpu != nil:
		pprof.StopCPUProfile()
		err = p.cpu.Close()
		p.cpu = nil
		if err == nil {
			err = writeAllocs("allocs.pprof")
		}
	default:
		err = errors.New("start when stopped, stop when started")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
	}
}

// serveBaseline is the reference: the minimal gorilla broadcaster (one
// writer goroutine and one reader goroutine per connection, a buffered
// channel each, default buffers), sending a frame of the same size as the
// hub's, with none of the hub's work (Redis, region matching, history).
func serveBaseline(ctx context.Context, listen string) error {
	var mu sync.Mutex
	conns := map[chan []byte]struct{}{}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ch := make(chan []byte, 32)
		mu.Lock()
		conns[ch] = struct{}{}
		mu.Unlock()
		go func() {
			for m := range ch {
				if err := c.WriteMessage(websocket.TextMessage, m); err != nil {
					break
				}
			}
			c.Close()
		}()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		mu.Lock()
		delete(conns, ch)
		mu.Unlock()
		close(ch)
	})
	mux.HandleFunc("/bench/send", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		msg, _ := json.Marshal(&wschan.Warning{Type: "warning", ID: "1-0", AlertID: id, Version: 1, Kind: "alert",
			Level: 2, LevelName: "yellow", Event: "sandstorm", EventName: "沙尘暴", Drill: true,
			Status: "exercise", Area: []string{"653122"}, Sent: time.Now(), Expires: time.Now().Add(time.Minute),
			Texts: map[string]channels.Text{"zh": {Headline: "疏勒县沙尘暴黄色预警（演练）", Description: "预计今天下午有沙尘暴，能见度小于1000米。这是一次演练。", Instruction: "请关好门窗，减少外出。"}}})
		mu.Lock()
		for ch := range conns {
			select {
			case ch <- msg:
			default:
			}
		}
		mu.Unlock()
	})
	mux.Handle("/bench/stats", statsHandler(func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }))
	mux.Handle("/bench/profile", &benchProfiler)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Fprintf(os.Stderr, "bench ws serve --baseline: minimal gorilla broadcaster on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
