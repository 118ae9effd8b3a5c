package dispatch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// User is an officer or system account.
type User struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Scope is where the account may act (scope.go); "*" is the whole tree.
	Scope     Scope     `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled,omitempty"`
}

// ErrUserExists is returned when a user name is taken.
var ErrUserExists = errors.New("user already exists")

// ErrBadCredentials is returned for an unknown token or wrong password.
var ErrBadCredentials = errors.New("bad credentials")

// NewToken returns a fresh bearer token ("act_…", 256 random bits).
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "act_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is how tokens are stored: SHA-256, hex. Tokens are 256-bit
// random, so a fast hash is enough; passwords use Argon2id.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Argon2id parameters (OWASP minimum: 19 MiB, 2 iterations, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an encoded Argon2id hash of pw.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword verifies pw against an encoded Argon2id hash.
func CheckPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// CreateUser adds a user and returns its bearer token (shown once, stored
// hashed). password may be empty (token login only). The user gets the
// creator's scope (the whole tree for a system actor); CreateUserScoped
// names one.
func (s *Store) CreateUser(ctx context.Context, name string, role Role, password string, by Actor) (string, error) {
	return s.CreateUserScoped(ctx, name, role, by.Scope, password, by)
}

// CreateUserScoped adds a user with scope (nil: the whole tree). The
// caller checks that by may grant it (Scope.Covers).
func (s *Store) CreateUserScoped(ctx context.Context, name string, role Role, scope Scope, password string, by Actor) (string, error) {
	token := NewToken()
	return token, s.createUserWithToken(ctx, name, role, scope, password, token, by)
}

func storedScope(sc Scope) string {
	if sc.All() {
		return ScopeAll
	}
	return sc.String()
}

// parseStoredScope reads the users.scope column. It is not checked against
// the tree (a county may be imported later); an empty or malformed value
// is no region at all, never the whole tree.
func parseStoredScope(v string) Scope {
	sc, err := ParseScope(v, nil)
	if err != nil {
		return Scope{}
	}
	return sc
}

func (s *Store) createUserWithToken(ctx context.Context, name string, role Role, scope Scope, password, token string, by Actor) error {
	ph := ""
	if password != "" {
		ph = HashPassword(password)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM users WHERE name = ?`), name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrUserExists
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO users (name, role, token_hash, password_hash, created_at, scope) VALUES (?, ?, ?, ?, ?, ?)`,
			name, role.String(), HashToken(token), ph, time.Now().UnixMilli(), storedScope(scope)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "user.create",
			Detail: fmt.Sprintf(`{"name":%q,"role":%q,"scope":%q}`, name, role, storedScope(scope))})
	})
}

// UserCount returns how many users exist.
func (s *Store) UserCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// UserByToken authenticates a bearer token.
func (s *Store) UserByToken(ctx context.Context, token string) (User, error) {
	return s.userWhere(ctx, `token_hash = ?`, HashToken(token))
}

// UserByPassword authenticates a name and password. An unknown user, a
// disabled one and one without a password cost one Argon2id hash against
// a dummy hash, like a wrong password, so timing does not tell them apart.
func (s *Store) UserByPassword(ctx context.Context, name, password string) (User, error) {
	var ph string
	var disabled int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT password_hash, disabled FROM users WHERE name = ?`), name).Scan(&ph, &disabled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, err
	}
	if err != nil || disabled != 0 || ph == "" {
		checkDummyPassword(password)
		return User{}, ErrBadCredentials
	}
	if !CheckPassword(ph, password) {
		return User{}, ErrBadCredentials
	}
	return s.userWhere(ctx, `name = ?`, name)
}

var (
	dummyHashOnce sync.Once
	dummyHash     string
	// dummyChecks counts hashes against the dummy (tests prove the
	// equalising path runs rather than timing it).
	dummyChecks atomic.Int64
)

// DummyPasswordChecks is how many passwords were checked against the
// dummy hash (for tests that prove unknown users cost a hash).
func DummyPasswordChecks() int64 { return dummyChecks.Load() }

// checkDummyPassword spends what checking a real password costs.
func checkDummyPassword(pw string) {
	dummyHashOnce.Do(func() { dummyHash = HashPassword("alertcast dummy password") })
	dummyChecks.Add(1)
	_ = CheckPassword(dummyHash, pw)
}

// SetUserDisabled disables or enables a user. Disabling ends the user's
// sessions at once; their token stops working with the same statement.
func (s *Store) SetUserDisabled(ctx context.Context, name string, disabled bool, by Actor) error {
	action, flag := "user.enable", 0
	if disabled {
		action, flag = "user.disable", 1
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET disabled = ? WHERE name = ?`, flag, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		var ended int64
		if disabled {
			if ended, err = s.deleteUserSessions(ctx, tx, name, ""); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action,
			Detail: fmt.Sprintf(`{"name":%q,"sessions_ended":%d}`, name, ended)})
	})
}

// RotateToken gives user name a new bearer token (returned once, stored
// hashed); the old one stops working.
func (s *Store) RotateToken(ctx context.Context, name string, by Actor) (string, error) {
	token := NewToken()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET token_hash = ? WHERE name = ?`, HashToken(token), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "user.rotate_token",
			Detail: fmt.Sprintf(`{"name":%q}`, name)})
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// SetPassword sets user name's password and ends the user's other
// sessions (all but keepSession, the session that asked, if any).
func (s *Store) SetPassword(ctx context.Context, name, password, keepSession string, by Actor) error {
	ph := HashPassword(password)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET password_hash = ? WHERE name = ?`, ph, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		ended, err := s.deleteUserSessions(ctx, tx, name, keepSession)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "user.password",
			Detail: fmt.Sprintf(`{"name":%q,"sessions_ended":%d}`, name, ended)})
	})
}

func (s *Store) userWhere(ctx context.Context, where string, arg any) (User, error) {
	var u User
	var role, scope string
	var created int64
	var disabled int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT name, role, created_at, disabled, scope FROM users WHERE `+where), arg).
		Scan(&u.Name, &role, &created, &disabled, &scope)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if disabled != 0 {
		return User{}, ErrBadCredentials
	}
	u.Role, _ = ParseRole(role)
	u.Scope = parseStoredScope(scope)
	u.CreatedAt = fromMS(created)
	return u, nil
}

// Users lists all users.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, created_at, disabled, scope FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var role, scope string
		var created int64
		var disabled int
		if err := rows.Scan(&u.Name, &role, &created, &disabled, &scope); err != nil {
			return nil, err
		}
		u.Role, _ = ParseRole(role)
		u.Scope = parseStoredScope(scope)
		u.CreatedAt, u.Disabled = fromMS(created), disabled != 0
		out = append(out, u)
	}
	return out, rows.Err()
}

// EnsureUserToken makes token a valid token of user name with role and
// the whole tree as its scope, creating the user when absent (used for the
// bootstrap admin).
func (s *Store) EnsureUserToken(ctx context.Context, name string, role Role, token string) (created bool, err error) {
	var n int
	if err := s.w.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM users WHERE name = ?`), name).Scan(&n); err != nil {
		return false, err
	}
	if n == 0 {
		return true, s.createUserWithToken(ctx, name, role, Scope{ScopeAll}, "", token, Actor{Name: "system"})
	}
	// The bootstrap admin is the root: its scope is the whole tree, like
	// its role and enabled state, whatever was stored.
	_, err = s.exec(ctx, nil, `UPDATE users SET token_hash = ?, role = ?, disabled = 0, scope = ? WHERE name = ?`, HashToken(token), role.String(), ScopeAll, name)
	return false, err
}

// SetUserScope sets where user name may act (audited with the old and new
// scope). The caller checks that by may grant it. A narrower scope takes
// effect on the user's next request: sessions and tokens are looked up
// every time.
func (s *Store) SetUserScope(ctx context.Context, name string, scope Scope, by Actor) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, s.q(`SELECT scope FROM users WHERE name = ?`), name).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE users SET scope = ? WHERE name = ?`, storedScope(scope), name); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "user.scope",
			Detail: fmt.Sprintf(`{"name":%q,"scope":%q,"was":%q}`, name, storedScope(scope), old)})
	})
}

// UserNamed returns user name, disabled or not (ErrNotFound when absent).
func (s *Store) UserNamed(ctx context.Context, name string) (User, error) {
	var u User
	var role, scope string
	var created int64
	var disabled int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT name, role, created_at, disabled, scope FROM users WHERE name = ?`), name).
		Scan(&u.Name, &role, &created, &disabled, &scope)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, err
	}
	u.Role, _ = ParseRole(role)
	u.Scope, u.CreatedAt, u.Disabled = parseStoredScope(scope), fromMS(created), disabled != 0
	return u, nil
}
