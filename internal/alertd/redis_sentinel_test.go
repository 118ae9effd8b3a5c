package alertd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/redis/go-redis/v9"
)

func TestSentinelURL(t *testing.T) {
	fo, err := sentinelOptions("redis+sentinel://alertcast:s3cret-pass@10.0.0.1:26379,10.0.0.2:26380/main/3?sentinel_password=sentpw", "")
	if err != nil {
		t.Fatal(err)
	}
	if fo.MasterName != "main" || fo.DB != 3 || fo.Username != "alertcast" || fo.Password != "s3cret-pass" ||
		fo.SentinelPassword != "sentpw" || strings.Join(fo.SentinelAddrs, " ") != "10.0.0.1:26379 10.0.0.2:26380" || fo.TLSConfig != nil {
		t.Fatalf("parsed %+v", fo)
	}
	tgt, err := parseRedisURL("rediss+sentinel://:pw1234567890@h:26379/m", "")
	if err != nil || tgt.failover == nil || tgt.failover.TLSConfig == nil || tgt.plain != nil {
		t.Fatalf("rediss+sentinel: %+v %v", tgt, err)
	}
	if tgt, err := parseRedisURL("redis://:pw@h:6379/0", ""); err != nil || tgt.plain == nil || tgt.failover != nil {
		t.Fatalf("plain URL: %+v %v", tgt, err)
	}
	for _, c := range []struct{ url, ca, want string }{
		{"redis+sentinel://:topsecret99@h:26379", "", "master name missing"},
		{"redis+sentinel://:topsecret99@/m", "", "no sentinel address"},
		{"redis+sentinel://:topsecret99@h:26379,h2/m", "", `sentinel address "h2"`},
		{"redis+sentinel://:topsecret99@h:0/m", "", "want 1..65535"},
		{"redis+sentinel://:topsecret99@h:26379/m/x", "", `database "x"`},
		{"redis+sentinel://:topsecret99@h:26379/m/0/extra", "", "want /mastername or /mastername/db"},
		{"redis+sentinel://user@h:26379/m", "", "a user name without a password"},
		{"redis+sentinel://:topsecret99@h:26379/m?password=topsecret99", "", `unknown option "password"`},
		{"redis+sentinel://:topsecret99@h:26379/m?sentinel_user=u", "", "sentinel_user without sentinel_password"},
		{"redis+sentinel://:topsecret99@h:26379/m", "/nonexistent/ca.pem", "only a rediss+sentinel:// URL uses TLS"},
		{"redis+sentinels://:topsecret99@h:26379/m", "", "want redis+sentinel:// or rediss+sentinel://"},
	} {
		_, err := parseRedisURL(c.url, c.ca)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", c.url, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "topsecret99") {
			t.Errorf("%s: the error repeats the password: %v", c.url, err)
		}
	}
}

// A Redis master killed under alertd's client: Sentinel promotes the
// replica and the same client carries on, with what was written before the
// kill (and replicated) still there.
func TestSentinelFailover(t *testing.T) {
	set := testsvc.RedisSentinel(t, 1, 3, "sentinel-test-password-0123")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := openRedis(ctx, set.URL(), "", t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := h.Client
	if err := c.Set(ctx, "before", "kept", 0).Err(); err != nil {
		t.Fatalf("write through sentinel: %v", err)
	}
	// The write must be on the replica before the master dies; WAIT says so.
	if n, err := c.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d %v", n, err)
	}
	set.Master.Stop()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		last = c.Set(wctx, "after", "written", 0).Err()
		wcancel()
		if last == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write accepted 30 s after the master was killed: %v", last)
		}
		time.Sleep(100 * time.Millisecond) // polling Redis, not synchronising goroutines
	}
	if v, err := c.Get(ctx, "before").Result(); err != nil || v != "kept" {
		t.Fatalf("value written before the failover: %q %v", v, err)
	}
	role, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 || role[0] != "master" {
		t.Fatalf("the client writes to %v (%v), want the promoted master", role, err)
	}
	// The promoted master is the replica: the write landed there.
	direct := redis.NewClient(&redis.Options{Addr: set.Replicas[0].Addr, Password: set.Password})
	defer direct.Close()
	if v, err := direct.Get(ctx, "after").Result(); err != nil || v != "written" {
		t.Fatalf("the write after the failover is not on the promoted replica: %q %v", v, err)
	}
}
