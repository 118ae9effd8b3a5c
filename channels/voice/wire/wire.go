// Package wire is the signalling protocol of the Alertcast voice server:
// the JSON frames exchanged over the WebSocket, their type names and the
// documented loopback profile. It is shared by the server (package voice)
// and the pure-Go client (rtcclient) so that a loudspeaker agent links pion
// and nothing of the server (no Prometheus, no storage).
package wire

import (
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/channels"
)

// MaxFrameSize is the largest signalling frame accepted (an SDP with many
// candidates is a few KB).
const MaxFrameSize = 64 << 10

// Frame types. Client → server: auth, live, call, join, offer, answer,
// candidate, leave, end, mute, ack, decline, ping, approve, deny. Server →
// client: hello, room, offer, answer, candidate, members, room_ended, ring,
// ring_over, incoming_call, peer_state, online, error, pong, live_request.
const (
	TypeAuth      = "auth"
	TypeLive      = "live"
	TypeCall      = "call"
	TypeJoin      = "join"
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
	TypeLeave     = "leave"
	TypeEnd       = "end"
	TypeMute      = "mute"
	TypeAck       = "ack"
	TypeDecline   = "decline"
	TypePing      = "ping"
	// An approver's decision on a pending live request (two-person rule).
	TypeApprove = "approve"
	TypeDeny    = "deny"

	TypeHello        = "hello"
	TypeRoom         = "room"
	TypeMembers      = "members"
	TypeRoomEnded    = "room_ended"
	TypeRing         = "ring"
	TypeRingOver     = "ring_over"
	TypeIncomingCall = "incoming_call"
	TypePeerState    = "peer_state"
	TypeOnline       = "online"
	TypeError        = "error"
	TypePong         = "pong"
	// TypeLiveRequest tells the requester and the approvers where a live
	// announcement waiting for a second officer stands (State: LiveState…).
	TypeLiveRequest = "live_request"
)

// States of a live request (Frame.State of a live_request frame).
const (
	LivePending   = "pending"   // waiting for an approver
	LiveApproved  = "approved"  // approved: the room follows ("room" frame)
	LiveDenied    = "denied"    // an approver said no
	LiveExpired   = "expired"   // nobody decided in time
	LiveCancelled = "cancelled" // the requester withdrew or went away
	LiveFailed    = "failed"    // approved, but the room could not be opened
)

// Peer-connection names: a participant publishes on "pub" (it offers) and
// receives on "sub" (the server offers). Two connections per participant
// keep renegotiation one-directional, so offers never collide.
const (
	PCPub = "pub"
	PCSub = "sub"
)

// Frame is one signalling message, in both directions. Only the fields of
// its Type are set.
type Frame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"` // echoed in replies and errors

	Token     string                   `json:"token,omitempty"`
	Room      string                   `json:"room,omitempty"`
	PC        string                   `json:"pc,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Region    string                   `json:"region,omitempty"`
	Level     int                      `json:"level,omitempty"`
	Members   []string                 `json:"members,omitempty"`
	Muted     *bool                    `json:"muted,omitempty"`
	Ring      string                   `json:"ring,omitempty"`
	Device    string                   `json:"device,omitempty"`
	Request   string                   `json:"request,omitempty"` // approve, deny, live_request: the live request id
	// live, live_request: more region codes besides Region (a warning's
	// whole area), and the warning the announcement belongs to (audited).
	Regions []string `json:"regions,omitempty"`
	AlertID string   `json:"alert_id,omitempty"`

	// server → client
	User       string             `json:"user,omitempty"`
	Role       string             `json:"role,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	From       string             `json:"from,omitempty"`
	Reason     string             `json:"reason,omitempty"`
	State      string             `json:"state,omitempty"`
	Code       string             `json:"code,omitempty"`
	Message    string             `json:"message,omitempty"`
	Field      string             `json:"field,omitempty"`
	ICEServers []webrtc.ICEServer `json:"ice_servers,omitempty"`
	Peers      []MemberInfo       `json:"peers,omitempty"`
	Speakers   int                `json:"speakers,omitempty"`
	Devices    []string           `json:"devices,omitempty"`
	Endpoints  []string           `json:"endpoints,omitempty"`
	Alert      *RingInfo          `json:"alert,omitempty"`
	By         string             `json:"by,omitempty"`         // live_request: who approved, denied or cancelled
	ExpiresIn  int                `json:"expires_in,omitempty"` // live_request (pending): seconds left to decide
}

// MemberInfo describes one participant of a room, for the pages.
type MemberInfo struct {
	User       string `json:"user"`
	Role       string `json:"role"`
	Device     string `json:"device,omitempty"`
	Publishing bool   `json:"publishing"`
	Muted      bool   `json:"muted"`
	State      string `json:"state"` // peer connection state of its main connection
}

// RingInfo is what the field page shows while ringing.
type RingInfo struct {
	Key       string        `json:"key"`
	Level     int           `json:"level"`
	LevelName string        `json:"level_name"`
	EventName string        `json:"event_name"`
	Drill     bool          `json:"drill"`
	Text      channels.Text `json:"text"`  // in the endpoint's language
	Audio     bool          `json:"audio"` // a programme will play once answered
}

// Room kinds.
const (
	KindLive = "live"
	KindCall = "call"
	KindRing = "ring"
)

// LoopbackSettings applies the loopback profile to se: loopback candidates
// included, interfaces filtered to "lo", UDP over IPv4 only, mDNS off. For
// tests, benchmarks and single-machine demos; never in production (no remote
// peer can reach a loopback candidate).
func LoopbackSettings(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
}
