// Package wire is the loudspeaker protocol shared by the platform's hub
// (package speaker) and the agent on the device (package speaker/agent):
// frame shapes and their parsers, the command body, Ed25519 signing and the
// device-side Verifier. It imports no server-side dependency, so the agent
// binary stays small and pure Go.
package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/warning"
)

// The wire protocol between the hub and a speaker agent is JSON text frames
// over one WebSocket that the agent dials (speakers sit behind NAT).
//
// Hub → agent frames:
//
//	{"type":"welcome","device":"…","time":"…","freshness":"2m0s"}
//	{"type":"command","command":{SignedCommand}}
//	{"type":"command","broadcast":{Broadcast}}   (one signature for many devices; broadcast.go)
//	{"type":"hb_ack","time":"…"}
//
// Agent → hub frames:
//
//	{"type":"heartbeat","state":"normal","volume":70,"firmware":"1.2.0","signal":-71,"playing":"key"}
//	{"type":"report","seq":…,"id":"play:A/v1","key":"A/v1","step":"playing","reason":"","at":"…"}
//
// Authentication happens before the upgrade: the agent sends the headers
// HeaderDevice (its device id) and "Authorization: Bearer <credential>",
// and HeaderFeatures naming the optional frames it understands.
const (
	// HeaderDevice carries the device id on the WebSocket upgrade request.
	HeaderDevice = "X-Alertcast-Speaker"
	// ProtocolVersion is sent as HeaderVersion; the hub refuses others.
	ProtocolVersion = "1"
	HeaderVersion   = "X-Alertcast-Speaker-Protocol"
	// HeaderFeatures lists, comma-separated, the optional frames an agent
	// understands. The hub sends a frame of a feature only to agents that
	// named it, so agents built before it keep working (they refuse
	// unknown fields and would drop the connection).
	HeaderFeatures = "X-Alertcast-Speaker-Features"
	// FeatureBroadcast: the agent verifies broadcast commands (broadcast.go).
	FeatureBroadcast = "broadcast"

	// DefaultMaxFrame bounds a frame from an agent. Agent frames are small
	// (a heartbeat or a report is under 512 bytes).
	DefaultMaxFrame = 16 << 10
	// MaxHubFrame bounds a frame the agent accepts from the hub.
	MaxHubFrame = 64 << 10

	maxIDLen     = 128
	maxReasonLen = 512
)

// Frame types.
const (
	FrameWelcome   = "welcome"
	FrameCommand   = "command"
	FrameHBAck     = "hb_ack"
	FrameHeartbeat = "heartbeat"
	FrameReport    = "report"
)

// Command operations.
const (
	OpPlay   = "play"
	OpStop   = "stop"
	OpVolume = "volume"
	OpLive   = "live"
)

// Report steps an agent sends about one command.
const (
	StepReceived    = "received"
	StepDownloading = "downloading"
	StepPlaying     = "playing"
	StepPlayed      = "played"  // every repeat finished
	StepStopped     = "stopped" // a stop command took effect
	StepRevoked     = "revoked" // a play was cancelled or superseded before it finished
	StepExpired     = "expired" // the programme's until passed before it played
	StepRefused     = "refused" // the command failed verification or policy
	StepFailed      = "failed"  // download, hash or sink error
	StepApplied     = "applied" // volume set
	StepJoined      = "joined"  // live room joined
	StepLeft        = "left"    // live room left
)

var validSteps = map[string]bool{
	StepReceived: true, StepDownloading: true, StepPlaying: true, StepPlayed: true, StepStopped: true,
	StepRevoked: true, StepExpired: true, StepRefused: true, StepFailed: true, StepApplied: true,
	StepJoined: true, StepLeft: true,
}

// SignedCommand is one command as it travels to a device. Sig is Ed25519 by
// the platform key over SigningBytes(Device, Seq, IssuedAt, Body). Body is
// the JSON of a Command, carried as bytes (base64 in JSON) so that its exact
// signed form survives re-encoding.
type SignedCommand struct {
	Device   string `json:"device"`
	Seq      uint64 `json:"seq"`
	IssuedAt int64  `json:"issued_at"` // Unix milliseconds
	Body     []byte `json:"body"`
	Sig      []byte `json:"sig"`
}

// signingDomain separates these signatures from any other use of the key.
const signingDomain = "alertcast-speaker-command-v1\x00"

// SigningBytes is the exact message that is signed: a domain string, then
// the device id (length-prefixed), the sequence number and issued-at (both
// 8-byte big-endian) and the body. Length prefixes make the encoding
// unambiguous, so no two different commands share signing bytes.
func SigningBytes(device string, seq uint64, issuedAt int64, body []byte) []byte {
	b := make([]byte, 0, len(signingDomain)+4+len(device)+16+4+len(body))
	b = append(b, signingDomain...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(device)))
	b = append(b, device...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(issuedAt))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return b
}

// Sign builds a SignedCommand.
func Sign(key ed25519.PrivateKey, device string, seq uint64, issuedAt time.Time, body []byte) SignedCommand {
	at := issuedAt.UnixMilli()
	return SignedCommand{
		Device: device, Seq: seq, IssuedAt: at, Body: body,
		Sig: ed25519.Sign(key, SigningBytes(device, seq, at, body)),
	}
}

// Refusal reasons. They are stable strings: they appear in receipts.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrWrongDevice  = errors.New("wrong device")
	ErrStale        = errors.New("outside freshness window")
	ErrReplayed     = errors.New("sequence not increasing (replayed or out of order)")
	ErrBadBody      = errors.New("malformed command body")
)

// Verifier checks signed commands on the device. It is not safe for
// concurrent use; the agent calls it from its single read loop.
type Verifier struct {
	Key    ed25519.PublicKey
	Device string
	// Window is how far issued-at may lie from the device clock, either way.
	// It absorbs clock skew plus transit; commands held for an offline
	// device are re-signed when delivered, so it can stay short.
	Window time.Duration
	// LastSeq is the highest sequence number accepted so far. Persist it to
	// keep refusing replays across restarts.
	LastSeq uint64
	// LastBroadcast is the highest broadcast sequence number accepted so
	// far (VerifyBroadcast). Persist it like LastSeq.
	LastBroadcast uint64
}

// Verify checks sc and, when it passes, advances LastSeq and returns the
// decoded command. The checks run in an order that never lets an
// unauthenticated frame change state: signature first, then device, then
// freshness, then sequence.
func (v *Verifier) Verify(sc SignedCommand, now time.Time) (Command, error) {
	if len(v.Key) != ed25519.PublicKeySize || len(sc.Sig) != ed25519.SignatureSize ||
		!ed25519.Verify(v.Key, SigningBytes(sc.Device, sc.Seq, sc.IssuedAt, sc.Body), sc.Sig) {
		return Command{}, ErrBadSignature
	}
	if sc.Device != v.Device {
		return Command{}, fmt.Errorf("%w: command for %q", ErrWrongDevice, sc.Device)
	}
	skew := now.Sub(time.UnixMilli(sc.IssuedAt))
	if skew > v.Window || skew < -v.Window {
		return Command{}, fmt.Errorf("%w: issued %s ago (window ±%s)", ErrStale, skew.Round(time.Millisecond), v.Window)
	}
	if sc.Seq <= v.LastSeq {
		return Command{}, fmt.Errorf("%w: seq %d after %d", ErrReplayed, sc.Seq, v.LastSeq)
	}
	cmd, err := ParseCommand(sc.Body)
	if err != nil {
		// Signed by the platform yet malformed: refuse, but the sequence
		// number is spent so it cannot be replayed either.
		v.LastSeq = sc.Seq
		return Command{}, fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	v.LastSeq = sc.Seq
	return cmd, nil
}

// Command is the signed body: what the device is told to do.
type Command struct {
	Op string `json:"op"`
	// ID identifies the command for idempotency: "play:<key>", "stop:<key>",
	// "volume:<n>", "live:<room>". A device executes one ID once.
	ID string `json:"id"`

	Play   *Play      `json:"play,omitempty"`
	Stop   *Stop      `json:"stop,omitempty"`
	Volume *int       `json:"volume,omitempty"`
	Live   *LiveRoom  `json:"live,omitempty"`
	Until  *time.Time `json:"until,omitempty"` // no effect after this time
}

// Play tells the device to play a programme.
type Play struct {
	Key      string        `json:"key"`   // channels.Message.Key
	Alert    string        `json:"alert"` // channels.Message.AlertID; a later play or stop of the same alert supersedes it
	URL      string        `json:"url"`   // absolute, or relative to the platform URL
	SHA256   string        `json:"sha256"`
	Level    int           `json:"level"` // 1 blue .. 4 red
	Drill    bool          `json:"drill"`
	Repeats  int           `json:"repeats"`
	Until    time.Time     `json:"until"`
	Duration time.Duration `json:"duration,omitempty"`
}

// Stop ends every play of an alert; Then, when set, is played afterwards
// (the all-clear programme).
type Stop struct {
	Key   string `json:"key"`
	Alert string `json:"alert"`
	Then  *Play  `json:"then,omitempty"`
}

// LiveRoom is a WebRTC room the device should join for a live announcement.
type LiveRoom struct {
	ID        string    `json:"id"`
	Signaling string    `json:"signaling"` // signalling URL
	Token     string    `json:"token"`
	Level     int       `json:"level"`
	Until     time.Time `json:"until"`
}

// ParseCommand decodes and validates a command body.
func ParseCommand(b []byte) (Command, error) {
	var c Command
	if err := strictUnmarshal(b, &c); err != nil {
		return Command{}, err
	}
	if err := CheckID("id", c.ID); err != nil {
		return Command{}, err
	}
	switch c.Op {
	case OpPlay:
		if c.Play == nil {
			return Command{}, &warning.FieldError{Field: "play", Rule: "required for op play"}
		}
		if err := c.Play.Validate("play"); err != nil {
			return Command{}, err
		}
	case OpStop:
		if c.Stop == nil {
			return Command{}, &warning.FieldError{Field: "stop", Rule: "required for op stop"}
		}
		if err := CheckID("stop.alert", c.Stop.Alert); err != nil {
			return Command{}, err
		}
		if c.Stop.Then != nil {
			if err := c.Stop.Then.Validate("stop.then"); err != nil {
				return Command{}, err
			}
		}
	case OpVolume:
		if c.Volume == nil || *c.Volume < 0 || *c.Volume > 100 {
			return Command{}, &warning.FieldError{Field: "volume", Rule: "0..100 required for op volume"}
		}
	case OpLive:
		if c.Live == nil {
			return Command{}, &warning.FieldError{Field: "live", Rule: "required for op live"}
		}
		if err := CheckID("live.id", c.Live.ID); err != nil {
			return Command{}, err
		}
		if c.Live.Signaling == "" {
			return Command{}, &warning.FieldError{Field: "live.signaling", Rule: "required"}
		}
	default:
		return Command{}, &warning.FieldError{Field: "op", Rule: "one of play, stop, volume, live", Value: Trunc(c.Op)}
	}
	return c, nil
}

// Validate checks a play; errors name field as the prefix.
func (p *Play) Validate(field string) error {
	if err := CheckID(field+".key", p.Key); err != nil {
		return err
	}
	if err := CheckID(field+".alert", p.Alert); err != nil {
		return err
	}
	if p.URL == "" || len(p.URL) > 2048 {
		return &warning.FieldError{Field: field + ".url", Rule: "required, at most 2048 bytes"}
	}
	if !isHex64(p.SHA256) {
		return &warning.FieldError{Field: field + ".sha256", Rule: "64 hex digits", Value: Trunc(p.SHA256)}
	}
	if p.Level < 1 || p.Level > 4 {
		return &warning.FieldError{Field: field + ".level", Rule: "1..4", Value: strconv.Itoa(p.Level)}
	}
	if p.Repeats < 1 || p.Repeats > 20 {
		return &warning.FieldError{Field: field + ".repeats", Rule: "1..20", Value: strconv.Itoa(p.Repeats)}
	}
	if p.Until.IsZero() {
		return &warning.FieldError{Field: field + ".until", Rule: "required"}
	}
	return nil
}

// HubFrame is any frame the hub sends.
type HubFrame struct {
	Type      string         `json:"type"`
	Device    string         `json:"device,omitempty"`
	Time      time.Time      `json:"time,omitzero"`
	Freshness string         `json:"freshness,omitempty"`
	Command   *SignedCommand `json:"command,omitempty"`
	Broadcast *Broadcast     `json:"broadcast,omitempty"`
}

// ParseHubFrame decodes a frame received by an agent. It checks shape only;
// authenticity is Verifier's job.
func ParseHubFrame(b []byte) (HubFrame, error) {
	if len(b) > MaxHubFrame {
		return HubFrame{}, &warning.FieldError{Field: "frame", Rule: fmt.Sprintf("at most %d bytes", MaxHubFrame)}
	}
	var f HubFrame
	if err := strictUnmarshal(b, &f); err != nil {
		return HubFrame{}, err
	}
	switch f.Type {
	case FrameWelcome, FrameHBAck:
	case FrameCommand:
		if (f.Command == nil) == (f.Broadcast == nil) {
			return HubFrame{}, &warning.FieldError{Field: "command", Rule: "a command frame carries exactly one of command, broadcast"}
		}
	default:
		return HubFrame{}, &warning.FieldError{Field: "type", Rule: "one of welcome, command, hb_ack", Value: Trunc(f.Type)}
	}
	return f, nil
}

// AgentFrame is any frame an agent sends.
type AgentFrame struct {
	Type string `json:"type"`

	// heartbeat
	State    DeviceState `json:"state,omitempty"`
	Volume   int         `json:"volume,omitempty"`
	Firmware string      `json:"firmware,omitempty"`
	Signal   int         `json:"signal,omitempty"` // dBm (RSSI of the 4G modem), 0 = unknown
	Playing  string      `json:"playing,omitempty"`

	// report
	Seq    uint64    `json:"seq,omitempty"`
	ID     string    `json:"id,omitempty"`
	Key    string    `json:"key,omitempty"`
	Step   string    `json:"step,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// ParseAgentFrame decodes and validates a frame from a device. Every field
// is bounded: the frame comes from the field, over the internet.
func ParseAgentFrame(b []byte) (AgentFrame, error) {
	var f AgentFrame
	if err := strictUnmarshal(b, &f); err != nil {
		return AgentFrame{}, err
	}
	switch f.Type {
	case FrameHeartbeat:
		if f.State == StateUnknown {
			return AgentFrame{}, &warning.FieldError{Field: "state", Rule: "required in a heartbeat"}
		}
		if f.Volume < 0 || f.Volume > 100 {
			return AgentFrame{}, &warning.FieldError{Field: "volume", Rule: "0..100", Value: strconv.Itoa(f.Volume)}
		}
		if len(f.Firmware) > 64 || !utf8.ValidString(f.Firmware) {
			return AgentFrame{}, &warning.FieldError{Field: "firmware", Rule: "at most 64 bytes of UTF-8"}
		}
		if f.Signal < -200 || f.Signal > 0 {
			return AgentFrame{}, &warning.FieldError{Field: "signal", Rule: "-200..0 dBm", Value: strconv.Itoa(f.Signal)}
		}
		if len(f.Playing) > maxIDLen {
			return AgentFrame{}, &warning.FieldError{Field: "playing", Rule: fmt.Sprintf("at most %d bytes", maxIDLen)}
		}
	case FrameReport:
		if !validSteps[f.Step] {
			return AgentFrame{}, &warning.FieldError{Field: "step", Rule: "a known report step", Value: Trunc(f.Step)}
		}
		if len(f.ID) > maxIDLen || len(f.Key) > maxIDLen || !utf8.ValidString(f.ID) || !utf8.ValidString(f.Key) {
			return AgentFrame{}, &warning.FieldError{Field: "id", Rule: fmt.Sprintf("id and key at most %d bytes of UTF-8", maxIDLen)}
		}
		if len(f.Reason) > maxReasonLen || !utf8.ValidString(f.Reason) {
			return AgentFrame{}, &warning.FieldError{Field: "reason", Rule: fmt.Sprintf("at most %d bytes of UTF-8", maxReasonLen)}
		}
		if f.ID == "" && f.Seq == 0 {
			return AgentFrame{}, &warning.FieldError{Field: "seq", Rule: "a report names its command by id or seq"}
		}
	default:
		return AgentFrame{}, &warning.FieldError{Field: "type", Rule: "one of heartbeat, report", Value: Trunc(f.Type)}
	}
	return f, nil
}

// strictUnmarshal refuses unknown fields and trailing data, so a frame is
// read one way only.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return &warning.FieldError{Field: "frame", Rule: "valid JSON of the documented shape", Value: Trunc(err.Error())}
	}
	if d.More() {
		return &warning.FieldError{Field: "frame", Rule: "exactly one JSON object"}
	}
	return nil
}

// CheckID checks an identifier field: 1..128 bytes of UTF-8.
func CheckID(field, s string) error {
	if s == "" || len(s) > maxIDLen || !utf8.ValidString(s) {
		return &warning.FieldError{Field: field, Rule: fmt.Sprintf("1..%d bytes of UTF-8", maxIDLen), Value: Trunc(s)}
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Trunc shortens s for error messages.
func Trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// EncodePublicKey is the text form of the platform public key that goes into
// every agent's config file (base64 standard encoding of the 32 bytes).
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKey is the inverse of EncodePublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("platform public key: want base64 of %d bytes", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
