package dispatch

// The keyed audit chain.
//
// The audit log was a plain SHA-256 hash chain: each row's hash covered its
// fields and the previous row's hash. Anyone who can write to the database
// can edit a row and recompute every later hash, and the chain still
// verifies. From the marker row on, every row's hash is instead an
// HMAC-SHA-256 under a 32-byte secret that is never written to the
// database: it lives in a file (audit.key in the data dir, 0600, created at
// the first start; ALERTCAST_AUDIT_KEY_FILE points every node of a cluster
// at the same file). Without that file, a rewritten row cannot be given a
// valid hash, so rewriting the table is detected however the hashes are
// recomputed.
//
// Why an HMAC on every row rather than Ed25519-signed checkpoints every N
// rows or every minute:
//   - every row is protected the moment it commits; checkpoints leave the
//     rows written since the last one open to silent rewriting;
//   - the verifier names the exact first bad row, not "somewhere between two
//     checkpoints";
//   - it costs about a microsecond per append inside the warning's own
//     transaction (BenchmarkAuditAppend), with no extra rows or timers, and
//     works the same on every node of a cluster;
//   - the price: whoever verifies offline needs the secret key file, and with
//     it could forge rows. The key therefore belongs to the same people who
//     run alertd (and an auditor they trust); a public-key checkpoint scheme
//     for third parties can be layered on top later.
//
// Migration: rows written before a key was configured keep their plain
// SHA-256 hashes. The first time alertd runs with a key it appends a marker
// row (action "audit.keyed", detail naming the key id) whose keyed hash
// covers the previous row's hash, so the whole legacy prefix is anchored
// under the key as of that moment: rewriting a legacy row breaks the marker.
// Every row from the marker on must carry a keyed hash ("hmac1:…"); a chain
// that has no marker when a key is given fails verification, so stripping
// the keyed section off is detected too.
//
// What a hash chain cannot see is its own tail being cut off (the last rows
// deleted). Each verification therefore also checks that the newest row an
// earlier verification saw is still there with the same hash (AuditHead,
// kept in memory and by alertd in the data dir), and an export ends with a
// keyed line that counts its rows.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync/atomic"
)

const (
	// auditKeyedAction is the marker row's action: the first row so named
	// and every row after it carry keyed hashes.
	auditKeyedAction = "audit.keyed"
	// auditMACPrefix starts a keyed row's hash, so that an appender can tell
	// from the tail alone whether the chain is keyed.
	auditMACPrefix = "hmac1:"
	// AuditKeySize is the length of an audit key in bytes.
	AuditKeySize = 32
)

var (
	// ErrAuditChain wraps every way the audit chain can be found broken.
	ErrAuditChain = errors.New("audit chain broken")
	// ErrAuditNoKey is returned when keyed rows are verified without the key.
	ErrAuditNoKey = errors.New("the audit chain is keyed: verifying it needs the audit key file")
)

// AuditChainError names the first row at which the chain is broken and why.
type AuditChainError struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (e *AuditChainError) Error() string {
	return fmt.Sprintf("audit entry %d: %s", e.Seq, e.Reason)
}

func (e *AuditChainError) Unwrap() error { return ErrAuditChain }

// AuditKey is the secret that keys the audit chain. It is never stored in
// the database, logged or sent anywhere; only its ID is.
type AuditKey struct {
	secret []byte
	id     string
}

// NewAuditKey wraps a secret of AuditKeySize bytes.
func NewAuditKey(secret []byte) (*AuditKey, error) {
	if len(secret) != AuditKeySize {
		return nil, fmt.Errorf("audit key: must be %d bytes, got %d", AuditKeySize, len(secret))
	}
	k := &AuditKey{secret: append([]byte(nil), secret...)}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("alertcast audit key id"))
	k.id = hex.EncodeToString(m.Sum(nil)[:8])
	return k, nil
}

// ID identifies the key without revealing it (an HMAC of a fixed string),
// so operators can check that every node and the verifier hold the same key.
func (k *AuditKey) ID() string { return k.id }

// String never prints the secret.
func (k *AuditKey) String() string { return "audit key " + k.id }

func (k *AuditKey) mac(e *AuditEntry) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("alertcast-audit-row-v1\x00"))
	writeAuditFields(m, e)
	return auditMACPrefix + hex.EncodeToString(m.Sum(nil))
}

// writeAuditFields feeds a row's fields, each length-prefixed so that no
// two different rows encode alike, to h.
func writeAuditFields(h hash.Hash, e *AuditEntry) {
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.UnixMilli(), 10),
		e.Actor, e.Action, e.AlertID, e.Remote, e.Detail, e.PrevHash} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
}

// auditMarkerDetail is the marker row's detail.
type auditMarkerDetail struct {
	Scheme     string `json:"scheme"`
	KeyID      string `json:"key_id"`
	LegacyRows int64  `json:"legacy_rows"`
}

// AuditHead is the newest row a verification saw: a later verification
// checks it is still there with the same hash (the tail was not cut off).
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AuditReport is what a verification found.
type AuditReport struct {
	OK         bool             `json:"ok"`
	Rows       int64            `json:"rows"`        // rows checked, in order, before the first bad one
	LegacyRows int64            `json:"legacy_rows"` // of which plain SHA-256 (before the marker)
	KeyedFrom  int64            `json:"keyed_from,omitempty"`
	KeyID      string           `json:"key_id,omitempty"` // the marker's key id
	Head       AuditHead        `json:"head"`
	Error      *AuditChainError `json:"error,omitempty"`
}

// AuditVerifier checks a chain row by row, oldest first; the same code
// checks the database (Store.VerifyAuditChain) and an export file
// (VerifyAuditExport). The zero value is not usable: use NewAuditVerifier.
type AuditVerifier struct {
	key    *AuditKey
	anchor AuditHead
	next   int64
	prev   string
	keyed  bool
	rep    AuditReport
	err    error
}

// NewAuditVerifier verifies with key (nil: only the legacy part can be
// checked) and, when anchor.Seq > 0, checks that row anchor.Seq still has
// anchor.Hash.
func NewAuditVerifier(key *AuditKey, anchor AuditHead) *AuditVerifier {
	return &AuditVerifier{key: key, anchor: anchor, next: 1}
}

func (v *AuditVerifier) fail(seq int64, format string, args ...any) error {
	ce := &AuditChainError{Seq: seq, Reason: fmt.Sprintf(format, args...)}
	v.rep.Error, v.err = ce, ce
	return ce
}

// Add checks the next row. After the first error it returns that error.
func (v *AuditVerifier) Add(e *AuditEntry) error {
	if v.err != nil {
		return v.err
	}
	switch {
	case e.Seq > v.next:
		return v.fail(v.next, "missing (the next entry present is %d): deleted", e.Seq)
	case e.Seq < v.next:
		return v.fail(e.Seq, "out of order or repeated after entry %d", v.next-1)
	}
	if e.PrevHash != v.prev {
		return v.fail(e.Seq, "prev_hash does not match entry %d's hash: an entry was deleted, inserted or reordered, or entry %d rewritten", e.Seq-1, e.Seq-1)
	}
	if !v.keyed && e.Action == auditKeyedAction {
		v.keyed = true
		v.rep.KeyedFrom = e.Seq
		var d auditMarkerDetail
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil || d.KeyID == "" {
			return v.fail(e.Seq, "keyed-chain marker has no key id in its detail")
		}
		v.rep.KeyID = d.KeyID
		if v.key != nil && d.KeyID != v.key.ID() {
			return v.fail(e.Seq, "the chain is keyed with audit key %s, not with the given key %s", d.KeyID, v.key.ID())
		}
	}
	if v.keyed {
		if !strings.HasPrefix(e.Hash, auditMACPrefix) {
			return v.fail(e.Seq, "hash is not keyed (no %q) after the keyed-chain marker at entry %d: rewritten with a plain hash", auditMACPrefix, v.rep.KeyedFrom)
		}
		if v.key != nil && !hmac.Equal([]byte(v.key.mac(e)), []byte(e.Hash)) {
			return v.fail(e.Seq, "contents do not match its keyed hash: the entry was altered")
		}
	} else {
		if strings.HasPrefix(e.Hash, auditMACPrefix) {
			return v.fail(e.Seq, "keyed hash before any keyed-chain marker: the marker entry was removed or altered")
		}
		if e.computeHash() != e.Hash {
			return v.fail(e.Seq, "contents do not match its hash: the entry was altered")
		}
		v.rep.LegacyRows++
	}
	if v.anchor.Seq == e.Seq && v.anchor.Hash != e.Hash {
		return v.fail(e.Seq, "hash differs from when this entry was verified before: the chain was rewritten from here on")
	}
	v.prev, v.next = e.Hash, e.Seq+1
	v.rep.Rows++
	v.rep.Head = AuditHead{Seq: e.Seq, Hash: e.Hash}
	return nil
}

// Finish ends the walk. The report counts the rows that verified; the error
// is the first problem found (an *AuditChainError or ErrAuditNoKey).
func (v *AuditVerifier) Finish() (AuditReport, error) {
	if v.err == nil {
		switch {
		case v.anchor.Seq > v.rep.Head.Seq:
			v.fail(v.rep.Head.Seq+1, "missing: entry %d was verified before and the chain now ends at entry %d, its tail was cut off", v.anchor.Seq, v.rep.Head.Seq)
		case v.key != nil && !v.keyed && v.rep.Rows > 0:
			v.fail(v.rep.Head.Seq, "no keyed-chain marker in %d entries although a key is given: the keyed part of the chain was removed or replaced", v.rep.Rows)
		case v.key == nil && v.keyed:
			v.err = fmt.Errorf("%w (entries from %d on, key id %s)", ErrAuditNoKey, v.rep.KeyedFrom, v.rep.KeyID)
		}
	}
	v.rep.OK = v.err == nil
	return v.rep, v.err
}

// auditKeyHolder is the Store's audit key and the newest verified head.
type auditKeyHolder struct {
	key  atomic.Pointer[AuditKey]
	head atomic.Pointer[AuditHead]
}
