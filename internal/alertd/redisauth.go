package alertd

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisOptions turns a Redis URL (and the optional CA file for rediss://)
// into the client options every Redis user in the process shares: the
// go-redis client of the hubs and the scheduler, and Asynq, which is built
// on that same client (asynq.NewClientFromRedisClient), so username,
// password and TLS are set in one place.
//
//	redis://[[user]:password@]host[:port][/db]   (password alone: redis://:pw@host)
//	rediss://…                                   TLS; caFile verifies a private CA
//	unix:///path/to/redis.sock?db=0&password=…
//
// Errors say what is wrong and never repeat the password.
func redisOptions(raw, caFile string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, password included
		}
		return nil, fmt.Errorf("redis URL: cannot parse it: %v", err)
	}
	var pw string
	if u.User != nil {
		pw, _ = u.User.Password()
	}
	fail := func(format string, a ...any) error {
		msg := fmt.Sprintf(format, a...)
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		// scheme://host only: the user info may hold a secret, even
		// under the name of a user.
		return errors.New("redis URL " + u.Scheme + "://" + u.Host + ": " + msg)
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return nil, fail("host missing (want %s://host:port/db)", u.Scheme)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nil, fail("port %q: want 1..65535", p)
			}
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return nil, fail("database %q in the path: want a number such as /0", db)
			}
		}
		if u.User != nil {
			if _, ok := u.User.Password(); !ok {
				return nil, fail("a user name without a password; write %s://user:password@host, or %s://:password@host for a password alone",
					u.Scheme, u.Scheme)
			}
		}
	case "unix":
		if u.Path == "" {
			return nil, fail("socket path missing (want unix:///path/to/redis.sock)")
		}
	case "":
		return nil, fail("no scheme: want redis://, rediss:// or unix://")
	default:
		return nil, fail("scheme %q: want redis://, rediss:// (TLS) or unix://", u.Scheme)
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fail("%v", err)
	}
	if caFile != "" {
		if u.Scheme != "rediss" {
			return nil, fail("redis_ca (ALERTCAST_REDIS_CA) is set, but only a rediss:// URL uses TLS")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("redis_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis_ca %s: no PEM certificate in it", caFile)
		}
		opt.TLSConfig.RootCAs = pool
	}
	return opt, nil
}

// isRedisAuthError reports whether err is Redis refusing our credentials,
// which no retry fixes.
func isRedisAuthError(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "WRONGPASS") || strings.Contains(s, "NOAUTH") ||
		strings.Contains(s, "invalid password") || strings.Contains(s, "invalid username-password pair") ||
		strings.Contains(s, "without any password configured")
}

// redisPasswordFile is where the managed or in-process Redis keeps its
// password, inside the data dir.
const redisPasswordFile = "redis.password"

// loadOrCreateRedisPassword reads the password of the managed Redis from
// path, creating a random one (mode 0600) on first start. A file readable by
// group or others is refused, as the platform key is: whoever reads it can
// rewrite the queues.
func loadOrCreateRedisPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return "", fmt.Errorf("redis password: %w", err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", fmt.Errorf("redis password: %w", err)
		}
		pw := hex.EncodeToString(raw)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another process won the race
			return loadOrCreateRedisPassword(path)
		}
		if err != nil {
			return "", fmt.Errorf("redis password: %w", err)
		}
		if _, err := f.WriteString(pw + "\n"); err != nil {
			f.Close()
			return "", fmt.Errorf("redis password %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("redis password %s: %w", path, err)
		}
		return pw, nil
	}
	if err != nil {
		return "", fmt.Errorf("redis password: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("redis password: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("redis password file %s: mode %v is readable by others; chmod 600 it", path, st.Mode().Perm())
	}
	pw := strings.TrimSpace(string(b))
	if len(pw) < 16 || strings.ContainsAny(pw, " \t\r\n\"'\\") {
		return "", fmt.Errorf("redis password file %s: want one line of at least 16 characters without spaces, quotes or backslashes (delete it to make a new one)", path)
	}
	return pw, nil
}

// writeRedisConf writes the managed redis-server's configuration, password
// included, to a 0600 file: on the command line the password would show in
// ps to every user of the host.
func writeRedisConf(path string, lines [][2]string) error {
	var b strings.Builder
	b.WriteString("# Written by alertd at every start of its managed redis-server; edits are lost.\n")
	for _, l := range lines {
		if strings.ContainsAny(l[1], "\x00\r\n") {
			return fmt.Errorf("redis config %s: %s has a control character", path, l[0])
		}
		v := strings.ReplaceAll(l[1], `\`, `\\`)
		v = strings.ReplaceAll(v, `"`, `\"`)
		fmt.Fprintf(&b, "%s \"%s\"\n", l[0], v)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("redis config: %w", err)
	}
	// An older file may have had wider permissions; O_CREATE's mode does
	// not apply to it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("redis config: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("redis config: %w", err)
	}
	return f.Close()
}
