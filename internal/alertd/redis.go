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
	pid     int // managed redis-server
}

func (h *redisHandle) Close() {
	if h.Client != nil {
		_ = h.Client.Close()
	}
	if h.stop != nil {
		h.stop()
	}
}

// openRedis connects to url (caFile: the CA of a rediss:// server with a
// private certificate), or with no url starts a managed local redis-server
// (AOF on, in the data dir) when one is on PATH, and otherwise an in-process
// miniredis, loudly not durable. The managed and in-process servers require
// the password kept in <data dir>/redis.password.
func openRedis(ctx context.Context, url, caFile, dataDir string, log *slog.Logger) (*redisHandle, error) {
	if url != "" {
		target, err := parseRedisURL(url, caFile)
		if err != nil {
			return nil, err
		}
		where, user, hasPassword := target.describe()
		if !hasPassword {
			log.Warn("the Redis URL has no password: whoever can reach Redis can reorder, drop or delay warnings; " +
				"set requirepass (deploy/redis/alertcast-redis.conf) and put it in the URL")
		}
		if target.plain != nil {
			target.plain.MaxRetries = 2
		}
		c := target.client()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := c.Ping(pctx).Err(); isRedisAuthError(err) {
			c.Close()
			// Not transient: no retry fixes a wrong password.
			if user == "" {
				user = "default"
			}
			return nil, fmt.Errorf("redis at %s refused user %q: %v; check the user and password in --redis / ALERTCAST_REDIS_URL",
				where, user, err)
		} else if err != nil {
			// Start anyway: warnings are stored and dispatched when Redis returns.
			log.Error("Redis unreachable at start; /readyz is red until it answers", "redis", where, "err", err)
		}
		return &redisHandle{Client: c, Kind: "external", Durable: true}, nil
	}
	pw, err := loadOrCreateRedisPassword(filepath.Join(dataDir, redisPasswordFile))
	if err != nil {
		return nil, err
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		h, err := startManagedRedis(ctx, bin, filepath.Join(dataDir, "redis"), pw, log)
		if err == nil {
			return h, nil
		}
		log.Error("could not start managed redis-server; falling back to in-process Redis", "err", err)
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("in-process redis: %w", err)
	}
	m.RequireAuth(pw) // it listens on loopback, where every local user can reach it
	log.Warn("NO REDIS CONFIGURED and no redis-server on PATH: using an in-process Redis. " +
		"Queued work is NOT DURABLE and is lost if alertd stops. Install redis-server or pass --redis for production.")
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), Password: pw})
	return &redisHandle{Client: c, Kind: "in-process", stop: m.Close}, nil
}

func startManagedRedis(ctx context.Context, bin, dir, password string, log *slog.Logger) (*redisHandle, error) {
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
	// Everything goes in a 0600 config file, so the password is not in
	// redis-server's argv (ps shows that to every user).
	conf := filepath.Join(dir, "redis.conf")
	if err := writeRedisConf(conf, [][2]string{
		{"port", strconv.Itoa(port)}, {"bind", "127.0.0.1"}, {"dir", dir},
		{"appendonly", "yes"}, {"appendfsync", "everysec"}, {"save", ""}, {"daemonize", "no"},
		{"protected-mode", "yes"}, {"logfile", filepath.Join(dir, "redis.log")},
		{"requirepass", password},
	}); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, conf)
	// The managed server dies with alertd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: 2})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			break
		}
		if isRedisAuthError(err) {
			_ = cmd.Process.Kill()
			<-exited
			c.Close()
			return nil, fmt.Errorf("managed redis-server on %s refused the password in %s: %v", addr, redisPasswordFile, err)
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
	return &redisHandle{Client: c, Kind: "managed", Durable: true, stop: stop, pid: cmd.Process.Pid}, nil
}
