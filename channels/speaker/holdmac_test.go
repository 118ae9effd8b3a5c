package speaker

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

// Every part of a held command is bound by its MAC: change any one, or the
// key, and it no longer verifies.
func TestHoldMACBindsEveryPart(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	m := newHoldMAC(k1)
	until := time.UnixMilli(1_900_000_000_000)
	body := []byte(`{"op":"play","id":"play:A/v1"}`)
	mk := func(dev, field string) held {
		d := heldDigest("play:A/v1", until, 5, 3, body)
		v := encodeHeld("play:A/v1", until, 5, 3, m.hold(dev, field, &d), body)
		h, err := decodeHeld(field, v)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	ok := func(m *holdMAC, dev string, h held) bool {
		d := heldDigest(h.id, h.until, h.created, h.version, h.body)
		return m.verifyHold(dev, &h, &d)
	}
	genuine := mk("spk-1", "a:A")
	if !ok(m, "spk-1", genuine) {
		t.Fatal("genuine hold refused")
	}
	cases := map[string]func(h *held) string{
		"other device":  func(h *held) string { return "spk-2" },
		"other field":   func(h *held) string { h.field = "a:B"; return "spk-1" },
		"other id":      func(h *held) string { h.id = "play:A/v2"; return "spk-1" },
		"later until":   func(h *held) string { h.until = h.until.Add(time.Hour); return "spk-1" },
		"other created": func(h *held) string { h.created++; return "spk-1" },
		"other version": func(h *held) string { h.version++; return "spk-1" },
		"other body":    func(h *held) string { h.body = []byte(`{"op":"play","id":"play:A/v9"}`); return "spk-1" },
		"no mac":        func(h *held) string { h.mac = ""; return "spk-1" },
		"garbage mac":   func(h *held) string { h.mac = "!!!!"; return "spk-1" },
		"long mac":      func(h *held) string { h.mac += "AAAA"; return "spk-1" },
	}
	for name, change := range cases {
		h := genuine
		dev := change(&h)
		if ok(m, dev, h) {
			t.Errorf("%s: tampered hold verified", name)
		}
	}
	if ok(newHoldMAC(k2), "spk-1", genuine) {
		t.Error("a hold verified under another platform key")
	}

	at := time.Now().UnixMilli()
	kmac := m.kick("spk-1", 7, at)
	if !m.verifyKick("spk-1", 7, at, kmac) {
		t.Fatal("genuine kick refused")
	}
	for name, bad := range map[string]bool{
		"device": m.verifyKick("spk-2", 7, at, kmac),
		"epoch":  m.verifyKick("spk-1", 0, at, kmac),
		"time":   m.verifyKick("spk-1", 7, at+1, kmac),
		"key":    newHoldMAC(k2).verifyKick("spk-1", 7, at, kmac),
	} {
		if bad {
			t.Errorf("kick with another %s verified", name)
		}
	}
}

func BenchmarkHoldMAC(b *testing.B) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	m := newHoldMAC(k)
	d := heldDigest("play:A/v1", time.Now(), 1, 1, make([]byte, 600))
	for b.Loop() {
		m.hold("653122100001-01", "a:A", &d)
	}
}
