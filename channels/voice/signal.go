package voice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/warning"
)

// The protocol (frames, their types, the loopback profile) is package wire,
// shared with rtcclient; this file validates what clients send.

var (
	// identifiers: room ids, ring ids, pc names, user names in "members".
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)
	regionPattern = regexp.MustCompile(`^[0-9]{6}([0-9]{3}([0-9]{3})?)?$`)
	// maxLiveRegions bounds the extra region codes of one live frame (a
	// county has a few hundred villages; a warning names townships).
	maxLiveRegions = 300
)

// errFrame is the sentinel every frame error wraps.
var errFrame = errors.New("bad signalling frame")

func frameErr(field, rule, value string) error {
	if len(value) > 64 {
		value = value[:64] + "…"
	}
	return fmt.Errorf("%w: %w", errFrame, &warning.FieldError{Field: field, Rule: rule, Value: value})
}

// ParseFrame decodes and validates one client → server frame. The error
// names the offending field; nothing is acted on unless the whole frame is
// valid.
func ParseFrame(b []byte) (*wire.Frame, error) {
	if len(b) > wire.MaxFrameSize {
		return nil, frameErr("frame", fmt.Sprintf("at most %d bytes", wire.MaxFrameSize), fmt.Sprint(len(b)))
	}
	if !utf8.Valid(b) {
		return nil, frameErr("frame", "valid UTF-8 JSON", "")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f wire.Frame
	if err := dec.Decode(&f); err != nil {
		return nil, frameErr("frame", "a JSON object with known fields: "+trimJSONErr(err), "")
	}
	if dec.More() {
		return nil, frameErr("frame", "exactly one JSON object", "")
	}
	if f.ID != "" && !idPattern.MatchString(f.ID) {
		return nil, frameErr("id", "1-128 letters, digits or ._:@-", f.ID)
	}
	needRoom := func() error {
		if !idPattern.MatchString(f.Room) {
			return frameErr("room", "a room id (1-128 letters, digits or ._:@-)", f.Room)
		}
		return nil
	}
	needPC := func() error {
		if f.PC != wire.PCPub && f.PC != wire.PCSub {
			return frameErr("pc", `"pub" or "sub"`, f.PC)
		}
		return nil
	}
	switch f.Type {
	case wire.TypeAuth:
		if f.Token == "" || len(f.Token) > 4096 {
			return nil, frameErr("token", "present, at most 4096 bytes", "")
		}
	case wire.TypeLive:
		if !regionPattern.MatchString(f.Region) {
			return nil, frameErr("region", "a 6, 9 or 12 digit administrative code", f.Region)
		}
		if f.Level < 0 || f.Level > 4 {
			return nil, frameErr("level", "0 (default red) or 1..4", fmt.Sprint(f.Level))
		}
		if len(f.Regions) > maxLiveRegions {
			return nil, frameErr("regions", fmt.Sprintf("at most %d region codes", maxLiveRegions), fmt.Sprint(len(f.Regions)))
		}
		for i, r := range f.Regions {
			if !regionPattern.MatchString(r) {
				return nil, frameErr(fmt.Sprintf("regions[%d]", i), "a 6, 9 or 12 digit administrative code", r)
			}
		}
		if f.AlertID != "" && !idPattern.MatchString(f.AlertID) {
			return nil, frameErr("alert_id", "a warning id (letters, digits, . _ : @ -; at most 128)", f.AlertID)
		}
	case wire.TypeCall:
		if len(f.Members) == 0 || len(f.Members) > 8 {
			return nil, frameErr("members", "1 to 8 field members", fmt.Sprint(len(f.Members)))
		}
		for i, m := range f.Members {
			if !idPattern.MatchString(m) {
				return nil, frameErr(fmt.Sprintf("members[%d]", i), "a user id (1-128 letters, digits or ._:@-)", m)
			}
		}
	case wire.TypeJoin:
		if err := needRoom(); err != nil {
			return nil, err
		}
		if f.Device != "" && !idPattern.MatchString(f.Device) {
			return nil, frameErr("device", "a device id (1-128 letters, digits or ._:@-)", f.Device)
		}
	case wire.TypeOffer, wire.TypeAnswer:
		if err := needRoom(); err != nil {
			return nil, err
		}
		if err := needPC(); err != nil {
			return nil, err
		}
		// Offers only on "pub" (the client sends), answers only on "sub".
		if f.Type == wire.TypeOffer && f.PC != wire.PCPub {
			return nil, frameErr("pc", `offers are sent on "pub" only`, f.PC)
		}
		if f.Type == wire.TypeAnswer && f.PC != wire.PCSub {
			return nil, frameErr("pc", `answers are sent on "sub" only`, f.PC)
		}
		if err := checkSDP(f.SDP); err != nil {
			return nil, err
		}
	case wire.TypeCandidate:
		if err := needRoom(); err != nil {
			return nil, err
		}
		if err := needPC(); err != nil {
			return nil, err
		}
		if f.Candidate == nil {
			return nil, frameErr("candidate", "present", "")
		}
		c := f.Candidate.Candidate
		if len(c) > 1024 {
			return nil, frameErr("candidate.candidate", "at most 1024 bytes", c)
		}
		// An empty candidate is the end-of-candidates marker.
		if c != "" && !strings.HasPrefix(c, "candidate:") {
			return nil, frameErr("candidate.candidate", `an ICE candidate line starting "candidate:"`, c)
		}
	case wire.TypeLeave, wire.TypeEnd:
		if err := needRoom(); err != nil {
			return nil, err
		}
	case wire.TypeMute:
		if err := needRoom(); err != nil {
			return nil, err
		}
		if f.Muted == nil {
			return nil, frameErr("muted", "true or false", "")
		}
	case wire.TypeAck, wire.TypeDecline:
		if !idPattern.MatchString(f.Ring) {
			return nil, frameErr("ring", "a ring id", f.Ring)
		}
	case wire.TypeApprove, wire.TypeDeny:
		if !idPattern.MatchString(f.Request) {
			return nil, frameErr("request", "a live request id", f.Request)
		}
	case wire.TypePing:
	case "":
		return nil, frameErr("type", "present", "")
	default:
		return nil, frameErr("type", "one of auth, live, call, join, offer, answer, candidate, leave, end, mute, ack, decline, approve, deny, ping", f.Type)
	}
	return &f, nil
}

// checkSDP does the cheap structural checks before pion parses it fully.
func checkSDP(sdp string) error {
	if sdp == "" {
		return frameErr("sdp", "present", "")
	}
	if len(sdp) > 32<<10 {
		return frameErr("sdp", "at most 32 KB", "")
	}
	if !strings.HasPrefix(sdp, "v=0") {
		return frameErr("sdp", `a session description starting "v=0"`, sdp)
	}
	return nil
}

func trimJSONErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
