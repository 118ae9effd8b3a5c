// Command benchloris measures how long alertd lets a slow-loris client hold
// a connection: it opens connections that send the request head, or a
// request body, one byte every -interval, and reports when the server cut
// each one off. Loopback only; bounded by -max.
//
//	go run ./scripts/benchloris -addr 127.0.0.1:8080 -runs 3
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "alertd address (loopback only)")
	interval := flag.Duration("interval", 5*time.Second, "time between bytes")
	runs := flag.Int("runs", 3, "connections per mode")
	maxWait := flag.Duration("max", 60*time.Second, "give up on a connection after this long (it counts as not cut off)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "benchloris: -addr must be a loopback IP:port")
		os.Exit(2)
	}
	body := `{"name":"loris","password":"` + strings.Repeat("x", 200) + `"}`
	modes := []struct {
		name         string
		prefix, slow string
	}{
		{"headers", "", "GET /healthz HTTP/1.1\r\nHost: loris\r\nUser-Agent: " + strings.Repeat("l", 200) + "\r\n\r\n"},
		{"body", "POST /api/v1/login HTTP/1.1\r\nHost: loris\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n", body},
	}
	failed := false
	for _, m := range modes {
		type res struct {
			d   time.Duration
			cut bool
		}
		ch := make(chan res, *runs)
		for range *runs {
			go func() {
				d, cut := loris(*addr, m.prefix, m.slow, *interval, *maxWait)
				ch <- res{d, cut}
			}()
		}
		var ds []time.Duration
		for range *runs {
			r := <-ch
			if !r.cut {
				failed = true
				fmt.Printf("%-7s NOT cut off within %v\n", m.name, *maxWait)
				continue
			}
			ds = append(ds, r.d)
		}
		slices.Sort(ds)
		if len(ds) > 0 {
			fmt.Printf("%-7s interval %v runs %d: cut off after median %.2f s, worst %.2f s (all: %v)\n",
				m.name, *interval, len(ds), ds[len(ds)/2].Seconds(), ds[len(ds)-1].Seconds(), ds)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// loris dribbles slow after prefix and returns how long the connection
// lived and whether the server closed it (rather than us giving up or the
// request completing).
func loris(addr, prefix, slow string, interval, maxWait time.Duration) (time.Duration, bool) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 0, false
	}
	defer c.Close()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, c) // the server's answer, if any, then EOF
		closed <- time.Since(start)
	}()
	if _, err := io.WriteString(c, prefix); err != nil {
		return time.Since(start), true
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	deadline := time.After(maxWait)
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			return d, true
		case <-deadline:
			return time.Since(start), false
		case <-t.C:
			if i >= len(slow) {
				return time.Since(start), false // the whole request went through
			}
			if _, err := c.Write([]byte{slow[i]}); err != nil {
				return time.Since(start), true
			}
		}
	}
}
