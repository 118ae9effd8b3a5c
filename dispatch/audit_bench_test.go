package dispatch

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// BenchmarkAuditAppend measures what an audit row adds to a warning's
// transaction on SQLite: "own-tx" is Store.Audit (one row, one commit, as a
// login is recorded); "in-tx" appends rows inside one open transaction, the
// way InsertAlert and UpdateAlert write theirs, so it is the cost of the
// chain itself (tail read, HMAC, insert) without the commit. Keyed, as
// alertd runs it.
//
//	go test -run '^$' -bench AuditAppend -benchtime 2000x ./dispatch/
func BenchmarkAuditAppend(b *testing.B) {
	ctx := context.Background()
	open := func(b *testing.B) *Store {
		s, err := OpenStore(ctx, "", b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.UseAuditKey(ctx, testAuditKey(b, 1)); err != nil {
			b.Fatal(err)
		}
		return s
	}
	e := AuditEntry{Actor: "duty-officer", Remote: "10.0.0.7", Action: "alert.issue", AlertID: "20260101-0001",
		Detail: `{"level":"red","event":"sandstorm","codes":["653122100"]}`}
	b.Run("own-tx", func(b *testing.B) {
		s := open(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := s.Audit(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-tx", func(b *testing.B) {
		s := open(b)
		b.ResetTimer()
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for i := 0; i < b.N; i++ {
				if err := s.appendAudit(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkAuditHash isolates what keying adds per row: the legacy plain
// SHA-256 against the keyed HMAC-SHA-256 over the same row.
func BenchmarkAuditHash(b *testing.B) {
	e := AuditEntry{Seq: 123456, Actor: "duty-officer", Remote: "10.0.0.7", Action: "alert.issue", AlertID: "20260101-0001",
		Detail: `{"level":"red","event":"sandstorm","codes":["653122100"]}`, PrevHash: auditMACPrefix + strings.Repeat("ab", 32)}
	key := testAuditKey(b, 1)
	b.Run("legacy-sha256", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = e.computeHash()
		}
	})
	b.Run("keyed-hmac", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = key.mac(&e)
		}
	})
}
