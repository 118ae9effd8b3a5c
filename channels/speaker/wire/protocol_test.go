package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func volumeBody(v int) []byte {
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b, _ := json.Marshal(Command{Op: OpVolume, ID: "volume:x", Volume: &v, Until: &until})
	return b
}

func TestVerifierChecks(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	body := volumeBody(40)
	for _, tc := range []struct {
		name string
		sc   SignedCommand
		want error
	}{
		{"valid", Sign(key, "d1", 11, now, body), nil},
		{"forged", Sign(testKey(t), "d1", 11, now, body), ErrBadSignature},
		{"tampered body", func() SignedCommand { s := Sign(key, "d1", 11, now, body); s.Body = volumeBody(100); return s }(), ErrBadSignature},
		{"tampered seq", func() SignedCommand { s := Sign(key, "d1", 11, now, body); s.Seq = 12; return s }(), ErrBadSignature},
		{"tampered time", func() SignedCommand {
			s := Sign(key, "d1", 11, now.Add(-time.Hour), body)
			s.IssuedAt = now.UnixMilli()
			return s
		}(), ErrBadSignature},
		{"retargeted", func() SignedCommand { s := Sign(key, "d1", 11, now, body); s.Device = "d2"; return s }(), ErrBadSignature},
		{"truncated sig", func() SignedCommand { s := Sign(key, "d1", 11, now, body); s.Sig = s.Sig[:10]; return s }(), ErrBadSignature},
		{"wrong device", Sign(key, "d2", 11, now, body), ErrWrongDevice},
		{"stale", Sign(key, "d1", 11, now.Add(-121*time.Second), body), ErrStale},
		{"future", Sign(key, "d1", 11, now.Add(121*time.Second), body), ErrStale},
		{"within skew", Sign(key, "d1", 11, now.Add(-119*time.Second), body), nil},
		{"replayed", Sign(key, "d1", 10, now, body), ErrReplayed},
		{"older", Sign(key, "d1", 3, now, body), ErrReplayed},
		{"bad body", Sign(key, "d1", 11, now, []byte(`{"op":"explode","id":"x"}`)), ErrBadBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Verifier{Key: pub, Device: "d1", Window: 2 * time.Minute, LastSeq: 10}
			_, err := v.Verify(tc.sc, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			switch {
			case tc.want == nil || errors.Is(tc.want, ErrBadBody):
				if v.LastSeq != 11 {
					t.Errorf("LastSeq %d, want 11", v.LastSeq)
				}
			default:
				if v.LastSeq != 10 {
					t.Errorf("a refused command moved LastSeq to %d", v.LastSeq)
				}
			}
		})
	}
}

// TestSigningBytesUnambiguous: moving bytes between fields never yields the
// same signed message.
func TestSigningBytesUnambiguous(t *testing.T) {
	a := SigningBytes("ab", 1, 2, []byte("c"))
	for _, b := range [][]byte{
		SigningBytes("a", 1, 2, []byte("bc")),
		SigningBytes("abc", 1, 2, nil),
		SigningBytes("ab", 2, 1, []byte("c")),
	} {
		if bytes.Equal(a, b) {
			t.Fatal("two different commands share signing bytes")
		}
	}
}

func TestParseCommandErrorsNameTheField(t *testing.T) {
	good := `{"op":"play","id":"play:k","play":{"key":"k","alert":"a","url":"/audio/x.wav","sha256":"` + strings.Repeat("ab", 32) + `","level":4,"drill":false,"repeats":2,"until":"2030-01-01T00:00:00Z"}}`
	if _, err := ParseCommand([]byte(good)); err != nil {
		t.Fatalf("good command: %v", err)
	}
	for field, body := range map[string]string{
		"play.sha256":    strings.Replace(good, strings.Repeat("ab", 32), "abc", 1),
		"play.level":     strings.Replace(good, `"level":4`, `"level":9`, 1),
		"play.repeats":   strings.Replace(good, `"repeats":2`, `"repeats":0`, 1),
		"play.url":       strings.Replace(good, `"/audio/x.wav"`, `""`, 1),
		"op":             strings.Replace(good, `"op":"play"`, `"op":"dance"`, 1),
		"frame":          strings.Replace(good, `"drill":false`, `"drill":false,"extra":1`, 1),
		"id":             strings.Replace(good, `"id":"play:k"`, `"id":""`, 1),
		"volume":         `{"op":"volume","id":"v","volume":101}`,
		"stop":           `{"op":"stop","id":"s"}`,
		"live.signaling": `{"op":"live","id":"l","live":{"id":"r"}}`,
	} {
		_, err := ParseCommand([]byte(body))
		if err == nil || !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func TestParseAgentFrame(t *testing.T) {
	for _, ok := range []string{
		`{"type":"heartbeat","state":"normal","volume":80,"firmware":"1.0","signal":-70}`,
		`{"type":"heartbeat","state":"broadcasting","playing":"A/v1"}`,
		`{"type":"report","seq":5,"step":"refused","reason":"bad signature"}`,
		`{"type":"report","id":"play:A/v1","key":"A/v1","step":"played","at":"2026-11-28T12:00:00Z"}`,
	} {
		if _, err := ParseAgentFrame([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for want, bad := range map[string]string{
		"state":    `{"type":"heartbeat"}`,
		"volume":   `{"type":"heartbeat","state":"normal","volume":300}`,
		"signal":   `{"type":"heartbeat","state":"normal","signal":12}`,
		"step":     `{"type":"report","seq":1,"step":"exploded"}`,
		"seq":      `{"type":"report","step":"played"}`,
		"type":     `{"type":"command"}`,
		"frame":    `{"type":"heartbeat","state":"normal"} trailing`,
		"reason":   `{"type":"report","seq":1,"step":"failed","reason":"` + strings.Repeat("x", 600) + `"}`,
		"firmware": `{"type":"heartbeat","state":"normal","firmware":"` + strings.Repeat("x", 65) + `"}`,
	} {
		_, err := ParseAgentFrame([]byte(bad))
		if err == nil || !strings.HasPrefix(err.Error(), want+":") {
			t.Errorf("%s: got %v, want an error naming %q", bad, err, want)
		}
	}
}

func TestDeviceStateNames(t *testing.T) {
	for s := StateNormal; s <= StateRecovered; s++ {
		got, err := ParseDeviceState(s.String())
		if err != nil || got != s {
			t.Errorf("%d: %q → %v %v", s, s.String(), got, err)
		}
	}
	if StateUnknown.String() != "unknown" || DeviceState(99).String() != "unknown" {
		t.Error("unknown state name")
	}
	if _, err := ParseDeviceState("unknown"); err == nil {
		t.Error("unknown parsed")
	}
}

func FuzzParseAgentFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"heartbeat","state":"normal","volume":80,"firmware":"1.0","signal":-70}`,
		`{"type":"report","seq":5,"id":"play:A","key":"A","step":"playing","at":"2026-11-28T12:00:00Z"}`,
		`{"type":"report","seq":18446744073709551615,"step":"refused","reason":"\u0000"}`,
		`{}`, `[]`, `null`, `{"type":"heartbeat","state":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseAgentFrame(b)
		if err != nil {
			return
		}
		// Whatever is accepted stays within the documented bounds.
		if len(fr.ID) > maxIDLen || len(fr.Key) > maxIDLen || len(fr.Reason) > maxReasonLen || len(fr.Firmware) > 64 {
			t.Fatalf("unbounded field accepted: %+v", fr)
		}
		if fr.Type == FrameHeartbeat && (fr.Volume < 0 || fr.Volume > 100 || fr.State == StateUnknown) {
			t.Fatalf("bad heartbeat accepted: %+v", fr)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Add(volumeBody(3))
	f.Add([]byte(`{"op":"stop","id":"stop:k","stop":{"key":"k","alert":"a"}}`))
	f.Add([]byte(`{"op":"live","id":"live:r","live":{"id":"r","signaling":"wss://x","token":"t","level":4,"until":"2030-01-01T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		if c.Op == OpPlay && (c.Play == nil || c.Play.Level < 1 || c.Play.Level > 4 || !isHex64(c.Play.SHA256)) {
			t.Fatalf("invalid play accepted: %+v", c.Play)
		}
	})
}

func FuzzVerify(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	good := Sign(key, "d1", 11, now, volumeBody(5))
	f.Add("d1", uint64(11), now.UnixMilli(), good.Body, good.Sig)
	f.Add("d1", uint64(12), now.UnixMilli(), []byte("{}"), good.Sig)
	f.Fuzz(func(t *testing.T, dev string, seq uint64, at int64, body, sig []byte) {
		v := Verifier{Key: key.Public().(ed25519.PublicKey), Device: "d1", Window: time.Minute, LastSeq: 10}
		_, err := v.Verify(SignedCommand{Device: dev, Seq: seq, IssuedAt: at, Body: body, Sig: sig}, now)
		if err == nil {
			// Only the seed's genuine signature can pass.
			if !ed25519.Verify(key.Public().(ed25519.PublicKey), SigningBytes(dev, seq, at, body), sig) || dev != "d1" || seq <= 10 {
				t.Fatalf("accepted a command that should fail")
			}
		}
	})
}
