package alertd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// redisHandle is the Redis this process uses and how to stop what it started.
type redisHandle struct {
	Client  redis.UniversalClient
	Kind    string // external, managed, in-process
	Durable bool
	stop    func()
}

func (h *redisHandle) Close() {
	if h.Client != nil {
		_ = h.Client.Close()
	}
	if h.stop != nil {
		h.stop()
	}
}

// openRedis connects to url, or with no url starts a managed local
// redis-server (AOF on, in the data dir) when one is on PATH, and otherwise
// an in-process miniredis, loudly not durable.
func openRedis(ctx context.Context, url, dataDir string, log *slog.Logger) (*redisHandle, error) {
	if url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		opt.MaxRetries = 2
		c := redis.NewClient(opt)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := c.Ping(pctx).Err(); err != nil {
			// Start anyway: warnings are stored and dispatched when Redis returns.
			log.Error("Redis unreachable at start; /readyz is red until it answers", "err", err)
		}
		return &redisHandle{Client: c, Kind: "external", Durable: true}, nil
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		h, err := startManagedRedis(ctx, bin, filepath.Join(dataDir, "redis"), log)
		if err == nil {
			return h, nil
		}
		log.Error("could not start managed redis-server; falling back to in-process Redis", "err", err)
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("in-process redis: %w", err)
	}
	log.Warn("NO REDIS CONFIGURED and no redis-server on PATH: using an in-process Redis. " +
		"Queued work is NOT DURABLE and is lost if alertd stops. Install redis-server or pass --redis for production.")
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return &redisHandle{Client: c, Kind: "in-process", stop: m.Close}, nil
}

func startManagedRedis(ctx context.Context, bin, dir string, log *slog.Logger) (*redisHandle, error) {
	// redis-server changes into --dir before it opens its log file: give it
	// absolute paths.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
		"--protected-mode", "yes", "--logfile", filepath.Join(dir, "redis.log"))
	// The managed server dies with alertd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 2})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c.Ping(ctx).Err() == nil {
			break
		}
		select {
		case <-exited:
			c.Close()
			return nil, fmt.Errorf("redis-server exited at start (see %s)", filepath.Join(dir, "redis.log"))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			c.Close()
			return nil, fmt.Errorf("redis-server did not answer within 10s")
		}
		time.Sleep(25 * time.Millisecond)
	}
	log.Info("started managed redis-server (AOF on)", "addr", addr, "dir", dir)
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	return &redisHandle{Client: c, Kind: "managed", Durable: true, stop: stop}, nil
}
