package alertd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/dispatch"
)

// defaultAuditVerifyInterval is how often alertd re-verifies the whole
// audit chain when audit_verify_interval is not set.
const defaultAuditVerifyInterval = 5 * time.Minute

// auditHeadFile remembers, across restarts, the newest audit entry this
// node has verified, so a cut-off tail is noticed after a restart too.
const auditHeadFile = "audit-head.json"

// useAuditKey loads the audit key (creating DATA_DIR/audit.key at the first
// start when no key file is configured) and keys the store's audit chain
// with it; on a legacy chain this appends the marker entry.
func (s *Server) useAuditKey(ctx context.Context) error {
	path, create := s.cfg.AuditKeyFile, false
	if path == "" {
		path, create = filepath.Join(s.cfg.DataDir, "audit.key"), true
	}
	key, created, err := dispatch.LoadAuditKeyFile(path, create)
	if err != nil {
		if s.cfg.AuditKeyFile != "" {
			return fmt.Errorf("audit_key_file (ALERTCAST_AUDIT_KEY_FILE): %w", err)
		}
		return err
	}
	if created {
		s.log.Warn("created a new audit key: back it up apart from the database, and give every node of a cluster this same file (ALERTCAST_AUDIT_KEY_FILE)",
			"file", path, "key_id", key.ID())
	}
	if err := s.store.UseAuditKey(ctx, key); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, auditHeadFile)); err == nil {
		var h dispatch.AuditHead
		if err := json.Unmarshal(b, &h); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(s.cfg.DataDir, auditHeadFile), err)
		}
		s.store.SetAuditHead(h)
	}
	s.log.Info("audit chain keyed", "key_id", key.ID(), "key_file", path)
	return nil
}

// auditVerifier re-verifies the audit chain and publishes the result.
type auditVerifier struct {
	s       *Server
	mu      sync.Mutex // one verification at a time; guards the fields below
	done    bool
	ok      bool
	rows    int64
	badSeq  int64
	at      time.Time
	written dispatch.AuditHead
}

func (v *auditVerifier) gauge(name, help string, val func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		v.mu.Lock()
		defer v.mu.Unlock()
		if !v.done {
			return math.NaN() // not verified yet: neither good nor bad
		}
		return val()
	})
}

// startAuditVerifier registers the audit metrics and verifies the chain
// now and then every audit_verify_interval.
func (s *Server) startAuditVerifier() {
	v := &auditVerifier{s: s}
	s.auditV = v
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	s.prom.MustRegister(
		v.gauge("alertcast_audit_chain_ok", "1 when the last verification of the keyed audit chain found it intact, 0 when it found it broken (NaN before the first).",
			func() float64 { return b2f(v.ok) }),
		v.gauge("alertcast_audit_verified_rows", "Audit entries the last verification checked in order before the first bad one (all of them when intact).",
			func() float64 { return float64(v.rows) }),
		v.gauge("alertcast_audit_first_bad_seq", "The first broken audit entry found by the last verification (0 when intact).",
			func() float64 { return float64(v.badSeq) }),
		v.gauge("alertcast_audit_verified_timestamp_seconds", "When the last verification of the audit chain finished.",
			func() float64 { return float64(v.at.UnixNano()) / 1e9 }),
	)
	every := s.cfg.AuditVerifyInterval
	if every <= 0 {
		every = defaultAuditVerifyInterval
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-s.stopBG; cancel() }()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			_, _ = s.VerifyAudit(ctx)
			select {
			case <-s.stopBG:
				return
			case <-t.C:
			}
		}
	}()
}

// VerifyAudit verifies the whole audit chain now, updates the metrics and
// remembers the verified head in the data dir. A broken chain is logged as
// an error naming the first bad entry.
func (s *Server) VerifyAudit(ctx context.Context) (dispatch.AuditReport, error) {
	v := s.auditV
	v.mu.Lock()
	defer v.mu.Unlock()
	start := time.Now()
	rep, err := s.store.VerifyAuditChain(ctx)
	var ce *dispatch.AuditChainError
	switch {
	case err == nil:
		v.done, v.ok, v.rows, v.badSeq, v.at = true, true, rep.Rows, 0, time.Now()
		s.log.Debug("audit chain verified", "rows", rep.Rows, "took", time.Since(start))
		if rep.Head != v.written {
			if werr := writeAuditHead(filepath.Join(s.cfg.DataDir, auditHeadFile), rep.Head); werr != nil {
				s.log.Error("audit: cannot remember the verified head", "err", werr)
			} else {
				v.written = rep.Head
			}
		}
	case errors.As(err, &ce) || errors.Is(err, dispatch.ErrAuditNoKey):
		v.done, v.ok, v.rows, v.at = true, false, rep.Rows, time.Now()
		v.badSeq = 0
		if ce != nil {
			v.badSeq = ce.Seq
		}
		s.log.Error("AUDIT CHAIN BROKEN: the audit log was altered outside Alertcast", "err", err, "verified_rows", rep.Rows,
			"hint", "export it now (alertctl audit export) and compare with earlier exports and backups; if the database was deliberately replaced, delete "+auditHeadFile+" in the data dir")
	default:
		// The database could not be read: not a verdict on the chain.
		if ctx.Err() == nil {
			s.log.Warn("audit chain verification could not run", "err", err)
		}
	}
	return rep, err
}

func writeAuditHead(path string, h dispatch.AuditHead) error {
	b, _ := json.Marshal(h)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
