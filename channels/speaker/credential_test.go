package speaker

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCredential(t *testing.T) {
	s1, h1 := NewCredential()
	s2, _ := NewCredential()
	if s1 == s2 || len(s1) != 43 {
		t.Fatalf("credentials %q %q", s1, s2)
	}
	if !credentialMatches(s1, h1) || credentialMatches(s2, h1) || credentialMatches(s1, nil) {
		t.Error("credential matching")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "speaker.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reload: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	pub, err := ParsePublicKey(EncodePublicKey(k1.Public().(ed25519.PublicKey)))
	if err != nil || !pub.Equal(k1.Public()) {
		t.Errorf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKey("short"); err == nil {
		t.Error("bad public key accepted")
	}
}

func TestHeldRoundTrip(t *testing.T) {
	until := time.UnixMilli(1_900_000_000_000)
	v := encodeHeld("play:A/v1", until, 5, 3, "mac", []byte("{\"a\":\"x\ny\"}"))
	h, err := decodeHeld("a:A", v)
	if err != nil || h.id != "play:A/v1" || !h.until.Equal(until) || h.created != 5 || h.version != 3 || h.mac != "mac" || string(h.body) != "{\"a\":\"x\ny\"}" {
		t.Fatalf("%+v %v", h, err)
	}
	if _, err := decodeHeld("f", "garbage"); err == nil {
		t.Error("garbage decoded")
	}
}
