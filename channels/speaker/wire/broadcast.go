package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A Broadcast is one command signed once for a whole set of devices: the
// signature covers the root of a Merkle tree over the set's device ids, and
// each device receives, with the command, the path from its own id to that
// root. A county-wide warning to 5,000 loudspeakers costs the platform one
// Ed25519 signature instead of 5,000, and each device still checks exactly
// one signature.
//
// What a device accepts from a broadcast is what it accepts from a
// SignedCommand (see Verifier.VerifyBroadcast):
//
//   - authentic: an Ed25519 signature by the platform key over the
//     domain string, the address root, the sequence number, issued-at
//     and the body;
//   - addressed to it: the root is recomputed from the device's own
//     configured id and the path in the frame, so a broadcast for another
//     set of devices (another area, a truncated or extended list, a path
//     taken from another device) gives another root and fails as a bad
//     signature. Leaves and inner nodes are hashed with different prefixes
//     and the device's id is length-prefixed, so an inner node cannot pose
//     as a leaf and no two id sets share a root unless SHA-256 collides;
//   - fresh: issued-at within the device's window, as for any command;
//   - not replayed: its sequence number must be above the highest
//     broadcast sequence number the device accepted, which it persists
//     across restarts (Verifier.LastBroadcast). Broadcast sequence numbers
//     come from the signing node's clock (milliseconds, shifted), not from
//     Redis, so nothing in Redis can push a device's floor out of reach.
//
// Broadcast and per-device sequence numbers are separate floors: a
// per-device command is written on one connection and numbered by it, a
// broadcast is numbered where it is signed. A device that refuses a
// broadcast (out of order behind another node's, stale after a slow write)
// gets the same command signed for it alone: the hub falls back, never the
// device.
type Broadcast struct {
	Seq      uint64 `json:"seq"`
	IssuedAt int64  `json:"issued_at"` // Unix milliseconds
	Body     []byte `json:"body"`
	// Path from the device's leaf to the root: one ProofStep (33 bytes)
	// per level that has a sibling.
	Path []byte `json:"path"`
	Sig  []byte `json:"sig"`
}

// broadcastDomain separates broadcast signatures from per-device ones
// (signingDomain) and from any other use of the key.
const broadcastDomain = "alertcast-speaker-broadcast-v1\x00"

// ProofStep is the size of one step of a broadcast's path: a side byte
// (SideLeft: the sibling is on the left) and the sibling's hash.
const ProofStep = 1 + sha256.Size

// Side bytes of a path step.
const (
	SideLeft  = 'L'
	SideRight = 'R'
)

// maxPathSteps bounds a path: 2^32 devices in one broadcast is far beyond
// any deployment.
const maxPathSteps = 32

// BroadcastSigningBytes is the exact message a broadcast's signature covers:
// the domain string, the 32-byte address root, the sequence number and
// issued-at (8-byte big-endian each) and the length-prefixed body.
func BroadcastSigningBytes(root [32]byte, seq uint64, issuedAt int64, body []byte) []byte {
	b := make([]byte, 0, len(broadcastDomain)+32+16+4+len(body))
	b = append(b, broadcastDomain...)
	b = append(b, root[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(issuedAt))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return b
}

func leafHash(device string) [32]byte {
	h := sha256.New()
	var pre [5]byte
	pre[0] = 0
	binary.BigEndian.PutUint32(pre[1:], uint32(len(device)))
	h.Write(pre[:])
	h.Write([]byte(device))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func nodeHash(left, right *[32]byte) [32]byte {
	var b [1 + 64]byte
	b[0] = 1
	copy(b[1:], left[:])
	copy(b[33:], right[:])
	return sha256.Sum256(b[:])
}

// AddressSet is the Merkle tree over a broadcast's device ids.
type AddressSet struct {
	ids    []string     // sorted, unique
	levels [][][32]byte // levels[0] leaves … levels[len-1] the root
}

// NewAddressSet builds the tree over devices (any order, duplicates
// ignored). It needs at least one device.
func NewAddressSet(devices []string) (*AddressSet, error) {
	ids := slices.Clone(devices)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil, errors.New("broadcast: no devices")
	}
	level := make([][32]byte, len(ids))
	for i, id := range ids {
		level[i] = leafHash(id)
	}
	s := &AddressSet{ids: ids, levels: [][][32]byte{level}}
	for len(level) > 1 {
		next := make([][32]byte, (len(level)+1)/2)
		for i := 0; i+1 < len(level); i += 2 {
			next[i/2] = nodeHash(&level[i], &level[i+1])
		}
		if len(level)%2 == 1 {
			// An odd node out is carried up unchanged (never paired with
			// itself), so the tree of a set has one shape.
			next[len(next)-1] = level[len(level)-1]
		}
		s.levels = append(s.levels, next)
		level = next
	}
	return s, nil
}

// Root is what a broadcast's signature covers.
func (s *AddressSet) Root() [32]byte { return s.levels[len(s.levels)-1][0] }

// Len is the number of distinct devices in the set.
func (s *AddressSet) Len() int { return len(s.ids) }

// Path returns device's path to the root, or false when it is not in the set.
func (s *AddressSet) Path(device string) ([]byte, bool) {
	i, ok := slices.BinarySearch(s.ids, device)
	if !ok {
		return nil, false
	}
	p := make([]byte, 0, ProofStep*(len(s.levels)-1))
	for _, level := range s.levels[:len(s.levels)-1] {
		switch {
		case i%2 == 1:
			p = append(p, SideLeft)
			p = append(p, level[i-1][:]...)
		case i+1 < len(level):
			p = append(p, SideRight)
			p = append(p, level[i+1][:]...)
		}
		i /= 2
	}
	return p, true
}

// rootFrom recomputes the root from a device id and its path.
func rootFrom(device string, path []byte) ([32]byte, error) {
	if len(path)%ProofStep != 0 || len(path)/ProofStep > maxPathSteps {
		return [32]byte{}, fmt.Errorf("path of %d bytes: want at most %d steps of %d bytes", len(path), maxPathSteps, ProofStep)
	}
	h := leafHash(device)
	for off := 0; off < len(path); off += ProofStep {
		var sib [32]byte
		copy(sib[:], path[off+1:off+ProofStep])
		switch path[off] {
		case SideLeft:
			h = nodeHash(&sib, &h)
		case SideRight:
			h = nodeHash(&h, &sib)
		default:
			return [32]byte{}, fmt.Errorf("path step %d: side %q, want L or R", off/ProofStep, path[off])
		}
	}
	return h, nil
}

// SignBroadcast signs body once for every device in set. The result has no
// path: each device's frame carries set.Path(device).
func SignBroadcast(key ed25519.PrivateKey, set *AddressSet, seq uint64, issuedAt time.Time, body []byte) Broadcast {
	at := issuedAt.UnixMilli()
	return Broadcast{Seq: seq, IssuedAt: at, Body: body,
		Sig: ed25519.Sign(key, BroadcastSigningBytes(set.Root(), seq, at, body))}
}

// VerifyBroadcast checks a broadcast addressed (by its path) to this device
// and, when it passes, advances LastBroadcast and returns the decoded
// command. The order is Verify's: nothing that fails the signature changes
// state.
func (v *Verifier) VerifyBroadcast(b Broadcast, now time.Time) (Command, error) {
	if len(v.Key) != ed25519.PublicKeySize || len(b.Sig) != ed25519.SignatureSize {
		return Command{}, ErrBadSignature
	}
	root, err := rootFrom(v.Device, b.Path)
	if err != nil {
		return Command{}, fmt.Errorf("%w: broadcast %v", ErrBadSignature, err)
	}
	if !ed25519.Verify(v.Key, BroadcastSigningBytes(root, b.Seq, b.IssuedAt, b.Body), b.Sig) {
		// Forged, altered, or addressed to a set this device is not in:
		// all three give a root the platform did not sign.
		return Command{}, ErrBadSignature
	}
	skew := now.Sub(time.UnixMilli(b.IssuedAt))
	if skew > v.Window || skew < -v.Window {
		return Command{}, fmt.Errorf("%w: issued %s ago (window ±%s)", ErrStale, skew.Round(time.Millisecond), v.Window)
	}
	if b.Seq <= v.LastBroadcast {
		return Command{}, fmt.Errorf("%w: broadcast seq %d after %d", ErrReplayed, b.Seq, v.LastBroadcast)
	}
	cmd, err := ParseCommand(b.Body)
	v.LastBroadcast = b.Seq
	if err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	return cmd, nil
}
