// Package storetest opens throwaway stores for tests of the packages above
// the store: a fresh SQLite file, and a fresh PostgreSQL cluster started
// from PATH (internal/testsvc: skipped without it unless
// ALERTCAST_REQUIRE_SERVICES=1). It is for tests only and must never be
// imported by non-test code.
package storetest

import (
	"context"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// SQLite opens a store on a new SQLite file in a temporary directory,
// closed when the test ends.
func SQLite(t testing.TB) *dispatch.Store {
	t.Helper()
	s, err := dispatch.OpenStore(context.Background(), "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ForEachEngine runs fn against a fresh SQLite store and a fresh
// PostgreSQL store (a throwaway cluster), each in its own subtest.
func ForEachEngine(t *testing.T, fn func(t *testing.T, s *dispatch.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := testsvc.Postgres(t)
		s, err := dispatch.OpenStore(context.Background(), dsn, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}
