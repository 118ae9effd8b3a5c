package dispatch

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL's COPY, for the writes that carry a county's records.
//
// A multi-row INSERT of 6,000 parameters is parsed, planned and bound by
// the server for every statement; COPY streams the same rows in PostgreSQL's
// binary format through one statement. It runs on the connection of the
// write transaction, so the rows commit (durably: synchronous_commit is
// left on) or roll back with everything else the transaction writes.

// copyFunc copies n rows, row(i) each, into table's columns cols inside the
// transaction and returns how many it copied.
type copyFunc func(table string, cols []string, n int, row func(i int) []any) (int64, error)

// pgTx runs fn in a write transaction on one PostgreSQL connection, with a
// copyFunc that copies on that connection. PostgreSQL only.
func (s *Store) pgTx(ctx context.Context, fn func(tx *sql.Tx, cp copyFunc) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	cp := func(table string, cols []string, n int, row func(i int) []any) (int64, error) {
		var copied int64
		err := conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("copy into %s: not a pgx connection (%T)", table, dc)
			}
			var err error
			copied, err = c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
				if copyRowHook != nil {
					if err := copyRowHook(table, i); err != nil {
						return nil, err
					}
				}
				return row(i), nil
			}))
			if errors.Is(err, driver.ErrBadConn) {
				// Raw would close the connection under the open
				// transaction, which holds it: let the transaction's own
				// rollback discard it instead.
				err = fmt.Errorf("%v (connection lost)", err)
			}
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("copy into %s: %w", table, err)
		}
		return copied, nil
	}
	if err := fn(tx, cp); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// copyRows writes n rows (row(i) each) into table's columns cols inside
// tx by COPY, and returns how many rows it wrote. COPY has no ON CONFLICT:
// when a row's key is there already (a plan re-run after its node died, a
// chunk sent again) the COPY fails as a whole, is rolled back to a
// savepoint, and the rows go through a temporary table into an INSERT with
// the conflict clause given (e.g. ON CONFLICT DO NOTHING) instead — the
// rare path pays for the conflicts, the usual one does not. The count is
// then the INSERT's: only rows written, as the counters need.
func (s *Store) copyRows(ctx context.Context, tx *sql.Tx, cp copyFunc, table string, cols []string, n int, conflict string, row func(i int) []any) (int64, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT copy_rows`); err != nil {
		return 0, err
	}
	copied, err := cp(table, cols, n, row)
	if err == nil {
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT copy_rows`); err != nil {
			return 0, err
		}
		return copied, nil
	}
	if !isUniqueViolation(err) {
		return 0, err
	}
	list := strings.Join(cols, ", ")
	stage := table + "_stage"
	for _, q := range []string{`ROLLBACK TO SAVEPOINT copy_rows`,
		`CREATE TEMP TABLE IF NOT EXISTS ` + stage + ` AS SELECT ` + list + ` FROM ` + table + ` WITH NO DATA`,
		`TRUNCATE ` + stage} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("some rows exist: %w", err)
		}
	}
	if _, err := cp(stage, cols, n, row); err != nil {
		return 0, fmt.Errorf("some rows exist: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+list+`) SELECT `+list+` FROM `+stage+` `+conflict)
	if err != nil {
		return 0, fmt.Errorf("some rows exist: %w", err)
	}
	return res.RowsAffected()
}

// copyRowHook, when set (tests), is called before each row a COPY sends;
// an error aborts the COPY as a failing source would.
var copyRowHook func(table string, i int) error

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
