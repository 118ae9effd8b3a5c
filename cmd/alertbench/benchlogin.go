package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alertcast/alertcast/internal/apiclient"
)

// benchLogin measures what a password-guessing flood costs a running
// alertd: N clients send wrong-password logins as fast as they are
// answered for a bounded time, while one officer with a bearer token
// lists warnings in a loop. It reports the answers the flood got, the
// officer's latency and (with --pid, same machine) alertd's resident
// memory before and at its peak. Loopback only.
func benchLogin(ctx context.Context, args []string) error {
	fs := newFlags("login")
	attackers := fs.Int("attackers", 100, "concurrent wrong-password clients (1..500)")
	duration := fs.Duration("duration", 30*time.Second, "how long the flood lasts (at most 2m)")
	user := fs.String("user", "bench-login", "target user, created with a random password if absent (needs an admin ALERTCAST_TOKEN)")
	pid := fs.Int("pid", 0, "alertd's process id, to sample its resident memory from /proc")
	officerPath := fs.String("officer-path", "/api/v1/alerts?limit=20", "what the officer requests in a loop (GET)")
	officerEvery := fs.Duration("officer-every", 100*time.Millisecond, "the officer's pace: one request this often (10/s, within the per-token API limit of 20/s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *attackers < 1 || *attackers > 500 {
		return fmt.Errorf("--attackers: 1..500, got %d", *attackers)
	}
	if *duration <= 0 || *duration > 2*time.Minute {
		return fmt.Errorf("--duration: up to 2m, got %s", *duration)
	}
	c := apiclient.FromEnv()
	u, err := url.Parse(c.Base)
	if err != nil {
		return fmt.Errorf("ALERTCAST_URL: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("bench login floods only a loopback alertd, not %s", u.Host)
	}
	if c.Token == "" {
		return errors.New("ALERTCAST_TOKEN: an admin token is required (it creates the target user and plays the officer)")
	}
	var created struct{ Name string }
	err = c.Do(ctx, "POST", "/api/v1/users", map[string]string{"name": *user, "role": "operator", "password": "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)}, &created)
	var ae *apiclient.Error
	if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusConflict) {
		return fmt.Errorf("create %s: %w", *user, err)
	}
	fmt.Printf("machine: %d cores, %s; server %s; %d attackers for %s against user %q\n", runtime.NumCPU(), cpuModel(), c.Base, *attackers, *duration, *user)

	var rssBase, rssPeak atomic.Int64
	if *pid > 0 {
		r, err := rssKB(*pid)
		if err != nil {
			return fmt.Errorf("--pid: %w", err)
		}
		rssBase.Store(r)
		rssPeak.Store(r)
	}
	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var wg sync.WaitGroup
	if *pid > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
				}
				if r, err := rssKB(*pid); err == nil && r > rssPeak.Load() {
					rssPeak.Store(r)
				}
			}
		}()
	}
	// The flood.
	tr := &http.Transport{MaxIdleConnsPerHost: *attackers, MaxConnsPerHost: *attackers}
	defer tr.CloseIdleConnections()
	flood := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	statuses := map[int]int{}
	var floodLat []time.Duration
	body, _ := json.Marshal(map[string]string{"name": *user, "password": "definitely the wrong password"})
	for range *attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[int]int{}
			var lat []time.Duration
			for runCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(runCtx, "POST", c.Base+"/api/v1/login", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := flood.Do(req)
				if err != nil {
					if runCtx.Err() == nil {
						local[-1]++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local[resp.StatusCode]++
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			floodLat = append(floodLat, lat...)
			mu.Unlock()
		}()
	}
	// The officer, on its own connection.
	officer := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	var lat []time.Duration
	officerErr := 0
	pace := time.NewTicker(*officerEvery)
	defer pace.Stop()
	for runCtx.Err() == nil {
		select {
		case <-pace.C:
		case <-runCtx.Done():
			continue
		}
		req, _ := http.NewRequestWithContext(runCtx, "GET", c.Base+*officerPath, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		t0 := time.Now()
		resp, err := officer.Do(req)
		if err != nil {
			if runCtx.Err() == nil {
				officerErr++
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			officerErr++
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	wg.Wait()
	var parts []string
	keys := make([]int, 0, len(statuses))
	total := 0
	for k, v := range statuses {
		keys = append(keys, k)
		total += v
	}
	sort.Ints(keys)
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k == -1 {
			name = "transport error"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, statuses[k]))
	}
	fmt.Printf("flood: %d logins answered (%.0f/s): %s\n", total, float64(total)/duration.Seconds(), strings.Join(parts, ", "))
	if len(floodLat) > 0 {
		sort.Slice(floodLat, func(i, j int) bool { return floodLat[i] < floodLat[j] })
		fmt.Printf("flood answer time: p50 %s  p99 %s  max %s\n", pct(floodLat, 0.5), pct(floodLat, 0.99), floodLat[len(floodLat)-1].Round(time.Microsecond))
	}
	if len(lat) == 0 {
		return fmt.Errorf("the officer got no answer in %s (%d errors)", *duration, officerErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("officer GET %s (%d requests, %d errors): p50 %s  p99 %s  max %s\n", *officerPath, len(lat), officerErr,
		pct(lat, 0.5), pct(lat, 0.99), lat[len(lat)-1].Round(time.Microsecond))
	if *pid > 0 {
		b, p := rssBase.Load(), rssPeak.Load()
		fmt.Printf("alertd RSS: before %.1f MB, peak %.1f MB, growth %.1f MB\n", float64(b)/1024, float64(p)/1024, float64(p-b)/1024)
	}
	return nil
}

// rssKB reads a process's resident set size (VmRSS) from /proc.
func rssKB(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
