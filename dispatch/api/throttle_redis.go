package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisThrottle is a LoginThrottle shared by every alertd node through
// Redis: a user name locked out on one node is locked out on all. Keys
// expire by themselves; names and addresses are hashed into the key so a
// made-up name of any length costs one small key.
type RedisThrottle struct {
	lim LoginLimits
	rdb redis.UniversalClient
	now func() time.Time
}

// NewRedisThrottle returns a throttle on rdb with lim (defaults filled in).
func NewRedisThrottle(rdb redis.UniversalClient, lim LoginLimits) *RedisThrottle {
	return &RedisThrottle{lim: lim.WithDefaults(), rdb: rdb, now: time.Now}
}

var _ LoginThrottle = (*RedisThrottle)(nil)

func throttleKey(kind, v string) string {
	h := sha256.Sum256([]byte(v))
	return "alertcast:login:" + kind + ":" + hex.EncodeToString(h[:16])
}

// Blocked implements LoginThrottle.
func (t *RedisThrottle) Blocked(ctx context.Context, user, addr string) (time.Duration, string, error) {
	p := t.rdb.Pipeline()
	an := p.Get(ctx, throttleKey("a", addr))
	ttl := p.PTTL(ctx, throttleKey("a", addr))
	var uv *redis.SliceCmd
	if user != "" {
		uv = p.HMGet(ctx, throttleKey("u", user), "n", "last")
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, "", err
	}
	if n, err := an.Int(); err == nil && n >= t.lim.AddrFailures {
		if d := ttl.Val(); d > 0 {
			return d, "address", nil
		}
	}
	if uv == nil {
		return 0, "", nil
	}
	vals := uv.Val()
	if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
		return 0, "", nil
	}
	n, err1 := strconv.Atoi(vals[0].(string))
	last, err2 := strconv.ParseInt(vals[1].(string), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", nil
	}
	if w := t.lim.userLockout(n, time.UnixMilli(last), t.now()); w > 0 {
		return w, "user", nil
	}
	return 0, "", nil
}

// Failed implements LoginThrottle.
func (t *RedisThrottle) Failed(ctx context.Context, user, addr string) error {
	p := t.rdb.TxPipeline()
	ak := throttleKey("a", addr)
	// The address window starts with its first failure and is fixed:
	// SET NX gives the key its lifetime once, INCR keeps it.
	p.SetNX(ctx, ak, 0, t.lim.AddrWindow)
	p.Incr(ctx, ak)
	if user != "" {
		uk := throttleKey("u", user)
		p.HIncrBy(ctx, uk, "n", 1)
		p.HSet(ctx, uk, "last", t.now().UnixMilli())
		// Forgotten a window after the last failure (the lockout is
		// never longer than the window).
		p.PExpire(ctx, uk, t.lim.UserWindow)
	}
	_, err := p.Exec(ctx)
	return err
}

// Succeeded implements LoginThrottle.
func (t *RedisThrottle) Succeeded(ctx context.Context, user string) error {
	return t.rdb.Del(ctx, throttleKey("u", user)).Err()
}
