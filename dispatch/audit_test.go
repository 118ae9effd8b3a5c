package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testAuditKey(t testing.TB, b byte) *AuditKey {
	t.Helper()
	k, err := NewAuditKey(bytes.Repeat([]byte{b}, AuditKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func appendN(t testing.TB, s *Store, n int, actor string) {
	t.Helper()
	for i := 0; i < n; i++ {
		e := AuditEntry{Actor: actor, Action: "alert.issue", AlertID: fmt.Sprint("A", i), Remote: "10.0.0.1",
			Detail: fmt.Sprintf(`{"level":"red","n":%d}`, i)}
		if err := s.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func mustExec(t testing.TB, s *Store, query string, args ...any) {
	t.Helper()
	if _, err := s.w.ExecContext(context.Background(), s.q(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// exportOf exports s and verifies the file offline with key.
func exportOf(t testing.TB, s *Store, key *AuditKey) (AuditReport, error) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.ExportAudit(context.Background(), &buf); err != nil {
		t.Fatalf("export: %v", err)
	}
	_, rep, err := VerifyAuditExport(&buf, key)
	return rep, err
}

// wantBroken asserts that both the online and the offline check find the
// chain broken first at entry seq.
func wantBroken(t *testing.T, s *Store, key *AuditKey, seq int64) {
	t.Helper()
	ctx := context.Background()
	rep, err := s.VerifyAuditChain(ctx)
	var ce *AuditChainError
	if !errors.As(err, &ce) || rep.OK {
		t.Fatalf("online: tampering not detected: ok=%v err=%v", rep.OK, err)
	}
	if ce.Seq != seq {
		t.Fatalf("online: first bad entry %d (%s), want %d", ce.Seq, ce.Reason, seq)
	}
	if rep.Rows != seq-1 {
		t.Fatalf("online: %d entries verified before the bad one, want %d", rep.Rows, seq-1)
	}
	_, err = exportOf(t, s, key)
	if !errors.As(err, &ce) {
		t.Fatalf("offline: tampering not detected: %v", err)
	}
	if ce.Seq != seq {
		t.Fatalf("offline: first bad entry %d (%s), want %d", ce.Seq, ce.Reason, seq)
	}
}

// recomputeFrom rewrites the hashes of entries seq.. with hashOf, the way
// an attacker with write access to the database repairs the chain after
// editing it.
func recomputeFrom(t *testing.T, s *Store, seq int64, hashOf func(e *AuditEntry) string) {
	t.Helper()
	ctx := context.Background()
	all, err := s.AuditLog(ctx, 0, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for _, e := range all {
		if e.Seq >= seq {
			e.PrevHash = prev
			e.Hash = hashOf(&e)
			mustExec(t, s, `UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq)
		}
		prev = e.Hash
	}
}

// renumberFrom shifts entries seq.. up by one, leaving a gap at seq
// (two steps, so no primary key collides on PostgreSQL).
func renumberFrom(t *testing.T, s *Store, seq int64) {
	mustExec(t, s, `UPDATE audit SET seq = -seq WHERE seq >= ?`, seq)
	mustExec(t, s, `UPDATE audit SET seq = 1 - seq WHERE seq < 0`)
}

func TestAuditKeyedChainDetectsTampering(t *testing.T) {
	plainSHA := func(e *AuditEntry) string { return e.computeHash() }
	attacks := []struct {
		name   string
		tamper func(t *testing.T, s *Store)
		bad    int64
	}{
		{"detail", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE audit SET detail = ? WHERE seq = ?`, `{"level":"blue","n":3}`, 5)
		}, 5},
		{"actor", func(t *testing.T, s *Store) { mustExec(t, s, `UPDATE audit SET actor = ? WHERE seq = ?`, "mallory", 5) }, 5},
		{"time", func(t *testing.T, s *Store) { mustExec(t, s, `UPDATE audit SET at = at - 3600000 WHERE seq = ?`, 5) }, 5},
		{"remote", func(t *testing.T, s *Store) { mustExec(t, s, `UPDATE audit SET remote = ? WHERE seq = ?`, "", 5) }, 5},
		{"delete", func(t *testing.T, s *Store) { mustExec(t, s, `DELETE FROM audit WHERE seq = ?`, 5) }, 5},
		{"delete marker", func(t *testing.T, s *Store) { mustExec(t, s, `DELETE FROM audit WHERE seq = ?`, 1) }, 1},
		{"insert in the middle", func(t *testing.T, s *Store) {
			renumberFrom(t, s, 5)
			all, _ := s.AuditLog(context.Background(), 0, "", 1000)
			e := AuditEntry{Seq: 5, At: time.Now().Truncate(time.Millisecond), Actor: "mallory", Action: "alert.cancel", PrevHash: all[3].Hash}
			e.Hash = e.computeHash()
			mustExec(t, s, `INSERT INTO audit (seq, at, actor, action, alert_id, remote, detail, prev_hash, hash) VALUES (?, ?, ?, ?, '', '', '', ?, ?)`,
				e.Seq, e.At.UnixMilli(), e.Actor, e.Action, e.PrevHash, e.Hash)
		}, 5},
		{"insert at the end", func(t *testing.T, s *Store) {
			all, _ := s.AuditLog(context.Background(), 0, "", 1000)
			tail := all[len(all)-1]
			e := AuditEntry{Seq: tail.Seq + 1, At: time.Now().Truncate(time.Millisecond), Actor: "mallory", Action: "login", PrevHash: tail.Hash}
			e.Hash = auditMACPrefix + e.computeHash()
			mustExec(t, s, `INSERT INTO audit (seq, at, actor, action, alert_id, remote, detail, prev_hash, hash) VALUES (?, ?, ?, ?, '', '', '', ?, ?)`,
				e.Seq, e.At.UnixMilli(), e.Actor, e.Action, e.PrevHash, e.Hash)
		}, 10},
		{"reorder", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE audit SET seq = -4 WHERE seq = 4`)
			mustExec(t, s, `UPDATE audit SET seq = 4 WHERE seq = 5`)
			mustExec(t, s, `UPDATE audit SET seq = 5 WHERE seq = -4`)
		}, 4},
		{"rewrite and recompute plain SHA-256", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE audit SET actor = ? WHERE seq = ?`, "mallory", 5)
			recomputeFrom(t, s, 5, plainSHA)
		}, 5},
		{"rewrite and recompute SHA-256 dressed as keyed", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE audit SET actor = ? WHERE seq = ?`, "mallory", 5)
			recomputeFrom(t, s, 5, func(e *AuditEntry) string { return auditMACPrefix + e.computeHash() })
		}, 5},
		{"rewrite everything as a legacy chain", func(t *testing.T, s *Store) {
			mustExec(t, s, `UPDATE audit SET action = ? WHERE seq = ?`, "login", 1)
			recomputeFrom(t, s, 1, plainSHA)
		}, 9},
		{"rewrite with another key", func(t *testing.T, s *Store) {
			other := testAuditKey(t, 9)
			mustExec(t, s, `UPDATE audit SET actor = ? WHERE seq = ?`, "mallory", 5)
			recomputeFrom(t, s, 5, other.mac)
		}, 5},
	}
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		key := testAuditKey(t, 1)
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				mustExec(t, s, `DELETE FROM audit`)
				s.audit.head.Store(nil)
				if err := s.UseAuditKey(ctx, key); err != nil {
					t.Fatal(err)
				}
				appendN(t, s, 8, "op")
				// Positive control: the untouched chain verifies, online and offline.
				rep, err := s.VerifyAuditChain(ctx)
				if err != nil || !rep.OK || rep.Rows != 9 || rep.KeyedFrom != 1 || rep.KeyID != key.ID() {
					t.Fatalf("untouched chain: %+v %v", rep, err)
				}
				if rep, err := exportOf(t, s, key); err != nil || rep.Rows != 9 {
					t.Fatalf("untouched export: %+v %v", rep, err)
				}
				s.audit.head.Store(nil) // the attacks are not about the tail anchor
				a.tamper(t, s)
				if a.name == "rewrite everything as a legacy chain" {
					// No keyed marker is left: nothing names a bad entry
					// but the key demands one.
					rep, err := s.VerifyAuditChain(ctx)
					if !errors.Is(err, ErrAuditChain) || !strings.Contains(err.Error(), "no keyed-chain marker") || rep.OK {
						t.Fatalf("online: keyed part replaced, not detected: %v", err)
					}
					if _, err := exportOf(t, s, key); !errors.Is(err, ErrAuditChain) || !strings.Contains(err.Error(), "no keyed-chain marker") {
						t.Fatalf("offline: keyed part replaced, not detected: %v", err)
					}
					return
				}
				wantBroken(t, s, key, a.bad)
			})
		}
	})
}

func TestAuditTailCutOffIsDetected(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		key := testAuditKey(t, 1)
		if err := s.UseAuditKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 5, "op")
		if rep, err := s.VerifyAuditChain(ctx); err != nil || s.AuditHead() != rep.Head || rep.Head.Seq != 6 {
			t.Fatalf("verify: %+v %v, head %+v", rep, err, s.AuditHead())
		}
		var full bytes.Buffer
		if _, err := s.ExportAudit(ctx, &full); err != nil {
			t.Fatal(err)
		}
		mustExec(t, s, `DELETE FROM audit WHERE seq >= ?`, 5)
		var ce *AuditChainError
		if _, err := s.VerifyAuditChain(ctx); !errors.As(err, &ce) || ce.Seq != 5 || !strings.Contains(ce.Reason, "cut off") {
			t.Fatalf("cut-off tail not detected online: %v", err)
		}
		// Offline: an export with its last entries dropped, end line kept …
		lines := strings.SplitAfter(strings.TrimSuffix(full.String(), "\n"), "\n")
		cut := strings.Join(append(lines[:len(lines)-3:len(lines)-3], lines[len(lines)-1]), "")
		if _, _, err := VerifyAuditExport(strings.NewReader(cut), key); err == nil || !strings.Contains(err.Error(), "end line counts 6 entries") {
			t.Fatalf("entries dropped from the export not detected: %v", err)
		}
		// … or with the end line too, or a forged end line.
		if _, _, err := VerifyAuditExport(strings.NewReader(strings.Join(lines[:len(lines)-3], "")), key); err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Fatalf("truncated export not detected: %v", err)
		}
		forged := strings.Join(lines[:len(lines)-3], "") + strings.Replace(strings.Replace(lines[len(lines)-1], `"rows":6`, `"rows":4`, 1),
			`"seq":6`, `"seq":4`, 1)
		if _, _, err := VerifyAuditExport(strings.NewReader(forged), key); err == nil {
			t.Fatal("forged end line accepted")
		}
		// Positive control: the full export still verifies.
		if _, rep, err := VerifyAuditExport(bytes.NewReader(full.Bytes()), key); err != nil || rep.Rows != 6 {
			t.Fatalf("full export: %+v %v", rep, err)
		}
	})
}

func TestAuditMigrationFromLegacyChain(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		appendN(t, s, 4, "legacy") // written by an alertd without a key
		if rep, err := s.VerifyAuditChain(ctx); err != nil || rep.LegacyRows != 4 {
			t.Fatalf("legacy chain: %+v %v", rep, err)
		}
		key := testAuditKey(t, 1)
		if err := s.UseAuditKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := s.UseAuditKey(ctx, key); err != nil { // a second node, or a restart
			t.Fatalf("same key again: %v", err)
		}
		appendN(t, s, 3, "op")
		rep, err := s.VerifyAuditChain(ctx)
		if err != nil || rep.Rows != 8 || rep.LegacyRows != 4 || rep.KeyedFrom != 5 {
			t.Fatalf("migrated chain: %+v %v", rep, err)
		}
		all, _ := s.AuditLog(ctx, 0, "", 100)
		if all[4].Action != auditKeyedAction || !strings.Contains(all[4].Detail, key.ID()) || strings.Count(fmt.Sprint(all), auditKeyedAction) != 1 {
			t.Fatalf("one marker expected at entry 5: %+v", all)
		}
		// Without the key, the export verifies up to the keyed part and says so.
		if rep, err := exportOf(t, s, nil); !errors.Is(err, ErrAuditNoKey) || rep.LegacyRows != 4 {
			t.Fatalf("offline without key: %+v %v", rep, err)
		}
		// A node with another key refuses to start.
		if err := s.UseAuditKey(ctx, testAuditKey(t, 2)); err == nil || !strings.Contains(err.Error(), key.ID()) {
			t.Fatalf("other key accepted: %v", err)
		}
		// The legacy part is anchored by the marker: rewriting a legacy
		// entry and recomputing the legacy hashes breaks the marker.
		s.audit.head.Store(nil)
		mustExec(t, s, `UPDATE audit SET actor = ? WHERE seq = ?`, "mallory", 2)
		recomputeFrom(t, s, 2, func(e *AuditEntry) string {
			if e.Seq < 5 {
				return e.computeHash()
			}
			return e.Hash
		})
		wantBroken(t, s, key, 5)
	})
}

func TestAuditAppendWithoutKeyToKeyedChainIsRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := OpenStore(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseAuditKey(ctx, testAuditKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 1, "op")
	s.Close()
	s, err = OpenStore(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Audit(ctx, AuditEntry{Actor: "op", Action: "login"}); err == nil || !strings.Contains(err.Error(), "no audit key") {
		t.Fatalf("unkeyed append to a keyed chain: %v", err)
	}
	if n, err := s.VerifyAudit(ctx); !errors.Is(err, ErrAuditNoKey) || n != 2 {
		t.Fatalf("verify without key: %d %v", n, err)
	}
}

// Property: whatever the sequence of appends (with or without a legacy
// prefix), the untouched chain verifies online and offline, and any one
// random tamper is detected by both.
func TestAuditChainPropertyRandomTamper(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 653122))
	ctx := context.Background()
	s, err := OpenStore(ctx, "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := testAuditKey(t, 7)
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz疏勒县红色预警"
		r := []rune(letters)
		n := rng.IntN(12)
		out := make([]rune, n)
		for i := range out {
			out[i] = r[rng.IntN(len(r))]
		}
		return string(out)
	}
	tampers := []string{"detail", "actor", "action", "alert_id", "remote", "at", "delete", "swap", "rehash", "insert"}
	for round := 0; round < 25; round++ {
		mustExec(t, s, `DELETE FROM audit`)
		s.audit.key.Store(nil)
		s.audit.head.Store(nil)
		legacy := rng.IntN(4)
		for i := 0; i < legacy; i++ {
			appendN(t, s, 1, word())
		}
		if err := s.UseAuditKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		n := 1 + rng.IntN(15)
		for i := 0; i < n; i++ {
			e := AuditEntry{Actor: word(), Action: word(), AlertID: word(), Remote: word(), Detail: word(),
				At: time.UnixMilli(1_700_000_000_000 + rng.Int64N(1e9))}
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		total := int64(legacy + 1 + n)
		if rep, err := s.VerifyAuditChain(ctx); err != nil || rep.Rows != total {
			t.Fatalf("round %d: untouched chain of %d: %+v %v", round, total, rep, err)
		}
		if rep, err := exportOf(t, s, key); err != nil || rep.Rows != total {
			t.Fatalf("round %d: untouched export: %+v %v", round, rep, err)
		}
		s.audit.head.Store(nil)
		seq := 1 + rng.Int64N(total)
		what := tampers[rng.IntN(len(tampers))]
		switch what {
		case "detail", "actor", "action", "alert_id", "remote":
			mustExec(t, s, `UPDATE audit SET `+what+` = `+what+` || ? WHERE seq = ?`, "x", seq)
		case "at":
			mustExec(t, s, `UPDATE audit SET at = at + ? WHERE seq = ?`, 1+rng.Int64N(1e6), seq)
		case "delete":
			if seq == total { // a cut-off tail is the anchor's job (TestAuditTailCutOffIsDetected)
				seq--
			}
			mustExec(t, s, `DELETE FROM audit WHERE seq = ?`, seq)
		case "swap":
			if seq == total {
				seq--
			}
			if seq == 0 {
				continue
			}
			mustExec(t, s, `UPDATE audit SET seq = -1 WHERE seq = ?`, seq)
			mustExec(t, s, `UPDATE audit SET seq = ? WHERE seq = ?`, seq, seq+1)
			mustExec(t, s, `UPDATE audit SET seq = ? WHERE seq = -1`, seq+1)
		case "rehash":
			mustExec(t, s, `UPDATE audit SET detail = detail || ? WHERE seq = ?`, "x", seq)
			recomputeFrom(t, s, seq, func(e *AuditEntry) string {
				if rng.IntN(2) == 0 {
					return e.computeHash()
				}
				return auditMACPrefix + e.computeHash()
			})
		case "insert":
			renumberFrom(t, s, seq)
			e := AuditEntry{Seq: seq, At: time.UnixMilli(1_700_000_000_000), Actor: "mallory", Action: "alert.cancel"}
			if seq > 1 {
				all, _ := s.AuditLog(ctx, seq-2, "", 1)
				e.PrevHash = all[0].Hash
			}
			e.Hash = e.computeHash()
			mustExec(t, s, `INSERT INTO audit (seq, at, actor, action, alert_id, remote, detail, prev_hash, hash) VALUES (?, ?, ?, ?, '', '', '', ?, ?)`,
				e.Seq, e.At.UnixMilli(), e.Actor, e.Action, e.PrevHash, e.Hash)
		}
		if _, err := s.VerifyAuditChain(ctx); !errors.Is(err, ErrAuditChain) {
			t.Fatalf("round %d: %s at entry %d of %d (legacy %d) not detected online: %v", round, what, seq, total, legacy, err)
		}
		if _, err := exportOf(t, s, key); !errors.Is(err, ErrAuditChain) {
			t.Fatalf("round %d: %s at entry %d of %d (legacy %d) not detected offline: %v", round, what, seq, total, legacy, err)
		}
	}
}

func TestAuditExportRejectsBadFiles(t *testing.T) {
	key := testAuditKey(t, 1)
	for _, c := range []struct{ name, body, want string }{
		{"empty", "", "empty file"},
		{"not json", "hello\n", "not an Alertcast audit export"},
		{"other format", `{"format":"something/2"}` + "\n", "not an Alertcast audit export"},
		{"unknown field", `{"format":"` + AuditExportFormat + `"}` + "\n" + `{"seq":1,"evil":true}` + "\n", `line 2: not an audit entry`},
		{"no seq", `{"format":"` + AuditExportFormat + `"}` + "\n" + `{"actor":"x"}` + "\n", "line 2: audit entry without a seq"},
		{"other key", `{"format":"` + AuditExportFormat + `","key_id":"0011223344556677"}` + "\n", "verifying with key " + key.ID()},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := VerifyAuditExport(strings.NewReader(c.body), key)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestAuditKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "audit.key")
	if _, _, err := LoadAuditKeyFile(path, false); err == nil {
		t.Fatal("a configured key file that does not exist must not be created")
	}
	k1, created, err := LoadAuditKeyFile(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", st.Mode(), err)
	}
	k2, created, err := LoadAuditKeyFile(path, true)
	if err != nil || created || k2.ID() != k1.ID() {
		t.Fatalf("reload: %v %v %v/%v", created, err, k2, k1)
	}
	if strings.Contains(fmt.Sprint(k1), hexOfFile(t, path)) {
		t.Fatal("the key's String reveals the secret")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadAuditKeyFile(path, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	for _, body := range []string{"", "zz" + strings.Repeat("0", 62), strings.Repeat("ab", 16)} {
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadAuditKeyFile(bad, false); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Fatalf("key file %q: %v", body, err)
		}
	}
}

func hexOfFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// An export file comes from outside: whatever it holds, verifying it never
// panics, a file is accepted only with an intact chain keyed with the key,
// and a changed file that is still accepted (re-encoded JSON) ends at the
// same entry with the same hash as the original.
func FuzzVerifyAuditExport(f *testing.F) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "", f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	key := testAuditKey(f, 1)
	appendN(f, s, 2, "legacy")
	if err := s.UseAuditKey(ctx, key); err != nil {
		f.Fatal(err)
	}
	appendN(f, s, 3, "op")
	var buf bytes.Buffer
	if _, err := s.ExportAudit(ctx, &buf); err != nil {
		f.Fatal(err)
	}
	good := buf.String()
	f.Add(good)
	f.Add(strings.Replace(good, `"actor":"op"`, `"actor":"mallory"`, 1))
	f.Add(`{"format":"` + AuditExportFormat + `"}` + "\n" + `{"end":{"rows":0}}` + "\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		_, rep, err := VerifyAuditExport(strings.NewReader(body), key)
		if err == nil && (!rep.OK || rep.KeyID != key.ID()) {
			t.Fatalf("accepted without a keyed chain: %+v", rep)
		}
		if err != nil && rep.OK {
			t.Fatalf("error %v with ok report", err)
		}
		if err == nil && body != good && rep.Rows == 6 && !strings.Contains(body, "\n\n") {
			// A different file that verifies must be the same chain
			// re-encoded, never different entries.
			_, rep2, _ := VerifyAuditExport(strings.NewReader(good), key)
			if rep.Head != rep2.Head {
				t.Fatalf("a different chain verified: %+v", rep)
			}
		}
	})
}
