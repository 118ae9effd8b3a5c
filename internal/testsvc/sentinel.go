package testsvc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SentinelSet is a throwaway Redis that fails over: a master, its replicas
// and the Sentinels that watch them, all on loopback, all requiring
// Password. Every process is stopped when the test ends.
type SentinelSet struct {
	Name      string // the master's name in Sentinel
	Password  string
	Master    *RedisServer // the master at start; after a failover, a dead or demoted server
	Replicas  []*RedisServer
	Sentinels []*RedisServer
}

// URL is the set's redis+sentinel:// URL (database 0).
func (s *SentinelSet) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, r := range s.Sentinels {
		addrs[i] = r.Addr
	}
	return fmt.Sprintf("redis+sentinel://:%s@%s/%s/0", s.Password, strings.Join(addrs, ","), s.Name)
}

// RedisSentinel starts a master with replicas and sentinels (quorum: a
// majority of them). The sentinels declare a master down after 1 s without
// an answer, so a killed master is replaced within a few seconds.
func RedisSentinel(t testing.TB, replicas, sentinels int, password string) *SentinelSet {
	t.Helper()
	bin := Need(t, "redis-server")
	sbin := Need(t, "redis-sentinel")
	s := &SentinelSet{Name: "alertcast", Password: password}
	auth := []string{"--requirepass", password, "--masterauth", password}
	s.Master = startRedisWith(t, bin, auth)
	host, port, _ := strings.Cut(s.Master.Addr, ":")
	for i := 0; i < replicas; i++ {
		s.Replicas = append(s.Replicas, startRedisWith(t, bin, append([]string{"--replicaof", host, port}, auth...)))
	}
	quorum := sentinels/2 + 1
	for i := 0; i < sentinels; i++ {
		dir := t.TempDir()
		var started *RedisServer
		var lastErr error
		for attempt := 0; attempt < 5 && started == nil; attempt++ {
			p := FreePort(t)
			conf := filepath.Join(dir, "sentinel.conf")
			body := strings.Join([]string{
				"port " + strconv.Itoa(p),
				"bind 127.0.0.1",
				"daemonize no",
				"loglevel warning",
				"dir " + dir,
				fmt.Sprintf("sentinel monitor %s %s %s %d", s.Name, host, port, quorum),
				fmt.Sprintf("sentinel auth-pass %s %s", s.Name, password),
				fmt.Sprintf("sentinel down-after-milliseconds %s 1000", s.Name),
				fmt.Sprintf("sentinel failover-timeout %s 5000", s.Name),
				fmt.Sprintf("sentinel parallel-syncs %s 1", s.Name),
				"",
			}, "\n")
			// Sentinel rewrites its configuration file as it learns: it
			// must be writable, and private (it holds the password).
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			r := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", p), Dir: dir, bin: sbin, args: []string{conf}}
			if lastErr = r.tryStart(); lastErr == nil {
				started = r
			}
		}
		if started == nil {
			t.Fatalf("start redis-sentinel: %v", lastErr)
		}
		t.Cleanup(started.Stop)
		s.Sentinels = append(s.Sentinels, started)
	}
	return s
}

// startRedisWith starts a throwaway redis-server (AOF on) with extra
// arguments.
func startRedisWith(t testing.TB, bin string, extra []string) *RedisServer {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		r := &RedisServer{
			Addr: fmt.Sprintf("127.0.0.1:%d", port),
			Dir:  dir,
			bin:  bin,
			args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
				"--protected-mode", "yes", "--loglevel", "warning"}, extra...),
		}
		if lastErr = r.tryStart(); lastErr == nil {
			t.Cleanup(r.Stop)
			return r
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}
