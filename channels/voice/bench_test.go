package voice_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
)

// BenchmarkLiveFanout: one publisher (an Opus packet every 20 ms, as a
// browser sends) to N loudspeaker agents over loopback. The SFU runs in this
// process; the N agents (rtcclient, as cmd/speaker uses it) run in a child
// process, so the CPU the SFU spends is measured on its own. Agents join
// paced (a steady arrival rate, as agents with jittered reconnects arrive)
// or all at once (the herd after a county-wide "live" command).
//
// Reported: join-to-first-packet percentiles (measured by each agent from
// the start of its dial), packets lost (holes in the sequence each agent
// received), and the CPU of the SFU process and of the agents' process
// during a 10 s steady window.
//
//	go test -run XXX -bench LiveFanout -benchtime 1x ./channels/voice/
//
// VOICE_BENCH_N overrides the agent counts (comma-separated, default 1000),
// VOICE_BENCH_RATE the paced arrival rate (joins per second, default 100).
func BenchmarkLiveFanout(b *testing.B) {
	ns := []int{1000}
	if v := os.Getenv("VOICE_BENCH_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("VOICE_BENCH_N: %v", err)
			}
			ns = append(ns, n)
		}
	}
	rate := 100
	if v := os.Getenv("VOICE_BENCH_RATE"); v != "" {
		rate, _ = strconv.Atoi(v)
	}
	for _, n := range ns {
		b.Run(fmt.Sprintf("N=%d/paced%dps", n, rate), func(b *testing.B) { fanout(b, n, rate) })
		b.Run(fmt.Sprintf("N=%d/herd", n), func(b *testing.B) { fanout(b, n, 0) })
	}
}

// agentReport is what the agents' process prints when the room has ended.
type agentReport struct {
	JoinMS  []float64 `json:"join_ms"` // -1: never got audio
	Packets int64     `json:"packets"`
	Holes   int64     `json:"holes"` // sequence numbers never received, between each agent's first and last
	Lossy   int       `json:"lossy"` // agents with at least one hole
	// The steady window (publisher sequence numbers s0+1..s1): packets
	// every agent should have had, and those that never arrived.
	WindowWant  int64    `json:"window_want"`
	WindowLost  int64    `json:"window_lost"`
	WindowShort int      `json:"window_short"` // agents missing any
	EndedEarly  int      `json:"ended_early"`  // agents whose Join returned before the window closed
	MinPackets  int64    `json:"min_packets"`
	MaxPackets  int64    `json:"max_packets"`
	Bad         int64    `json:"bad"`
	Errors      []string `json:"errors"`
	// CPU of the agents' process between its "steady" and "end" marks.
	CPUSeconds  float64 `json:"cpu_s"`
	WallSeconds float64 `json:"wall_s"`
}

func fanout(b *testing.B, n, rate int) {
	for i := 0; i < b.N; i++ {
		reg := prometheus.NewRegistry()
		srv, err := voice.New(voice.Config{
			Loopback: true, UDPMuxAddr: "127.0.0.1:0", RecordDir: b.TempDir(),
			Authenticate: func(_ context.Context, tok string) (string, string, bool) {
				return "duty1", voice.RoleApprover, tok == "tok-officer" // county-wide red: an approver goes live alone
			},
			Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
			Registry:       reg,
			MaxRoomPeers:   n + 10,
			ConnectTimeout: time.Minute,
		})
		if err != nil {
			b.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/voice/ws", srv.SignalHandler())
		hs := httptest.NewServer(mux)
		wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/voice/ws"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)

		officer, err := rtcclient.Dial(ctx, wsURL, "tok-officer", rtcclient.Config{Loopback: true})
		if err != nil {
			b.Fatal(err)
		}
		pub, err := officer.GoLive(ctx, "653122", 4)
		if err != nil {
			b.Fatal(err)
		}
		lr, _ := srv.LiveRoom(pub.Room)
		<-pub.Connected

		var seq atomic.Uint32
		stop := make(chan struct{})
		pumped := make(chan struct{})
		go func() {
			defer close(pumped)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_ = pub.WriteRTP(opusPacket(uint16(seq.Add(1))))
			}
		}()

		// The agents' process: this test binary again, in agent mode.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			"VOICE_BENCH_AGENTS="+strconv.Itoa(n), "VOICE_BENCH_RATE="+strconv.Itoa(rate),
			"VOICE_BENCH_URL="+wsURL, "VOICE_BENCH_TOKEN="+lr.Token, "VOICE_BENCH_ROOM="+lr.ID)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		b.ResetTimer()
		cpuJoin0 := cpuTime()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 1<<20), 1<<24)
		// "joined" when every agent has audio (or gave up).
		if !lines.Scan() || lines.Text() != "joined" {
			b.Fatalf("agents: %q %v", lines.Text(), lines.Err())
		}
		// The SFU's CPU for the joins (and the audio meanwhile), per agent.
		joinCPU := (cpuTime() - cpuJoin0).Seconds() * 1000 / float64(n)
		time.Sleep(500 * time.Millisecond)
		cpu0, wall0, s0 := cpuTime(), time.Now(), seq.Load()
		fmt.Fprintf(stdin, "steady %d\n", s0)
		time.Sleep(10 * time.Second)
		cpu1, wall1, s1 := cpuTime(), time.Now(), seq.Load()
		// Probe joins while the SFU serves all N: a fresh agent (in this
		// process, which the agents' backlog does not slow) joins, waits
		// for its first packet and leaves, 10 per second.
		probes := probeJoins(b, ctx, wsURL, lr.Token, lr.ID, 50, 100*time.Millisecond)
		fmt.Fprintf(stdin, "end %d\n", s1)
		// The agents catch up with what is queued for them (a starved
		// process lags) before the room ends.
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "drained") {
			b.Fatalf("agents: %q %v", lines.Text(), lines.Err())
		}
		drainLag := strings.TrimPrefix(lines.Text(), "drained ")
		b.StopTimer()

		// End the room: every agent's Join returns and it reports.
		close(stop)
		<-pumped
		pub.Close()
		var rep agentReport
		if !lines.Scan() {
			b.Fatalf("agents gave no report: %v", lines.Err())
		}
		if err := json.Unmarshal(lines.Bytes(), &rep); err != nil {
			b.Fatalf("agents' report: %v", err)
		}
		_ = cmd.Wait()
		sfuJoin := joinHistogram(b, reg)
		officer.Close()
		cancel()
		srv.Close()
		hs.Close()

		joins := slices.Clone(rep.JoinMS)
		slices.Sort(joins)
		missing := 0
		for _, j := range joins {
			if j < 0 {
				missing++
			}
		}
		pct := func(p float64) float64 { return joins[min(len(joins)-1, int(p*float64(len(joins))))] }
		srvCores := (cpu1 - cpu0).Seconds() / wall1.Sub(wall0).Seconds()
		agentCores := rep.CPUSeconds / rep.WallSeconds
		pps := float64(s1-s0) / wall1.Sub(wall0).Seconds()
		b.ReportMetric(pct(0.5), "join_p50_ms")
		b.ReportMetric(pct(0.99), "join_p99_ms")
		b.ReportMetric(sfuJoin.p99*1000, "sfu_join_p99_le_ms")
		b.ReportMetric(probes.p50, "probe_join_p50_ms")
		b.ReportMetric(probes.p99, "probe_join_p99_ms")
		b.ReportMetric(float64(rep.WindowLost), "lost_pkts")
		b.ReportMetric(float64(rep.WindowWant*int64(n)), "window_pkts")
		b.ReportMetric(float64(rep.Packets), "recv_pkts")
		b.ReportMetric(srvCores, "sfu_cores")
		b.ReportMetric(agentCores, "agent_cores")
		b.ReportMetric(float64(n)/max(srvCores, 0.01), "agents_per_sfu_core")
		b.ReportMetric(joinCPU, "sfu_cpu_ms_per_join")
		b.Logf("N=%d rate=%d: probe joins with N in the room: first packet p50 %.0f ms p99 %.0f ms (max of 50); SFU join→media p50 ≤ %.0f ms, p99 ≤ %.0f ms (histogram bounds); agent join→first packet p50 %.0f ms p99 %.0f ms max %.0f ms, %d never got audio; steady window %d packets × %d agents, %d never arrived (agents short %d); holes over the whole run %d (agents %d); received %d packets in all (per agent %d..%d), %d agents left before the window closed, bad %d; agents caught up %s after the window; publisher %.1f pkt/s; SFU %.2f cores (%.0f agents per SFU core), %.1f ms SFU CPU per join; agents' process %.2f cores; load average %s; errors: %v",
			n, rate, probes.p50, probes.p99, sfuJoin.p50*1000, sfuJoin.p99*1000, pct(0.5), pct(0.99), joins[len(joins)-1], missing, rep.WindowWant, n, rep.WindowLost, rep.WindowShort, rep.Holes, rep.Lossy, rep.Packets, rep.MinPackets, rep.MaxPackets, rep.EndedEarly, rep.Bad, drainLag, pps, srvCores, float64(n)/max(srvCores, 0.01), joinCPU, agentCores, loadAvg(), first(rep.Errors, 3))
		if missing > 0 || rep.Bad > 0 || rep.EndedEarly > 0 || rep.WindowLost > 0 {
			b.Errorf("%d agents never got audio, %d left early, %d packets lost, %d altered", missing, rep.EndedEarly, rep.WindowLost, rep.Bad)
		}
	}
}

type quantiles struct{ p50, p99 float64 }

// probeJoins joins k fresh agents one after another (every gap) and returns
// dial→first-packet percentiles in ms (p99 of 50 is the maximum).
func probeJoins(b *testing.B, ctx context.Context, wsURL, token, room string, k int, gap time.Duration) quantiles {
	var ms []float64
	for i := 0; i < k; i++ {
		pctx, cancel := context.WithCancel(ctx)
		start := time.Now()
		var first time.Time
		var once sync.Once
		got := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- rtcclient.Join(pctx, wsURL, token, room, rtcclient.Config{Loopback: true, Device: fmt.Sprintf("probe-%02d", i)}, func(*rtp.Packet) {
				once.Do(func() { first = time.Now(); close(got) })
			})
		}()
		select {
		case <-got:
			ms = append(ms, float64(first.Sub(start).Microseconds())/1000)
		case err := <-done:
			b.Errorf("probe %d: %v", i, err)
		case <-time.After(30 * time.Second):
			b.Errorf("probe %d: no packet in 30 s", i)
		}
		cancel()
		<-done
		time.Sleep(gap)
	}
	if len(ms) == 0 {
		return quantiles{}
	}
	slices.Sort(ms)
	return quantiles{p50: ms[len(ms)/2], p99: ms[min(len(ms)-1, len(ms)*99/100)]}
}

// joinHistogram reads alertcast_voice_join_seconds: the upper bounds of the
// buckets holding the median and the 99th percentile.
func joinHistogram(b *testing.B, reg *prometheus.Registry) quantiles {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "alertcast_voice_join_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		total := float64(h.GetSampleCount())
		q := quantiles{p50: math.Inf(1), p99: math.Inf(1)}
		for _, bk := range h.GetBucket() {
			c := float64(bk.GetCumulativeCount())
			if c >= 0.5*total && math.IsInf(q.p50, 1) {
				q.p50 = bk.GetUpperBound()
			}
			if c >= 0.99*total && math.IsInf(q.p99, 1) {
				q.p99 = bk.GetUpperBound()
			}
		}
		return q
	}
	b.Fatal("no join histogram")
	return quantiles{}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// runAgents is the child process of BenchmarkLiveFanout (see TestMain).
func runAgents() {
	n, _ := strconv.Atoi(os.Getenv("VOICE_BENCH_AGENTS"))
	rate, _ := strconv.Atoi(os.Getenv("VOICE_BENCH_RATE"))
	url, token, room := os.Getenv("VOICE_BENCH_URL"), os.Getenv("VOICE_BENCH_TOKEN"), os.Getenv("VOICE_BENCH_ROOM")
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	type agent struct {
		start, first time.Time
		got          atomic.Bool
		firstQ       uint16
		seen         [1 << 16 / 64]uint64 // by sequence offset from the first packet
		maxOff       int
		packets      int64
		bad          int64
		err          error
		returned     atomic.Int64 // unix nanos when Join returned
		mu           sync.Mutex   // guards maxOff and seen against the drain check
	}
	agents := make([]*agent, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	for j := range agents {
		a := &agent{}
		agents[j] = a
		if rate > 0 {
			time.Sleep(time.Until(t0.Add(time.Duration(j) * time.Second / time.Duration(rate))))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.start = time.Now()
			defer func() { a.returned.Store(time.Now().UnixNano()) }()
			a.err = rtcclient.Join(ctx, url, token, room, rtcclient.Config{Loopback: true, Device: fmt.Sprintf("spk-%04d", j)}, func(p *rtp.Packet) {
				if len(p.Payload) != 5 || p.Payload[0] != 0xF8 {
					a.bad++
					return
				}
				q := uint16(p.Payload[1])<<8 | uint16(p.Payload[2])
				if !a.got.Load() {
					a.first, a.firstQ = time.Now(), q
					a.got.Store(true)
				}
				// Offsets from the first packet: a reordered packet fills
				// its place, only packets that never came count as lost.
				off := int(q - a.firstQ)
				if off >= 1<<15 {
					return // older than the first one we saw
				}
				a.mu.Lock()
				a.seen[off/64] |= 1 << (off % 64)
				a.maxOff = max(a.maxOff, off)
				a.mu.Unlock()
				a.packets++
			})
		}()
	}
	// Report "joined" once everyone has audio (or after 2 minutes).
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		all := true
		for _, a := range agents {
			if !a.got.Load() {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("joined")
	in := bufio.NewScanner(os.Stdin)
	var cpu0, cpu1 time.Duration
	var wall0, wall1 time.Time
	var s0, s1 uint32
	for in.Scan() {
		var mark string
		var at uint32
		fmt.Sscan(in.Text(), &mark, &at)
		if mark == "steady" {
			cpu0, wall0, s0 = cpuTime(), time.Now(), at
		}
		if mark == "end" {
			cpu1, wall1, s1 = cpuTime(), time.Now(), at
			break
		}
	}
	// Wait (up to 60 s) until every agent has read up to s1.
	for dl := time.Now().Add(time.Minute); time.Now().Before(dl); time.Sleep(20 * time.Millisecond) {
		behind := 0
		for _, a := range agents {
			a.mu.Lock()
			caught := a.got.Load() && a.maxOff >= int(uint16(s1)-a.firstQ)
			a.mu.Unlock()
			if !caught {
				behind++
			}
		}
		if behind == 0 {
			break
		}
	}
	fmt.Printf("drained %s\n", time.Since(wall1).Round(time.Millisecond))
	wg.Wait()
	rep := agentReport{CPUSeconds: (cpu1 - cpu0).Seconds(), WallSeconds: wall1.Sub(wall0).Seconds(), WindowWant: int64(s1 - s0)}
	for _, a := range agents {
		if a.got.Load() {
			rep.JoinMS = append(rep.JoinMS, float64(a.first.Sub(a.start).Microseconds())/1000)
		} else {
			rep.JoinMS = append(rep.JoinMS, -1)
		}
		rep.Packets += a.packets
		if a.got.Load() {
			var have int
			for _, w := range a.seen {
				have += bits.OnesCount64(w)
			}
			if lost := int64(a.maxOff + 1 - have); lost > 0 {
				rep.Holes += lost
				rep.Lossy++
			}
		}
		var wlost int64
		for q := s0 + 1; q <= s1; q++ {
			off := int(uint16(q) - a.firstQ)
			if !a.got.Load() || off >= 1<<15 || a.seen[off/64]&(1<<(off%64)) == 0 {
				wlost++
			}
		}
		if wlost > 0 {
			rep.WindowLost += wlost
			rep.WindowShort++
		}
		if r := a.returned.Load(); r != 0 && r < wall1.UnixNano() {
			rep.EndedEarly++
		}
		if rep.MinPackets == 0 || a.packets < rep.MinPackets {
			rep.MinPackets = a.packets
		}
		rep.MaxPackets = max(rep.MaxPackets, a.packets)
		rep.Bad += a.bad
		if a.err != nil {
			rep.Errors = append(rep.Errors, a.err.Error())
		}
	}
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
