package dispatch

import (
	"context"
	"database/sql"
	"iter"
	"sync"
)

// Prepared statements of the SQLite writer. SQLite parses every statement
// it runs; for the multi-row INSERTs and IN-list UPDATEs of delivery
// records, parsing cost a fifth of the writer's time. Statements are cut
// into a few fixed sizes (spans), so that the same texts come back and
// are parsed once per process. (pgx caches statements by text itself.)

// stmtCache holds the writer's statements by text.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	want  map[string]bool // seen inside a transaction, prepared after it
}

// maxCachedStmts bounds the cache; statement texts come in a few sizes
// per shape, so it is not reached in practice.
const maxCachedStmts = 512

// txStmt returns query as a statement of tx: the cached one when there is
// one, else one prepared for this use only (and query is prepared for the
// cache once tx is over — the single writer connection is busy until then).
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	st := s.stmts.stmts[query]
	if st == nil && len(s.stmts.stmts)+len(s.stmts.want) < maxCachedStmts {
		if s.stmts.want == nil {
			s.stmts.want = map[string]bool{}
		}
		s.stmts.want[query] = true
	}
	s.stmts.mu.Unlock()
	if st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}

// prepareWanted prepares the statements txStmt met without a cached one.
// Called with no transaction open.
func (s *Store) prepareWanted(ctx context.Context) {
	s.stmts.mu.Lock()
	want := s.stmts.want
	s.stmts.want = nil
	s.stmts.mu.Unlock()
	for q := range want {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			continue // run unprepared next time too; the error shows there
		}
		s.stmts.mu.Lock()
		if s.stmts.stmts == nil {
			s.stmts.stmts = map[string]*sql.Stmt{}
		}
		if old := s.stmts.stmts[q]; old != nil {
			old.Close()
		}
		s.stmts.stmts[q] = st
		s.stmts.mu.Unlock()
	}
}

// closeStmts closes the cached statements.
func (s *Store) closeStmts() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for _, st := range s.stmts.stmts {
		st.Close()
	}
	s.stmts.stmts = nil
}

// txExec runs a writing statement inside tx (cached on SQLite).
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	query = s.q(query)
	if s.pg {
		return tx.ExecContext(ctx, query, args...)
	}
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// txQuery runs a statement returning rows inside tx (cached on SQLite).
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	query = s.q(query)
	if s.pg {
		return tx.QueryContext(ctx, query, args...)
	}
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// spans cuts n items into statements of a few fixed sizes — as many of
// max as fit, then 100, 20, 5 and 1 — so that a statement of any length is
// one of a few texts. It yields each statement's (start, size).
func spans(n, max int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		start := 0
		for _, size := range []int{max, 100, 20, 5, 1} {
			if size > max {
				continue
			}
			for n-start >= size {
				if !yield(start, size) {
					return
				}
				start += size
			}
		}
	}
}
