package dispatch

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// schemaOf describes every table's columns (name and type, in order) and
// every index, so two databases can be compared.
func schemaOf(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	add := func(rows *sql.Rows, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var a, b, c string
			if err := rows.Scan(&a, &b, &c); err != nil {
				t.Fatal(err)
			}
			out = append(out, a+" "+b+" "+c)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if s.pg {
		add(s.r.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
			WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`))
		add(s.r.QueryContext(ctx, `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`))
	} else {
		add(s.r.QueryContext(ctx, `SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p
			WHERE m.type = 'table' ORDER BY m.name, p.cid`))
		add(s.r.QueryContext(ctx, `SELECT tbl_name, name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'index'`))
	}
	slices.Sort(out)
	return out
}

// Migrations are numbered by their place in the list (schema_migrations
// holds the numbers applied). A database left at any earlier schema
// version — every released alertd's — migrates to the current one and ends
// with exactly the schema of a fresh install, on SQLite and PostgreSQL.
// A database newer than this alertd is refused.
func TestMigrationsFromEveryEarlierSchema(t *testing.T) {
	all := migrations
	// The test shortens the package's migration list to stand for an
	// older alertd; dispatch's tests do not run in parallel.
	t.Cleanup(func() { migrations = all })
	ctx := context.Background()
	open := func(t *testing.T, dsn, dir string, upto int) *Store {
		t.Helper()
		migrations = all[:upto]
		defer func() { migrations = all }()
		s, err := OpenStore(ctx, dsn, dir, nil)
		if err != nil {
			t.Fatalf("open at schema %d: %v", upto, err)
		}
		return s
	}
	version := func(t *testing.T, s *Store) int {
		var v int
		if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	engines := []struct {
		name string
		dsn  func(t *testing.T) (dsn, dir string)
	}{
		{"sqlite", func(t *testing.T) (string, string) { return "", t.TempDir() }},
		{"postgres", func(t *testing.T) (string, string) { return testsvc.Postgres(t), "" }},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn, dir := e.dsn(t)
			fresh := open(t, dsn, dir, len(all))
			want := schemaOf(t, fresh)
			fresh.Close()
			if len(want) == 0 {
				t.Fatal("a fresh database has no schema")
			}
			for from := 0; from < len(all); from++ {
				t.Run(fmt.Sprintf("from-%d", from), func(t *testing.T) {
					dsn, dir := e.dsn(t)
					old := open(t, dsn, dir, from)
					if v := version(t, old); v != from {
						t.Fatalf("old database at version %d, want %d", v, from)
					}
					old.Close()
					s := open(t, dsn, dir, len(all))
					defer s.Close()
					if v := version(t, s); v != len(all) {
						t.Fatalf("migrated to version %d, want %d", v, len(all))
					}
					if got := schemaOf(t, s); !slices.Equal(got, want) {
						t.Fatalf("schema migrated from version %d differs from a fresh one:\n got %s\nwant %s",
							from, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
					}
					// The migrated store works.
					if _, err := s.EnsureUserToken(ctx, "admin", RoleAdmin, "migrated-admin-token-0123456789"); err != nil {
						t.Fatalf("use after migrating from %d: %v", from, err)
					}
				})
			}
			// A database from a newer alertd is refused, not downgraded.
			s := open(t, dsn, dir, len(all))
			s.Close()
			migrations = all[:len(all)-1]
			_, err := OpenStore(ctx, dsn, dir, nil)
			migrations = all
			if err == nil || !strings.Contains(err.Error(), "newer than this alertd") {
				t.Fatalf("opening a newer database: %v", err)
			}
		})
	}
}
