package alertd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"crypto/tls"

	"github.com/redis/go-redis/v9"
)

// redisTarget is a parsed --redis: one server, or a master found through
// Redis Sentinel.
type redisTarget struct {
	plain    *redis.Options
	failover *redis.FailoverOptions
}

// parseRedisURL accepts every form redisOptions does and, for a Redis that
// fails over, a Sentinel URL:
//
//	redis+sentinel://[[user]:password@]host:port[,host:port…]/master[/db][?sentinel_password=…&sentinel_user=…]
//	rediss+sentinel://…   TLS to the sentinels and the master (caFile verifies a private CA)
//
// The user and password are the master's (the data); the sentinels' own
// credentials, when they require any, go in the query. Clients follow the
// master that Sentinel promotes, so a killed master costs the seconds of the
// failover, not the warning.
func parseRedisURL(raw, caFile string) (redisTarget, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	if !strings.Contains(scheme, "sentinel") {
		opt, err := redisOptions(raw, caFile)
		return redisTarget{plain: opt}, err
	}
	fo, err := sentinelOptions(raw, caFile)
	return redisTarget{failover: fo}, err
}

func sentinelOptions(raw, caFile string) (*redis.FailoverOptions, error) {
	// net/url takes one host: set the list of sentinels aside and parse
	// the rest with a placeholder host.
	scheme, rest, _ := strings.Cut(raw, "://")
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "sentinels" + rest[end:])
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, passwords included
		}
		return nil, fmt.Errorf("redis sentinel URL: cannot parse it: %v", err)
	}
	q := u.Query()
	var secrets []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			secrets = append(secrets, pw)
		}
	}
	if pw := q.Get("sentinel_password"); pw != "" {
		secrets = append(secrets, pw)
	}
	fail := func(format string, a ...any) error {
		msg := fmt.Sprintf(format, a...)
		for _, s := range secrets {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
		return errors.New("redis sentinel URL " + u.Scheme + "://" + hosts + ": " + msg)
	}
	if u.Scheme != "redis+sentinel" && u.Scheme != "rediss+sentinel" {
		return nil, fail("scheme %q: want redis+sentinel:// or rediss+sentinel://", u.Scheme)
	}
	fo := &redis.FailoverOptions{MaxRetries: 2}
	if hosts == "" {
		return nil, fail("no sentinel address (want %s://host:26379,host2:26379/mastername)", u.Scheme)
	}
	for _, a := range strings.Split(hosts, ",") {
		h, p, err := net.SplitHostPort(a)
		if err != nil || h == "" {
			return nil, fail("sentinel address %q: want host:port", a)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fail("sentinel address %q: port %q: want 1..65535", a, p)
		}
		fo.SentinelAddrs = append(fo.SentinelAddrs, a)
	}
	parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	switch len(parts) {
	case 0:
		return nil, fail("master name missing in the path (want %s://host:26379/mymaster)", u.Scheme)
	case 1, 2:
		fo.MasterName = parts[0]
		if len(parts) == 2 {
			n, err := strconv.Atoi(parts[1])
			if err != nil || n < 0 {
				return nil, fail("database %q in the path: want a number such as /mymaster/0", parts[1])
			}
			fo.DB = n
		}
	default:
		return nil, fail("path %q: want /mastername or /mastername/db", u.Path)
	}
	if u.User != nil {
		pw, ok := u.User.Password()
		if !ok {
			return nil, fail("a user name without a password; write %s://user:password@host, or %s://:password@host for a password alone",
				u.Scheme, u.Scheme)
		}
		fo.Username, fo.Password = u.User.Username(), pw
	}
	for k := range q {
		switch k {
		case "sentinel_password":
			fo.SentinelPassword = q.Get(k)
		case "sentinel_user":
			fo.SentinelUsername = q.Get(k)
		default:
			return nil, fail("unknown option %q: want sentinel_user or sentinel_password", k)
		}
	}
	if fo.SentinelUsername != "" && fo.SentinelPassword == "" {
		return nil, fail("sentinel_user without sentinel_password")
	}
	if u.Scheme == "rediss+sentinel" {
		fo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("redis_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis_ca %s: no PEM certificate in it", caFile)
			}
			fo.TLSConfig.RootCAs = pool
		}
	} else if caFile != "" {
		return nil, fail("redis_ca (ALERTCAST_REDIS_CA) is set, but only a rediss+sentinel:// URL uses TLS")
	}
	return fo, nil
}

// client opens the target: a plain client, or one that follows Sentinel's
// master. Both are *redis.Client, which Asynq is built on.
func (t redisTarget) client() *redis.Client {
	if t.failover != nil {
		return redis.NewFailoverClient(t.failover)
	}
	return redis.NewClient(t.plain)
}

// describe names the target for logs and errors, never with its password.
func (t redisTarget) describe() (where, user string, password bool) {
	if t.failover != nil {
		return "master " + t.failover.MasterName + " via sentinels " + strings.Join(t.failover.SentinelAddrs, ","),
			t.failover.Username, t.failover.Password != ""
	}
	return t.plain.Addr, t.plain.Username, t.plain.Password != ""
}
