package api

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// Two nodes share one Redis: a user locked out through one is locked out
// on the other, and a success on either forgets the failures.
func TestRedisThrottleSharedByNodes(t *testing.T) {
	rs := testsvc.Redis(t)
	ctx := context.Background()
	client := func() redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: rs.Addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	lim := LoginLimits{UserFailures: 3, UserBackoff: time.Minute, UserWindow: 15 * time.Minute, AddrFailures: 5, AddrWindow: time.Minute}
	a, b := NewRedisThrottle(client(), lim), NewRedisThrottle(client(), lim)
	for i := range 3 {
		if w, _, err := b.Blocked(ctx, "op", "10.0.0.1"); err != nil || w != 0 {
			t.Fatalf("before failure %d: %s %v", i+1, w, err)
		}
		if err := a.Failed(ctx, "op", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	w, who, err := b.Blocked(ctx, "op", "10.0.0.2")
	if err != nil || who != "user" || w <= 55*time.Second || w > time.Minute {
		t.Fatalf("other node: %s %q %v", w, who, err)
	}
	if err := b.Succeeded(ctx, "op"); err != nil {
		t.Fatal(err)
	}
	if w, _, _ := a.Blocked(ctx, "op", "10.0.0.2"); w != 0 {
		t.Fatalf("after a success: %s", w)
	}
	// The address: 3 failures so far, 2 more (token logins, no user).
	for range 2 {
		_ = b.Failed(ctx, "", "10.0.0.1")
	}
	w, who, _ = a.Blocked(ctx, "someone", "10.0.0.1")
	if who != "address" || w <= 0 || w > time.Minute {
		t.Fatalf("address: %s %q", w, who)
	}
	if w, _, _ := a.Blocked(ctx, "someone", "10.0.0.3"); w != 0 {
		t.Fatalf("another address: %s", w)
	}
	// Keys expire by themselves.
	for _, k := range []string{throttleKey("a", "10.0.0.1"), throttleKey("u", "someone")} {
		_ = a.Failed(ctx, "someone", "10.0.0.1")
		if ttl := a.rdb.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("%s has no expiry: %s", k, ttl)
		}
	}
}

// With Redis unreachable, logins still work and are counted on the node.
func TestLoginThrottleFallsBackWhenRedisIsDown(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{UserFailures: 2})
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	e.api.Throttle = NewRedisThrottle(dead, e.api.Login)
	e.user("op", dispatch.RoleOperator, pw)
	if a := e.login("op", pw); a.status != 200 {
		t.Fatalf("login with Redis down: %d", a.status)
	}
	for range 2 {
		e.login("op", "wrong password")
	}
	if a := e.login("op", pw); a.status != 429 {
		t.Fatalf("the node's own count must hold: %d", a.status)
	}
}
