package alertd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/internal/testsvc"
)

var quiet = slog.New(slog.DiscardHandler)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// pingWithout asks addr for PING with no password and returns the error.
func pingWithout(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

// The managed redis-server gets a random password on first start, kept in
// a 0600 file in the data dir and reused after; it is not on the command
// line, and a client without it is refused.
func TestManagedRedisRequiresGeneratedPassword(t *testing.T) {
	testsvc.Need(t, "redis-server")
	ctx := context.Background()
	dataDir := t.TempDir()
	h, err := openRedis(ctx, "", "", dataDir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != "managed" {
		t.Fatalf("kind %s", h.Kind)
	}
	pwFile := filepath.Join(dataDir, redisPasswordFile)
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, pwFile); m != 0o600 {
		t.Errorf("password file mode %v, want 0600", m)
	}
	if m := mode(t, filepath.Join(dataDir, "redis", "redis.conf")); m != 0o600 {
		t.Errorf("redis.conf mode %v, want 0600", m)
	}
	secret := strings.TrimSpace(string(pw))
	if len(secret) < 32 {
		t.Fatalf("password %d characters", len(secret))
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(h.pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), secret) {
		t.Error("the password is on redis-server's command line")
	}
	addr := h.Client.(*redis.Client).Options().Addr
	if err := h.Client.Set(ctx, "kept", "1", 0).Err(); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	if err := pingWithout(addr); !isRedisAuthError(err) {
		t.Fatalf("without the password: %v, want NOAUTH", err)
	}
	h.Close()

	// Second start: same password, same data.
	h, err = openRedis(ctx, "", "", dataDir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if again, _ := os.ReadFile(pwFile); string(again) != string(pw) {
		t.Error("password changed on the second start")
	}
	if v, err := h.Client.Get(ctx, "kept").Result(); err != nil || v != "1" {
		t.Fatalf("after restart: %q %v", v, err)
	}
}

func TestRedisPasswordFileRefusedWhenUnsafe(t *testing.T) {
	for name, c := range map[string]struct {
		mode    os.FileMode
		content string
		want    string
	}{
		"readable by others": {0o644, strings.Repeat("a", 64) + "\n", "chmod 600"},
		"too short":          {0o600, "short\n", "at least 16 characters"},
		"two words":          {0o600, "aaaaaaaaaaaa bbbbbbbbbbbbbbbbb\n", "without spaces"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, redisPasswordFile)
			if err := os.WriteFile(path, []byte(c.content), c.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, c.mode)
			_, err := openRedis(context.Background(), "", "", dir, quiet)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want it to name %s and say %q", err, path, c.want)
			}
		})
	}
}

// With no redis-server on PATH the in-process Redis requires the password too.
func TestInProcessRedisRequiresPassword(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dataDir := t.TempDir()
	h, err := openRedis(context.Background(), "", "", dataDir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Kind != "in-process" {
		t.Fatalf("kind %s", h.Kind)
	}
	if err := h.Client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	if err := pingWithout(h.Client.(*redis.Client).Options().Addr); !isRedisAuthError(err) {
		t.Fatalf("without the password: %v, want NOAUTH", err)
	}
	if m := mode(t, filepath.Join(dataDir, redisPasswordFile)); m != 0o600 {
		t.Errorf("password file mode %v", m)
	}
}

// An external Redis with requirepass and with an ACL user: the URL's
// credentials reach both the go-redis client and Asynq (built on it); a
// wrong password stops startup with an error that names the setting and
// not the password.
func TestExternalRedisPasswordAndACLUser(t *testing.T) {
	rs := testsvc.Redis(t)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer admin.Close()
	if err := admin.ACLSetUser(ctx, "alertcast", "on", ">user-secret-123", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigSet(ctx, "requirepass", "default-secret-456").Err(); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{
		"redis://:default-secret-456@" + rs.Addr + "/0",
		"redis://alertcast:user-secret-123@" + rs.Addr + "/1",
	} {
		h, err := openRedis(ctx, url, "", t.TempDir(), quiet)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if err := h.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Errorf("SET: %v", err)
		}
		info, err := asynq.NewClientFromRedisClient(h.Client).Enqueue(asynq.NewTask("probe", nil), asynq.Queue("default"))
		if err != nil || info.ID == "" {
			t.Errorf("asynq over the same client: %v", err)
		}
		h.Close()
	}
	for name, url := range map[string]string{
		"wrong password":      "redis://:not-the-password@" + rs.Addr + "/0",
		"wrong user password": "redis://alertcast:not-the-password@" + rs.Addr + "/0",
		"no password":         "redis://" + rs.Addr + "/0",
	} {
		_, err := openRedis(ctx, url, "", t.TempDir(), quiet)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "ALERTCAST_REDIS_URL") || strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("%s: error %q must name the setting and not the password", name, err)
		}
	}
}

func TestRedisURLErrorsNameTheProblem(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("not a certificate"), 0o600)
	for _, c := range []struct{ url, ca, want string }{
		{"http://hunter2secret@x", "", "scheme \"http\""},
		{"localhost:6379", "", "scheme"},
		{"redis://", "", "host missing"},
		{"redis://:hunter2secret@h:99999/0", "", "port \"99999\""},
		{"redis://:hunter2secret@h:6379/abc", "", "database \"abc\""},
		{"redis://hunter2secret@h:6379/0", "", "user name without a password"},
		{"redis://:hunter2secret@h:6379/0?bogus=1", "", "bogus"},
		{"redis://:hunter2secret@h:6379/0", ca, "only a rediss:// URL"},
		{"rediss://:hunter2secret@h:6379/0", ca, "no PEM certificate"},
		{"rediss://:hunter2secret@h:6379/0", ca + ".missing", "redis_ca"},
		{"unix://", "", "socket path missing"},
	} {
		_, err := redisOptions(c.url, c.ca)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to say %q", c.url, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("%s: error repeats the secret: %v", c.url, err)
		}
	}
	if _, err := Load(nil, func(k string) string {
		return map[string]string{"ALERTCAST_REDIS_URL": "redis://h", "ALERTCAST_REDIS_CA": ca}[k]
	}); err == nil || !strings.Contains(err.Error(), "rediss://") {
		t.Errorf("config with a CA for a plain URL: %v", err)
	}
	opt, err := redisOptions("redis://alertcast:pw@h:6380/2", "")
	if err != nil || opt.Username != "alertcast" || opt.Password != "pw" || opt.Addr != "h:6380" || opt.DB != 2 || opt.TLSConfig != nil {
		t.Errorf("parsed %+v %v", opt, err)
	}
}

// rediss:// against a real redis-server with TLS on, its certificate from a
// throwaway CA: verified with redis_ca, refused without it.
func TestRedisTLSWithPrivateCA(t *testing.T) {
	rs := testsvc.Redis(t)
	ctx := context.Background()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	admin := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer admin.Close()
	port := testsvc.FreePort(t)
	for _, kv := range [][2]string{
		{"tls-cert-file", certFile}, {"tls-key-file", keyFile}, {"tls-ca-cert-file", caFile},
		{"tls-auth-clients", "no"}, {"requirepass", "tls-secret-789"}, {"tls-port", strconv.Itoa(port)},
	} {
		if err := admin.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			if kv[0] == "tls-cert-file" {
				testsvc.Missing(t, fmt.Sprintf("this redis-server has no TLS: %v", err))
			}
			t.Fatalf("CONFIG SET %s: %v", kv[0], err)
		}
	}
	url := "rediss://:tls-secret-789@localhost:" + strconv.Itoa(port) + "/0"
	h, err := openRedis(ctx, url, caFile, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Client.Set(ctx, "over-tls", "1", 0).Err(); err != nil {
		t.Fatalf("over TLS with the CA: %v", err)
	}
	// Without the CA the server's certificate is not trusted.
	noCA, err := openRedis(ctx, url, "", dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer noCA.Close()
	if err := noCA.Client.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
}

// writeTestPKI makes a CA and a server certificate for localhost/127.0.0.1.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	ca := testsvc.NewCA(t)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writeFile(t, caFile, ca.PEM)
	ca.Issue(t, testsvc.ServerCert{}, certFile, keyFile)
	return caFile, certFile, keyFile
}
