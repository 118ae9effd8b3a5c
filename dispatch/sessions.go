package dispatch

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"
)

// Console sessions are held on the server: the cookie carries a random
// 256-bit id, the database its SHA-256 (like tokens), so logout, disabling
// a user or changing a password ends a session on every node at once, and
// a copy of the database does not let anyone log in.

// NewSessionID returns a fresh session id ("acs_…", 256 random bits).
func NewSessionID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "acs_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateSession stores a session of user that ends at expires.
func (s *Store) CreateSession(ctx context.Context, id, user string, expires time.Time) error {
	now := time.Now().UnixMilli()
	_, err := s.exec(ctx, nil, `INSERT INTO sessions (id_hash, user_name, created_at, expires_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
		HashToken(id), user, now, expires.UnixMilli(), now)
	return err
}

// sessionSeenEvery bounds how often a session's last use is written: the
// idle timeout needs no finer grain, and SQLite has one writer.
const sessionSeenEvery = time.Minute

// SessionUser authenticates a session id: its user, when the session
// exists, has not expired, was used within idle (0: no idle limit) and its
// user is not disabled. An ended session is deleted.
func (s *Store) SessionUser(ctx context.Context, id string, idle time.Duration) (User, error) {
	if id == "" {
		return User{}, ErrBadCredentials
	}
	h := HashToken(id)
	var u User
	var role, scope string
	var created, expires, seen int64
	var disabled int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT u.name, u.role, u.created_at, u.disabled, s.expires_at, s.seen_at, u.scope
		FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = ?`), h).
		Scan(&u.Name, &role, &created, &disabled, &expires, &seen, &scope)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	now := time.Now()
	if now.UnixMilli() >= expires || (idle > 0 && now.Sub(time.UnixMilli(seen)) > idle) {
		_, _ = s.exec(ctx, nil, `DELETE FROM sessions WHERE id_hash = ?`, h)
		return User{}, ErrBadCredentials
	}
	if disabled != 0 {
		return User{}, ErrBadCredentials
	}
	if idle > 0 && now.Sub(time.UnixMilli(seen)) >= sessionSeenEvery {
		if _, err := s.exec(ctx, nil, `UPDATE sessions SET seen_at = ? WHERE id_hash = ?`, now.UnixMilli(), h); err != nil {
			s.log.Warn("session: recording last use failed", "err", err)
		}
	}
	u.Role, _ = ParseRole(role)
	u.Scope = parseStoredScope(scope)
	u.CreatedAt = fromMS(created)
	return u, nil
}

// DeleteSession ends one session (logout). Ending an unknown session is
// not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.exec(ctx, nil, `DELETE FROM sessions WHERE id_hash = ?`, HashToken(id))
	return err
}

// deleteUserSessions ends every session of user except the one with id
// keep ("" ends all).
func (s *Store) deleteUserSessions(ctx context.Context, tx *sql.Tx, user, keep string) (int64, error) {
	res, err := s.exec(ctx, tx, `DELETE FROM sessions WHERE user_name = ? AND id_hash <> ?`, user, keepHash(keep))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func keepHash(id string) string {
	if id == "" {
		return ""
	}
	return HashToken(id)
}

// SessionCount returns how many sessions user has (expired ones included
// until purged).
func (s *Store) SessionCount(ctx context.Context, user string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM sessions WHERE user_name = ?`), user).Scan(&n)
	return n, err
}

// PurgeSessions deletes sessions that expired before now.
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.exec(ctx, nil, `DELETE FROM sessions WHERE expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
