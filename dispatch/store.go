package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // pure-Go SQLite driver "sqlite"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store holds everything Alertcast must not lose: users, warnings and their
// versions, the audit log, delivery records, the dispatch outbox, the
// registries. One schema, two engines: SQLite (embedded default, WAL) and
// PostgreSQL (at scale). Timestamps are stored as Unix milliseconds so the
// SQL stays portable.
type Store struct {
	w, r   *sql.DB // writer and reader pools (the same pool on PostgreSQL)
	pg     bool
	log    *slog.Logger
	auditM sync.Mutex // serialises the audit hash chain within this process
	audit  auditKeyHolder

	stmts     stmtCache
	updOnce   sync.Once
	updCh     chan *updateReq
	updStop   chan struct{}
	updDone   chan struct{}
	closeOnce sync.Once
}

// OpenStore opens (creating and migrating) the database named by dsn:
// "" → SQLite file alertcast.db in dataDir; "postgres://…" or
// "postgresql://…" → PostgreSQL; "sqlite:PATH" or a path → that SQLite file.
func OpenStore(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log}
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(8)
		s.w, s.r, s.pg = db, db, true
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("data dir: %w", err)
			}
			path = filepath.Join(dataDir, "alertcast.db")
		}
		// A 64 MB page cache per connection (SQLite's default is 2 MB) and
		// reads through mmap keep a county-wide warning's index pages in
		// memory while hundreds of thousands of its records are written.
		q := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(15000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)" +
			"&_pragma=cache_size(-65536)&_pragma=mmap_size(268435456)&_txlock=immediate"
		if err := privateDBFiles(path); err != nil {
			return nil, err
		}
		w, err := sql.Open("sqlite", "file:"+path+q)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// SQLite has one writer; a single writer connection avoids lock
		// upgrade deadlocks, readers run beside it under WAL.
		w.SetMaxOpenConns(1)
		r, err := sql.Open("sqlite", "file:"+path+q)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		r.SetMaxOpenConns(4)
		s.w, s.r = w, r
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.w.PingContext(pctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("database unreachable: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Engine names the database engine: "sqlite" or "postgres".
func (s *Store) Engine() string {
	if s.pg {
		return "postgres"
	}
	return "sqlite"
}

// Close closes the pools. Safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.updOnce.Do(func() {}) // a store closed before any update never starts the loop
		if s.updStop != nil {
			close(s.updStop)
			<-s.updDone
		}
	})
	s.closeStmts()
	var err error
	if s.w != nil {
		err = s.w.Close()
	}
	if s.r != nil && s.r != s.w {
		if e := s.r.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if tx != nil {
		return tx.ExecContext(ctx, s.q(query), args...)
	}
	return s.w.ExecContext(ctx, s.q(query), args...)
}

// tx runs fn in a write transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if !s.pg {
		s.prepareWanted(ctx)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// migrations are applied in order, each once. Append only.
var migrations = []string{
	`CREATE TABLE users (
		name TEXT PRIMARY KEY,
		role TEXT NOT NULL,
		token_hash TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL DEFAULT '',
		disabled INTEGER NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE alerts (
		id TEXT PRIMARY KEY,
		version INTEGER NOT NULL,
		state TEXT NOT NULL,
		level INTEGER NOT NULL,
		status TEXT NOT NULL,
		event TEXT NOT NULL,
		expires BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		idem_key TEXT UNIQUE,
		body TEXT NOT NULL
	);
	CREATE INDEX alerts_state ON alerts (state, expires);
	CREATE TABLE alert_versions (
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		body TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (id, version)
	);
	CREATE TABLE audit (
		seq BIGINT PRIMARY KEY,
		at BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		alert_id TEXT NOT NULL DEFAULT '',
		remote TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT '',
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);
	CREATE TABLE dispatch_outbox (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		enqueued_at BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (alert_id, version)
	);
	CREATE INDEX dispatch_outbox_pending ON dispatch_outbox (enqueued_at);
	CREATE TABLE plans (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		channel TEXT NOT NULL,
		recipients INTEGER NOT NULL,
		batches INTEGER NOT NULL,
		detail TEXT NOT NULL DEFAULT '',
		planned_at BIGINT NOT NULL,
		PRIMARY KEY (alert_id, version, channel)
	);
	CREATE TABLE deliveries (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		channel TEXT NOT NULL,
		recipient TEXT NOT NULL,
		address TEXT NOT NULL DEFAULT '',
		language TEXT NOT NULL DEFAULT '',
		batch INTEGER NOT NULL,
		state SMALLINT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		ref TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT '',
		last_error TEXT NOT NULL DEFAULT '',
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (alert_id, version, channel, recipient)
	);
	CREATE INDEX deliveries_batch ON deliveries (alert_id, version, channel, batch);
	CREATE INDEX deliveries_ref ON deliveries (channel, ref);
	CREATE TABLE outbox (
		msg_key TEXT NOT NULL,
		channel TEXT NOT NULL,
		recipient TEXT NOT NULL,
		address TEXT NOT NULL DEFAULT '',
		language TEXT NOT NULL DEFAULT '',
		body TEXT NOT NULL,
		at BIGINT NOT NULL,
		PRIMARY KEY (msg_key, channel, recipient)
	);
	CREATE INDEX outbox_at ON outbox (at);
	CREATE TABLE residents (
		id BIGINT PRIMARY KEY,
		phone TEXT NOT NULL UNIQUE,
		village TEXT NOT NULL,
		groups TEXT NOT NULL DEFAULT '',
		language TEXT NOT NULL,
		opt_out INTEGER NOT NULL DEFAULT 0,
		lat DOUBLE PRECISION,
		lon DOUBLE PRECISION,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE speakers (
		id TEXT PRIMARY KEY,
		village TEXT NOT NULL,
		lat DOUBLE PRECISION,
		lon DOUBLE PRECISION,
		zone TEXT NOT NULL DEFAULT '',
		capabilities TEXT NOT NULL DEFAULT '',
		credential_hash TEXT NOT NULL DEFAULT '',
		revoked INTEGER NOT NULL DEFAULT 0,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE field_endpoints (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		region TEXT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE schedules (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		spec TEXT NOT NULL,
		alert_id TEXT NOT NULL DEFAULT '',
		body TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL DEFAULT '',
		active INTEGER NOT NULL DEFAULT 1,
		last_fired BIGINT NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL
	);`,
	`CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,
	// sends counts how often a channel was asked to send the same record:
	// above 1 shows a re-run after a crash, which the outbox absorbed.
	`ALTER TABLE outbox ADD COLUMN sends INTEGER NOT NULL DEFAULT 1;`,
	`CREATE TABLE cap_imports (
		sender TEXT NOT NULL,
		identifier TEXT NOT NULL,
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		received_at BIGINT NOT NULL,
		PRIMARY KEY (sender, identifier)
	);`,
	// A batch is read in recipient order: with recipient in the batch index
	// the planner no longer prefers walking the primary key over the whole
	// channel (quadratic in the audience size).
	`DROP INDEX deliveries_batch;
	CREATE INDEX deliveries_batch ON deliveries (alert_id, version, channel, batch, recipient);`,
	`CREATE TABLE region_files (
		name TEXT PRIMARY KEY,
		csv TEXT NOT NULL,
		imported_by TEXT NOT NULL,
		imported_at BIGINT NOT NULL
	);`,
	// Progress counters kept by the writers (see store_counts.go), filled
	// from the records already there.
	`CREATE TABLE delivery_counts (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		channel TEXT NOT NULL,
		state SMALLINT NOT NULL,
		n BIGINT NOT NULL,
		PRIMARY KEY (alert_id, version, channel, state)
	);
	INSERT INTO delivery_counts (alert_id, version, channel, state, n)
		SELECT alert_id, version, channel, state, COUNT(*) FROM deliveries GROUP BY alert_id, version, channel, state;`,
	// Provider refs (an SMSC's message id, a device id) move to a table of
	// their own, written by plain INSERTs: setting a different ref on every
	// row of one UPDATE needed a CASE as long as the chunk, and the index on
	// ref (receipts now always name their record) cost as much again.
	`CREATE TABLE delivery_refs (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		channel TEXT NOT NULL,
		recipient TEXT NOT NULL,
		ref TEXT NOT NULL,
		PRIMARY KEY (alert_id, version, channel, recipient)
	) WITHOUT ROWID;
	INSERT INTO delivery_refs (alert_id, version, channel, recipient, ref)
		SELECT alert_id, version, channel, recipient, ref FROM deliveries WHERE ref <> '';
	DROP INDEX deliveries_ref;
	ALTER TABLE deliveries DROP COLUMN ref;`,
	// The two-person rule on every path (policy.go): an update that waits
	// for a second officer is a proposal stored beside the version on air;
	// a drill or bulletin schedule is approved once, when it is created.
	`ALTER TABLE alerts ADD COLUMN proposal TEXT NOT NULL DEFAULT '';
	ALTER TABLE schedules ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE schedules ADD COLUMN approved_at BIGINT NOT NULL DEFAULT 0;`,
	// Console sessions live on the server (sessions.go): logout, disabling a
	// user or changing a password ends them at once. Session ids are stored
	// hashed, like tokens; the HMAC key that signed the old stateless
	// cookies is no longer used and must not stay in the database.
	`CREATE TABLE sessions (
		id_hash TEXT PRIMARY KEY,
		user_name TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		seen_at BIGINT NOT NULL
	);
	CREATE INDEX sessions_user ON sessions (user_name);
	CREATE INDEX sessions_expires ON sessions (expires_at);
	DELETE FROM settings WHERE name = 'session_key';`,
	// A dry run is exact: the outbox keeps the encoding and the parts (a
	// JSON array) the real channel would have submitted.
	`ALTER TABLE outbox ADD COLUMN encoding TEXT NOT NULL DEFAULT '';
	ALTER TABLE outbox ADD COLUMN parts TEXT NOT NULL DEFAULT '';`,
	// The first time a step was reported per version and channel
	// (store_report.go): a loudspeaker's "playing" is overwritten by its
	// "played", and the after-action report needs the first sound.
	`CREATE TABLE receipt_firsts (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		channel TEXT NOT NULL,
		step TEXT NOT NULL,
		at BIGINT NOT NULL,
		PRIMARY KEY (alert_id, version, channel, step)
	);`,
	// Exactly once under faults (store_claims.go): which node holds which
	// batch, what it handed to a channel without a recorded result yet, and
	// when each node last proved it was alive.
	claimsSchema,
	// Shelters (应急避难场所) and the shelter each village is sent to on
	// evacuate (store_shelters.go). The village's point is stored with its
	// assignment so that guidance uses the point the assignment was made
	// from. occupancy is NULL until someone reports it.
	`CREATE TABLE shelters (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		name_ug TEXT NOT NULL DEFAULT '',
		lat DOUBLE PRECISION NOT NULL,
		lon DOUBLE PRECISION NOT NULL,
		capacity INTEGER NOT NULL,
		kind TEXT NOT NULL,
		accessible INTEGER NOT NULL DEFAULT 0,
		contact TEXT NOT NULL DEFAULT '',
		villages TEXT NOT NULL DEFAULT '',
		synthetic INTEGER NOT NULL DEFAULT 0,
		occupancy INTEGER,
		occupancy_at BIGINT NOT NULL DEFAULT 0,
		updated_at BIGINT NOT NULL,
		updated_by TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE shelter_assignments (
		village TEXT PRIMARY KEY,
		shelter_id TEXT NOT NULL,
		explicit INTEGER NOT NULL,
		lat DOUBLE PRECISION,
		lon DOUBLE PRECISION
	);
	CREATE INDEX shelter_assignments_shelter ON shelter_assignments (shelter_id);`,
	// Field reports (store_reports.go): idem_key is the reporter's name and
	// the client's key, so a report sent twice is stored once. Photos are
	// kept re-encoded (no metadata) in the database every API node reads.
	`CREATE TABLE field_reports (
		id TEXT PRIMARY KEY,
		idem_key TEXT NOT NULL UNIQUE,
		alert_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		counts TEXT NOT NULL DEFAULT '{}',
		text TEXT NOT NULL DEFAULT '',
		shelter_id TEXT NOT NULL DEFAULT '',
		lon DOUBLE PRECISION,
		lat DOUBLE PRECISION,
		accuracy_m DOUBLE PRECISION NOT NULL DEFAULT 0,
		village TEXT NOT NULL DEFAULT '',
		reporter TEXT NOT NULL,
		observed_at BIGINT NOT NULL,
		received_at BIGINT NOT NULL,
		state TEXT NOT NULL,
		acked_by TEXT NOT NULL DEFAULT '',
		acked_at BIGINT NOT NULL DEFAULT 0,
		assigned_to TEXT NOT NULL DEFAULT '',
		assigned_by TEXT NOT NULL DEFAULT '',
		occupancy_applied INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX field_reports_alert ON field_reports (alert_id, received_at);
	CREATE INDEX field_reports_reporter ON field_reports (reporter, received_at);
	CREATE TABLE report_photos (
		id TEXT PRIMARY KEY,
		report_id TEXT NOT NULL,
		upload_sha TEXT NOT NULL,
		image BYTEA NOT NULL,
		thumb BYTEA NOT NULL,
		width INTEGER NOT NULL,
		height INTEGER NOT NULL,
		bytes INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		UNIQUE (report_id, upload_sha)
	);
	CREATE TABLE report_replies (
		report_id TEXT NOT NULL,
		seq INTEGER NOT NULL,
		by_name TEXT NOT NULL,
		text TEXT NOT NULL,
		at BIGINT NOT NULL,
		PRIMARY KEY (report_id, seq)
	);`,
	// Each version's per-village evacuation guidance, frozen when the
	// version is submitted (guidance_frozen.go). Content-addressed: the
	// version's body names its row by the SHA-256 of body.
	`CREATE TABLE alert_guidance (
		digest TEXT PRIMARY KEY,
		body TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);`,
	// Scopes (scope.go): where each account may act. Existing accounts
	// keep the whole tree, written out, so nothing changes until an admin
	// narrows one.
	`ALTER TABLE users ADD COLUMN scope TEXT NOT NULL DEFAULT '*'`,
}

// Setting returns a stored setting, creating it with mk() when absent. All
// nodes sharing the database see the same value (e.g. the session key).
func (s *Store) Setting(ctx context.Context, name string, mk func() string) (string, error) {
	if _, err := s.exec(ctx, nil, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, name, mk()); err != nil {
		return "", err
	}
	var v string
	err := s.w.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&v)
	return v, err
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	var have int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this alertd (%d): refusing to run", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for _, stmt := range strings.Split(migrations[v-1], ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if s.pg {
					// A clustered table is SQLite's own clause; PostgreSQL
					// tables are heaps whatever is said.
					stmt = strings.ReplaceAll(stmt, ") WITHOUT ROWID", ")")
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", v, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
		s.log.Info("applied database migration", "version", v, "engine", s.Engine())
	}
	return nil
}
