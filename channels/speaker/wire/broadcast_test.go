package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// bcFor is dev's copy of b for set.
func bcFor(t *testing.T, b Broadcast, set *AddressSet, dev string) Broadcast {
	t.Helper()
	p, ok := set.Path(dev)
	if !ok {
		t.Fatalf("%s not in the set", dev)
	}
	b.Path = p
	return b
}

func devices(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// TestAddressSetEveryMember: every member of sets of every shape (odd
// levels, powers of two, one device) verifies, and nobody else does.
func TestAddressSetEveryMember(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	body := volumeBody(40)
	for _, n := range []int{1, 2, 3, 5, 8, 13, 64, 100} {
		devs := devices(n, "spk")
		set, err := NewAddressSet(append(devs, devs[0])) // a duplicate changes nothing
		if err != nil {
			t.Fatal(err)
		}
		if set.Len() != n {
			t.Fatalf("n=%d: Len %d", n, set.Len())
		}
		b := SignBroadcast(key, set, 100, now, body)
		for _, d := range devs {
			v := Verifier{Key: pub, Device: d, Window: 2 * time.Minute, LastBroadcast: 99}
			if _, err := v.VerifyBroadcast(bcFor(t, b, set, d), now); err != nil {
				t.Fatalf("n=%d: member %s refused: %v", n, d, err)
			}
			if v.LastBroadcast != 100 {
				t.Fatalf("n=%d: LastBroadcast %d after accepting 100", n, v.LastBroadcast)
			}
		}
		// An outsider given a member's path computes another root.
		v := Verifier{Key: pub, Device: "spk-outsider", Window: 2 * time.Minute}
		if _, err := v.VerifyBroadcast(bcFor(t, b, set, devs[n-1]), now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("n=%d: outsider with a member's path: %v, want ErrBadSignature", n, err)
		}
		if _, ok := set.Path("spk-outsider"); ok {
			t.Fatalf("n=%d: Path for a device not in the set", n)
		}
	}
	if _, err := NewAddressSet(nil); err == nil {
		t.Fatal("empty set accepted")
	}
}

// TestVerifyBroadcastAdversarial: the attacks a broadcast must survive, each
// after a positive control for the same device.
func TestVerifyBroadcastAdversarial(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	body := volumeBody(40)
	area := []string{"653122100-a", "653122100-b", "653122100-c", "653122100-d", "653122100-e"}
	other := []string{"653122200-a", "653122200-b", "653122200-c"}
	set, _ := NewAddressSet(area)
	otherSet, _ := NewAddressSet(other)
	b := SignBroadcast(key, set, 500, now, body)
	dev := "653122100-c"

	for _, tc := range []struct {
		name string
		dev  string
		b    Broadcast
		want error
	}{
		{"valid", dev, bcFor(t, b, set, dev), nil},
		{"forged key", dev, bcFor(t, SignBroadcast(testKey(t), set, 500, now, body), set, dev), ErrBadSignature},
		{"altered body", dev, func() Broadcast { x := bcFor(t, b, set, dev); x.Body = volumeBody(100); return x }(), ErrBadSignature},
		{"altered seq", dev, func() Broadcast { x := bcFor(t, b, set, dev); x.Seq++; return x }(), ErrBadSignature},
		{"altered time", dev, func() Broadcast { x := bcFor(t, b, set, dev); x.IssuedAt++; return x }(), ErrBadSignature},
		{"broadcast for another area", "653122100-c", func() Broadcast {
			x := SignBroadcast(key, otherSet, 500, now, body)
			return bcFor(t, x, otherSet, "653122200-a") // the best path the device could be handed
		}(), ErrBadSignature},
		{"another area's device", "653122200-a", bcFor(t, b, set, dev), ErrBadSignature},
		{"truncated path", dev, func() Broadcast { x := bcFor(t, b, set, dev); x.Path = x.Path[:len(x.Path)-ProofStep]; return x }(), ErrBadSignature},
		{"path cut mid-step", dev, func() Broadcast { x := bcFor(t, b, set, dev); x.Path = x.Path[:len(x.Path)-1]; return x }(), ErrBadSignature},
		{"sibling swapped side", dev, func() Broadcast {
			x := bcFor(t, b, set, dev)
			x.Path = append([]byte(nil), x.Path...)
			if x.Path[0] == SideLeft {
				x.Path[0] = SideRight
			} else {
				x.Path[0] = SideLeft
			}
			return x
		}(), ErrBadSignature},
		{"altered sibling", dev, func() Broadcast {
			x := bcFor(t, b, set, dev)
			x.Path = append([]byte(nil), x.Path...)
			x.Path[5] ^= 1
			return x
		}(), ErrBadSignature},
		{"bad side byte", dev, func() Broadcast {
			x := bcFor(t, b, set, dev)
			x.Path = append([]byte(nil), x.Path...)
			x.Path[0] = 'X'
			return x
		}(), ErrBadSignature},
		{"area list shortened (signed for a subset)", dev, func() Broadcast {
			sub, _ := NewAddressSet(area[:4])
			x := SignBroadcast(key, sub, 500, now, body)
			return bcFor(t, x, set, dev) // the device's path in the full list
		}(), ErrBadSignature},
		{"device's own per-device signature as broadcast", dev, func() Broadcast {
			sc := Sign(key, dev, 500, now, body)
			x := bcFor(t, b, set, dev)
			x.Sig = sc.Sig
			return x
		}(), ErrBadSignature},
		{"truncated sig", dev, func() Broadcast { x := bcFor(t, b, set, dev); x.Sig = x.Sig[:63]; return x }(), ErrBadSignature},
		{"stale", dev, bcFor(t, SignBroadcast(key, set, 500, now.Add(-121*time.Second), body), set, dev), ErrStale},
		{"future", dev, bcFor(t, SignBroadcast(key, set, 500, now.Add(121*time.Second), body), set, dev), ErrStale},
		{"replayed (same seq)", dev, bcFor(t, SignBroadcast(key, set, 400, now, body), set, dev), ErrReplayed},
		{"older seq", dev, bcFor(t, SignBroadcast(key, set, 3, now, body), set, dev), ErrReplayed},
		{"bad body", dev, bcFor(t, SignBroadcast(key, set, 500, now, []byte(`{"op":"explode","id":"x"}`)), set, dev), ErrBadBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Verifier{Key: pub, Device: tc.dev, Window: 2 * time.Minute, LastSeq: 7, LastBroadcast: 400}
			_, err := v.VerifyBroadcast(tc.b, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyBroadcast = %v, want %v", err, tc.want)
			}
			want := uint64(400)
			if tc.want == nil || errors.Is(tc.want, ErrBadBody) {
				want = 500
			}
			if v.LastBroadcast != want || v.LastSeq != 7 {
				t.Fatalf("LastBroadcast %d, LastSeq %d; want %d, 7", v.LastBroadcast, v.LastSeq, want)
			}
		})
	}
}

// TestBroadcastReplayAfterAccept: the same broadcast twice is refused the
// second time, and a per-device command signed over the same bytes as a
// broadcast is not mistaken for one (separate domains and floors).
func TestBroadcastReplayAfterAccept(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	set, _ := NewAddressSet([]string{"a", "b", "c"})
	b := bcFor(t, SignBroadcast(key, set, 9000, now, volumeBody(10)), set, "b")
	v := Verifier{Key: pub, Device: "b", Window: 2 * time.Minute}
	if _, err := v.VerifyBroadcast(b, now); err != nil {
		t.Fatalf("first delivery refused: %v", err)
	}
	if _, err := v.VerifyBroadcast(b, now.Add(time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed broadcast: %v, want ErrReplayed", err)
	}
	// Per-device sequence numbers are their own floor: a per-device command
	// below the broadcast's number still verifies.
	if _, err := v.Verify(Sign(key, "b", 1, now, volumeBody(20)), now); err != nil {
		t.Fatalf("per-device command after a broadcast: %v", err)
	}
}

// TestBroadcastFrameParses: a command frame carries exactly one of command
// and broadcast.
func TestBroadcastFrameParses(t *testing.T) {
	key := testKey(t)
	set, _ := NewAddressSet([]string{"a", "b"})
	b := bcFor(t, SignBroadcast(key, set, 1, time.Now(), volumeBody(1)), set, "a")
	raw, _ := json.Marshal(HubFrame{Type: FrameCommand, Broadcast: &b})
	f, err := ParseHubFrame(raw)
	if err != nil || f.Broadcast == nil || string(f.Broadcast.Path) != string(b.Path) {
		t.Fatalf("ParseHubFrame(broadcast) = %+v, %v", f, err)
	}
	sc := Sign(key, "a", 1, time.Now(), volumeBody(1))
	both, _ := json.Marshal(HubFrame{Type: FrameCommand, Broadcast: &b, Command: &sc})
	if _, err := ParseHubFrame(both); err == nil {
		t.Fatal("a frame with both command and broadcast was accepted")
	}
	none, _ := json.Marshal(HubFrame{Type: FrameCommand})
	if _, err := ParseHubFrame(none); err == nil {
		t.Fatal("a command frame with neither was accepted")
	}
}

func BenchmarkAddressSet5000(b *testing.B) {
	devs := devices(5000, "SPK-653122100004")
	for b.Loop() {
		set, _ := NewAddressSet(devs)
		for _, d := range devs {
			set.Path(d)
		}
	}
}

// FuzzBroadcastFrame: any frame from the network parses or is refused
// without panicking, and a broadcast that verifies is above the floor, has
// a body that parses and was signed for this device's set.
func FuzzBroadcastFrame(f *testing.F) {
	key := testKey(f)
	pub := key.Public().(ed25519.PublicKey)
	set, _ := NewAddressSet([]string{"d", "e", "f"})
	b := SignBroadcast(key, set, 10, time.Now(), volumeBody(5))
	b.Path, _ = set.Path("d")
	good, _ := json.Marshal(HubFrame{Type: FrameCommand, Broadcast: &b})
	f.Add(good)
	f.Add([]byte(`{"type":"command","broadcast":{"seq":11,"issued_at":0,"body":"e30=","path":"","sig":""}}`))
	f.Add([]byte(`{"type":"command","broadcast":{"seq":11,"path":"TA=="}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := ParseHubFrame(raw)
		if err != nil || fr.Broadcast == nil {
			return
		}
		v := Verifier{Key: pub, Device: "d", Window: time.Hour, LastBroadcast: 9}
		_, err = v.VerifyBroadcast(*fr.Broadcast, time.Now())
		if err != nil {
			return
		}
		if fr.Broadcast.Seq <= 9 {
			t.Fatalf("accepted broadcast seq %d after 9", fr.Broadcast.Seq)
		}
		if _, err := ParseCommand(fr.Broadcast.Body); err != nil {
			t.Fatalf("accepted a body that does not parse: %v", err)
		}
		if root, err := rootFrom("d", fr.Broadcast.Path); err != nil || root != set.Root() {
			t.Fatalf("accepted a path to another root (%v)", err)
		}
	})
}

// The platform's signing work for one announcement to 5,000 devices: a
// signature each, or one broadcast signature, its tree and 5,000 paths.
func BenchmarkSign5000PerDevice(b *testing.B) {
	key, devs, body := testKey(b), devices(5000, "SPK-653122100004"), volumeBody(1)
	now := time.Now()
	for b.Loop() {
		for i, d := range devs {
			Sign(key, d, uint64(i), now, body)
		}
	}
}

func BenchmarkSign5000Broadcast(b *testing.B) {
	key, devs, body := testKey(b), devices(5000, "SPK-653122100004"), volumeBody(1)
	now := time.Now()
	for b.Loop() {
		set, _ := NewAddressSet(devs)
		SignBroadcast(key, set, 1, now, body)
		for _, d := range devs {
			set.Path(d)
		}
	}
}
