package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Sessions and account changes on both engines.
func TestSessionsAndAccountChanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		by := Actor{Name: "admin"}
		tok, err := s.CreateUser(ctx, "op", RoleOperator, "correct horse battery", by)
		if err != nil {
			t.Fatal(err)
		}
		a, b := NewSessionID(), NewSessionID()
		for _, id := range []string{a, b} {
			if err := s.CreateSession(ctx, id, "op", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if u, err := s.SessionUser(ctx, a, time.Hour); err != nil || u.Name != "op" || u.Role != RoleOperator {
			t.Fatalf("session: %+v %v", u, err)
		}
		// A new password ends the other sessions, not the one that asked.
		if err := s.SetPassword(ctx, "op", "another good passphrase", a, by); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionUser(ctx, a, 0); err != nil {
			t.Fatalf("kept session: %v", err)
		}
		if _, err := s.SessionUser(ctx, b, 0); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("other session: %v", err)
		}
		if _, err := s.UserByPassword(ctx, "op", "another good passphrase"); err != nil {
			t.Fatalf("new password: %v", err)
		}
		nt, err := s.RotateToken(ctx, "op", by)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByToken(ctx, tok); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("old token: %v", err)
		}
		if _, err := s.UserByToken(ctx, nt); err != nil {
			t.Fatalf("new token: %v", err)
		}
		if err := s.SetUserDisabled(ctx, "op", true, by); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByToken(ctx, nt); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("disabled user's token: %v", err)
		}
		if n, _ := s.SessionCount(ctx, "op"); n != 0 {
			t.Fatalf("disabling leaves %d sessions", n)
		}
		for _, err := range []error{
			s.SetUserDisabled(ctx, "nobody", true, by),
			s.SetPassword(ctx, "nobody", "whatever123", "", by),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown user: %v", err)
			}
		}
		if _, err := s.RotateToken(ctx, "nobody", by); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		// Expired sessions are purged.
		old := NewSessionID()
		_ = s.CreateSession(ctx, old, "admin-less", time.Now().Add(-time.Minute))
		if n, err := s.PurgeSessions(ctx, time.Now()); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
}

func TestPlainSessionKeyRemovedFromDatabase(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// An older database: made by an alertd whose last migration came
	// before the sessions one, with the HMAC key in plain text.
	v := 0
	for i, m := range migrations {
		if strings.Contains(m, "CREATE TABLE sessions") {
			v = i + 1
		}
	}
	all := migrations
	migrations = all[:v-1]
	s, err := OpenStore(ctx, "", dir, nil)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('session_key', 'deadbeef')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenStore(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	_ = s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name = 'session_key'`).Scan(&n)
	if n != 0 {
		t.Fatal("the plain-text session key is still in the database")
	}
}
