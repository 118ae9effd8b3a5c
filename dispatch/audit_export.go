package dispatch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// AuditExportFormat names the export format: JSON lines, a header, one line
// per audit entry (AuditEntry as JSON) oldest first, then an end line.
const AuditExportFormat = "alertcast-audit-export/1"

// AuditExportHeader is an export's first line.
type AuditExportHeader struct {
	Format     string    `json:"format"`
	ExportedAt time.Time `json:"exported_at"`
	Engine     string    `json:"engine,omitempty"`
	KeyID      string    `json:"key_id,omitempty"` // the exporting node's audit key
}

// AuditExportEnd is an export's last line. Its MAC (under the audit key)
// covers the row count and the last row, so a file cut short, or with rows
// dropped from its end, is detected offline.
type AuditExportEnd struct {
	Rows       int64     `json:"rows"`
	Head       AuditHead `json:"head"`
	ExportedAt time.Time `json:"exported_at"`
	MAC        string    `json:"mac,omitempty"`
}

func (k *AuditKey) exportMAC(e *AuditExportEnd) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("alertcast-audit-export-v1\x00"))
	for _, f := range []string{strconv.FormatInt(e.Rows, 10), strconv.FormatInt(e.Head.Seq, 10), e.Head.Hash,
		strconv.FormatInt(e.ExportedAt.UnixMilli(), 10)} {
		m.Write([]byte(strconv.Itoa(len(f)) + ":" + f))
	}
	return auditMACPrefix + hex.EncodeToString(m.Sum(nil))
}

// auditExportLine is any line after the header.
type auditExportLine struct {
	End *AuditExportEnd `json:"end,omitempty"`
	AuditEntry
}

// ExportAudit writes the whole audit log to w as it is stored, broken or
// not (a broken chain is when an export is needed most); the end line is
// keyed when the store has an audit key.
func (s *Store) ExportAudit(ctx context.Context, w io.Writer) (AuditExportEnd, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	now := time.Now().UTC().Truncate(time.Millisecond)
	key := s.audit.key.Load()
	h := AuditExportHeader{Format: AuditExportFormat, ExportedAt: now, Engine: s.Engine()}
	if key != nil {
		h.KeyID = key.ID()
	}
	end := AuditExportEnd{ExportedAt: now}
	if err := enc.Encode(h); err != nil {
		return end, err
	}
	var after int64
	for {
		batch, err := s.AuditLog(ctx, after, "", 1000)
		if err != nil {
			return end, fmt.Errorf("audit read: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			if err := enc.Encode(&batch[i]); err != nil {
				return end, err
			}
			end.Rows++
			end.Head = AuditHead{Seq: batch[i].Seq, Hash: batch[i].Hash}
		}
		after = batch[len(batch)-1].Seq
	}
	if key != nil {
		end.MAC = key.exportMAC(&end)
	}
	if err := enc.Encode(struct {
		End *AuditExportEnd `json:"end"`
	}{&end}); err != nil {
		return end, err
	}
	return end, bw.Flush()
}

// VerifyAuditExport checks an export offline: the header, every entry in
// order with the chain rules of AuditVerifier under key (nil: only the
// legacy part can be checked, and a keyed chain fails with ErrAuditNoKey),
// and the end line. The error names the line and, for a chain problem,
// wraps an *AuditChainError naming the first bad entry.
func VerifyAuditExport(r io.Reader, key *AuditKey) (AuditExportHeader, AuditReport, error) {
	var hdr AuditExportHeader
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	v := NewAuditVerifier(key, AuditHead{})
	line := 0
	var end *AuditExportEnd
	fail := func(err error) (AuditExportHeader, AuditReport, error) {
		rep, _ := v.Finish()
		rep.OK = false
		return hdr, rep, fmt.Errorf("line %d: %w", line, err)
	}
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if line == 1 {
			if err := json.Unmarshal(b, &hdr); err != nil || hdr.Format != AuditExportFormat {
				return fail(fmt.Errorf("not an Alertcast audit export: the first line must be a header with \"format\": %q", AuditExportFormat))
			}
			if key != nil && hdr.KeyID != "" && hdr.KeyID != key.ID() {
				return fail(fmt.Errorf("exported by a node with audit key %s, verifying with key %s: use that node's key file", hdr.KeyID, key.ID()))
			}
			continue
		}
		if end != nil {
			return fail(errors.New("data after the end line"))
		}
		var l auditExportLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return fail(fmt.Errorf("not an audit entry: %v", err))
		}
		if l.End != nil {
			end = l.End
			continue
		}
		if l.Seq <= 0 {
			return fail(errors.New("audit entry without a seq"))
		}
		if err := v.Add(&l.AuditEntry); err != nil {
			return fail(err)
		}
	}
	if err := sc.Err(); err != nil {
		return fail(err)
	}
	if line == 0 {
		return fail(errors.New("empty file: not an Alertcast audit export"))
	}
	rep, err := v.Finish()
	if err != nil {
		return hdr, rep, err
	}
	if end == nil {
		return fail(fmt.Errorf("the export is cut short: no end line after entry %d", rep.Head.Seq))
	}
	if end.Rows != rep.Rows || end.Head != rep.Head {
		rep.OK = false
		return hdr, rep, fmt.Errorf("line %d: the end line counts %d entries ending at entry %d, the file holds %d ending at entry %d: entries were removed or added",
			line, end.Rows, end.Head.Seq, rep.Rows, rep.Head.Seq)
	}
	if key != nil && !hmac.Equal([]byte(end.MAC), []byte(key.exportMAC(end))) {
		rep.OK = false
		return hdr, rep, fmt.Errorf("line %d: the end line's MAC does not verify under audit key %s: the end line was altered or written without the key", line, key.ID())
	}
	return hdr, rep, nil
}
