package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alertcast/alertcast/targeting"
	"github.com/gorilla/websocket"
)

// benchWS measures the WebSocket channel: time from issuing a warning to the
// last of N subscribers receiving it, and server memory per connection.
//
//	alertbench ws serve --listen 127.0.0.1:8090             # in-process hub on a managed redis-server
//	alertbench ws --url ws://127.0.0.1:8090/ws --subscribers 5000 --warnings 50
//	alertbench ws --url ws://127.0.0.1:8080/ws --trigger api   # issue through alertd's REST API
//	alertbench ws --spawn --server-cpu 0 --client-cpu 1 ...     # both, pinned, one command
func benchWS(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "serve" {
		return benchWSServe(ctx, args[1:])
	}
	fs := flag.NewFlagSet("bench ws", flag.ContinueOnError)
	wsURL := fs.String("url", "ws://127.0.0.1:8090/ws", "WebSocket endpoint to subscribe to")
	subs := fs.Int("subscribers", 5000, "subscribers to connect")
	warnings := fs.Int("warnings", 50, "warnings to issue, one after the other")
	trigger := fs.String("trigger", "bench", "how to issue: bench (the serve mode's /bench/send: channel only) or api (POST /api/v1/alerts on ALERTCAST_URL with ALERTCAST_TOKEN)")
	lang := fs.String("lang", "zh", "subscription language (zh, ug, or empty for both)")
	idle := fs.Int("idle", 0, "after the warnings, grow to this many connections and hold them idle (memory per connection)")
	hold := fs.Duration("hold", 30*time.Second, "how long to hold the idle connections (covers a ping round at 30 s)")
	timeout := fs.Duration("timeout", 20*time.Second, "give up on one warning after this")
	spawn := fs.Bool("spawn", false, "start `alertbench ws serve` as a child process first (implies --trigger bench)")
	serverCPU := fs.String("server-cpu", "", "with --spawn: pin the server (and its redis-server) to these CPUs with taskset, e.g. 0")
	clientCPU := fs.String("client-cpu", "", "pin this load client to these CPUs with taskset, e.g. 1 (re-executes under taskset)")
	dialers := fs.Int("dial-concurrency", 64, "concurrent connection attempts")
	baseline := fs.Bool("baseline", false, "with --spawn: run the minimal gorilla broadcaster instead of the hub (the reference figure on this machine, now)")
	serverPID := fs.Int("server-pid", 0, "process id of the server (e.g. alertd) to read its RSS and CPU time from /proc, when it has no /bench/stats")
	profile := fs.String("profile", "", "with --spawn: write the server's CPU and allocation profiles of the warnings (not the connecting) to this directory: cpu.pprof, allocs-before.pprof, allocs.pprof (go tool pprof -sample_index=alloc_space -diff_base allocs-before.pprof allocs.pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clientCPU != "" && os.Getenv("ALERTCAST_BENCH_PINNED") == "" {
		return reexecPinned(ctx, *clientCPU, args)
	}
	if *spawn {
		u, err := url.Parse(*wsURL)
		if err != nil {
			return fmt.Errorf("--url: %w", err)
		}
		var extra []string
		if *profile != "" {
			dir, err := filepath.Abs(*profile)
			if err != nil {
				return fmt.Errorf("--profile: %w", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--profile: %w", err)
			}
			extra = append(extra, "--profile-dir", dir)
		}
		stop, err := spawnServer(ctx, u.Host, *serverCPU, *baseline, extra...)
		if err != nil {
			return err
		}
		defer stop()
		*trigger = "bench"
	}
	b := &wsBench{wsURL: *wsURL, lang: *lang, timeout: *timeout, pid: *serverPID, profile: *profile != ""}
	if err := b.setTrigger(*trigger); err != nil {
		return err
	}
	fmt.Printf("bench ws: %d subscribers, %d warnings, trigger %s, %s, GOMAXPROCS %d, nproc %d, %s\n",
		*subs, *warnings, *trigger, *wsURL, runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel())
	before, _ := b.stats(ctx, true)
	t0 := time.Now()
	if err := b.connect(ctx, *subs, *dialers); err != nil {
		return err
	}
	fmt.Printf("connected %d subscribers in %s\n", *subs, time.Since(t0).Round(time.Millisecond))
	if after, err := b.settledStats(ctx, *subs); err == nil && before != nil {
		printMem(*subs, before, after)
	}
	if err := b.run(ctx, *warnings); err != nil {
		return err
	}
	if *idle > *subs {
		t0 := time.Now()
		if err := b.connect(ctx, *idle-*subs, *dialers); err != nil {
			return err
		}
		fmt.Printf("connected %d idle connections in all (%s)\n", *idle, time.Since(t0).Round(time.Millisecond))
		if after, err := b.settledStats(ctx, *idle); err == nil && before != nil {
			printMem(*idle, before, after)
		}
		fmt.Printf("holding %d connections for %s…\n", *idle, *hold)
		select {
		case <-time.After(*hold):
		case <-ctx.Done():
			return ctx.Err()
		}
		if n := b.open.Load(); n != int64(*idle) {
			return fmt.Errorf("only %d of %d connections still open after %s", n, *idle, *hold)
		}
		if st, err := b.stats(ctx, false); err == nil {
			if n, ok := st["subscribers"]; ok {
				fmt.Printf("after holding: server reports %v subscribers\n", n)
			}
		}
		fmt.Printf("all %d connections still open; one more warning to all of them:\n", *idle)
		if err := b.run(ctx, 5); err != nil {
			return err
		}
	}
	b.closeAll()
	return nil
}

type wsBench struct {
	wsURL   string
	lang    string
	timeout time.Duration
	base    string // http(s)://host of the server, for /bench/*
	apiURL  string
	token   string
	trigger string
	pid     int  // server process for /proc figures
	profile bool // the spawned server profiles the first run's warnings

	mu    sync.Mutex
	conns []*websocket.Conn
	open  atomic.Int64

	// The warning being measured.
	want     atomic.Pointer[string]
	round    atomic.Pointer[round]
	lastRecv atomic.Int64 // unix ns of the latest receipt
}

func (b *wsBench) setTrigger(mode string) error {
	u, err := url.Parse(b.wsURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("--url: want ws://host:port/ws, got %q", b.wsURL)
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	b.base = scheme + "://" + u.Host
	b.trigger = mode
	switch mode {
	case "bench":
	case "api":
		b.apiURL = strings.TrimSuffix(envOr("ALERTCAST_URL", "http://127.0.0.1:8080"), "/")
		b.token = os.Getenv("ALERTCAST_TOKEN")
		if b.token == "" {
			return errors.New("--trigger api needs ALERTCAST_TOKEN (an operator token)")
		}
	default:
		return fmt.Errorf("--trigger: bench or api, got %q", mode)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// connect opens n more subscribers, spread over every village of the county.
func (b *wsBench) connect(ctx context.Context, n, concurrency int) error {
	villages := targeting.DefaultTree().Villages()
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 256, HandshakeTimeout: 30 * time.Second}
	// On loopback, spread subscribers over source addresses 127.0.0.2-201
	// like a crowd of phones: the server's per-address caps and public rate
	// limit stay on, and ephemeral ports do not run out at 15,000+.
	u, _ := url.Parse(b.wsURL)
	host := u.Hostname()
	loopback := host == "127.0.0.1" || host == "localhost"
	var next atomic.Int64
	offset := int(b.open.Load())
	errc := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				v := villages[(offset+i)%len(villages)].Code
				target := b.wsURL + "?region=" + v
				if b.lang != "" {
					target += "&lang=" + b.lang
				}
				var c *websocket.Conn
				var err error
				dd := d
				if loopback {
					src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+(offset+i)%200))}
					dd.NetDialContext = (&net.Dialer{LocalAddr: src, Timeout: 30 * time.Second}).DialContext
				}
				for attempt := 0; attempt < 5; attempt++ {
					c, _, err = dd.DialContext(ctx, target, nil)
					if err == nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
				}
				if err != nil {
					errc <- fmt.Errorf("subscriber %d: %w", offset+i, err)
					return
				}
				b.mu.Lock()
				b.conns = append(b.conns, c)
				b.mu.Unlock()
				b.open.Add(1)
				go b.read(c)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	// Every subscriber has its snapshot (it reads it before anything else).
	return nil
}

var alertIDKey = []byte(`"alert_id":"`)

// read consumes one subscriber's frames into a reused buffer, looking only
// at the alert id: the load client must cost far less than the server.
func (b *wsBench) read(c *websocket.Conn) {
	defer b.open.Add(-1)
	buf := make([]byte, 0, 2048)
	warnPrefix := []byte(`{"type":"warning"`)
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		now := time.Now().UnixNano()
		if !bytes.HasPrefix(buf, warnPrefix) {
			continue
		}
		want := b.want.Load()
		if want == nil {
			continue
		}
		if b.trigger == "api" {
			// The alert id is known only from the API's answer, which a
			// fast delivery can beat: match the marker in the headline.
			if !bytes.Contains(buf, []byte(*want)) {
				continue
			}
		} else if !matchAlertID(buf, *want) {
			continue
		}
		b.count(now)
	}
}

func matchAlertID(msg []byte, want string) bool {
	i := bytes.Index(msg, alertIDKey)
	if i < 0 {
		return false
	}
	rest := msg[i+len(alertIDKey):]
	j := bytes.IndexByte(rest, '"')
	return j >= 0 && string(rest[:j]) == want
}

func (b *wsBench) count(now int64) {
	for {
		cur := b.lastRecv.Load()
		if now <= cur || b.lastRecv.CompareAndSwap(cur, now) {
			break
		}
	}
	r := b.round.Load()
	if slot := r.slots.Add(1) - 1; slot < int64(len(r.recvs)) {
		r.recvs[slot] = now - r.start
	}
	if r.got.Add(1) == int64(len(r.recvs)) {
		close(r.done)
	}
}

// round is one warning being measured.
type round struct {
	start int64 // unix ns of the issue call
	recvs []int64
	slots atomic.Int64
	got   atomic.Int64
	done  chan struct{}
}

// run issues warnings one after the other and reports the time from each
// issue call to its last receipt.
func (b *wsBench) run(ctx context.Context, warnings int) error {
	n := b.open.Load()
	srvBefore, _ := b.stats(ctx, false)
	cliBefore := cpuSeconds()
	if b.profile {
		if err := b.benchCall(ctx, "/bench/profile?start=1"); err != nil {
			return fmt.Errorf("start profiling: %w", err)
		}
		b.profile = false
		defer func() {
			if err := b.benchCall(context.WithoutCancel(ctx), "/bench/profile?stop=1"); err != nil {
				fmt.Fprintf(os.Stderr, "stop profiling: %v\n", err)
			}
		}()
	}
	var lasts []time.Duration
	var all []int64
	for i := range warnings {
		id := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		b.lastRecv.Store(0)
		start := time.Now()
		rd := &round{start: start.UnixNano(), recvs: make([]int64, n), done: make(chan struct{})}
		b.round.Store(rd)
		b.want.Store(&id)
		if b.trigger == "bench" {
			if err := b.issueBench(ctx, id); err != nil {
				return err
			}
		} else if _, err := b.issueAPI(ctx, id); err != nil {
			return err
		}
		select {
		case <-rd.done:
		case <-time.After(b.timeout):
			return fmt.Errorf("warning %d: only %d of %d subscribers received it within %s", i, rd.got.Load(), n, b.timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
		last := time.Duration(b.lastRecv.Load() - start.UnixNano())
		lasts = append(lasts, last)
		b.want.Store(nil)
		all = append(all, rd.recvs...)
	}
	sort.Slice(lasts, func(i, j int) bool { return lasts[i] < lasts[j] })
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pd := func(s []time.Duration, q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	pn := func(s []int64, q float64) time.Duration {
		return time.Duration(s[min(len(s)-1, int(q*float64(len(s))))])
	}
	fmt.Printf("%d warnings × %d subscribers: issue → last subscriber p50 %s p99 %s max %s\n",
		warnings, n, pd(lasts, 0.5).Round(100*time.Microsecond), pd(lasts, 0.99).Round(100*time.Microsecond), lasts[len(lasts)-1].Round(100*time.Microsecond))
	fmt.Printf("  per delivery (all %d receipts): p50 %s p99 %s\n", len(all), pn(all, 0.5).Round(100*time.Microsecond), pn(all, 0.99).Round(100*time.Microsecond))
	cli := (cpuSeconds() - cliBefore) / float64(warnings) * 1000
	if srvAfter, err := b.stats(ctx, false); err == nil && srvBefore != nil {
		srv := (srvAfter["cpu"] - srvBefore["cpu"]) / float64(warnings) * 1000
		fmt.Printf("  CPU per warning: server %.1f ms (%.1f µs per subscriber), load client %.1f ms\n", srv, srv*1000/float64(n), cli)
	} else {
		fmt.Printf("  CPU per warning: load client %.1f ms\n", cli)
	}
	return nil
}

func (b *wsBench) issueBench(ctx context.Context, id string) error {
	// The warning expires soon after the round, so the active set (sent to
	// every new connection) stays as small as on a real night.
	req, _ := http.NewRequestWithContext(ctx, "POST", b.base+"/bench/send?ttl=5s&id="+url.QueryEscape(id), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("trigger: %w (is `alertbench ws serve` running at %s?)", err, b.base)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("trigger: HTTP %d: %s", resp.StatusCode, msg)
	}
	return nil
}

// benchCall posts to one of the serve mode's /bench/ endpoints.
func (b *wsBench) benchCall(ctx context.Context, path string) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", b.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	}
	return nil
}

// issueAPI issues a yellow exercise (no approval needed) to the whole
// county through the REST API and returns the alert id.
func (b *wsBench) issueAPI(ctx context.Context, marker string) (string, error) {
	body := map[string]any{
		"event": "sandstorm", "level": "yellow", "status": "exercise",
		"area": map[string]any{"codes": []string{"653122"}}, "channels": []string{"websocket"},
		"text": map[string]any{
			"zh": map[string]string{"headline": "压力测试演练 " + marker, "description": "这是一次演练，不是真实预警。", "instruction": "无需采取行动。"},
			"ug": map[string]string{"headline": "سىناق مەشىقى " + marker, "description": "بۇ مەشىق، ھەقىقىي ئاگاھلاندۇرۇش ئەمەس.", "instruction": "ھېچ ئىش قىلىشنىڭ ھاجىتى يوق."},
		},
		"expires": time.Now().Add(10 * time.Minute).Format(time.RFC3339),
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", b.apiURL+"/api/v1/alerts", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("issue: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("issue: HTTP %d: %s", resp.StatusCode, msg)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(msg, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("issue: no id in answer %s", msg)
	}
	return out.ID, nil
}

// stats asks the serve mode for its memory figures (nil when the server is
// not the serve mode, e.g. alertd).
func (b *wsBench) stats(ctx context.Context, gc bool) (map[string]float64, error) {
	if b.pid > 0 {
		return procStats(b.pid)
	}
	u := b.base + "/bench/stats"
	if gc {
		u += "?gc=1"
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var m map[string]float64
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// settledStats waits until the server has finished writing snapshots to new
// connections (its goroutines are back to about one per connection), then
// measures after a GC.
func (b *wsBench) settledStats(ctx context.Context, conns int) (map[string]float64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.stats(ctx, false)
		if err != nil {
			return nil, err
		}
		if st["goroutines"] <= float64(conns)*1.005+50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return b.stats(ctx, true)
}

func printMem(n int, before, after map[string]float64) {
	per := func(k string) float64 { return (after[k] - before[k]) / float64(n) / 1024 }
	if _, ok := after["heap_inuse"]; !ok {
		fmt.Printf("server memory for %d connections: RSS %.1f KB/conn (from /proc, no forced GC)\n", n, per("rss"))
		return
	}
	fmt.Printf("server memory for %d connections: RSS %.1f KB/conn, Go heap+stacks %.1f KB/conn (heap %.1f, stacks %.1f), goroutines %.2f/conn\n",
		n, per("rss"), per("heap_inuse")+per("stack_inuse"), per("heap_inuse"), per("stack_inuse"),
		(after["goroutines"]-before["goroutines"])/float64(n))
}

func (b *wsBench) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.conns = nil
}
