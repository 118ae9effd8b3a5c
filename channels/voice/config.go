package voice

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels"
)

// Roles returned by Config.Authenticate. Anything else is refused at the door.
const (
	RoleOfficer = "officer" // command centre: may go live, call, end rooms, listen
	RoleAdmin   = "admin"   // an officer who may also approve others' live requests
	RoleField   = "field"   // field team member: rung by the voice channel, called, may listen to live rooms
	// RoleSpeaker is never returned by Authenticate: a loudspeaker agent
	// presents the room token of a LiveRoom and is confined to that room.
	RoleSpeaker = "speaker"
)

// RoleApprover is an officer who may go live at any level alone and approve
// other officers' live requests (never their own).
const RoleApprover = "approver"

// Config configures the voice server. The zero value of every field except
// Authenticate is the documented default.
type Config struct {
	// ICEServers are handed to every peer (browser pages and agents) and used
	// by the server's own peer connections. Real deployments put a STUN/TURN
	// server here (see deploy/ for coturn); empty means host candidates only,
	// which works on one LAN or loopback.
	ICEServers []webrtc.ICEServer

	// TURN, when set, hands every client short-lived TURN credentials for a
	// coturn running with use-auth-secret (the "TURN REST" scheme), in
	// addition to ICEServers. See README.md.
	TURN *TURNConfig

	// Loopback selects the documented test/loopback profile of pion's
	// SettingEngine: loopback candidates included, interfaces filtered to
	// "lo", UDP over IPv4 only, mDNS off. Use it for tests, benchmarks and a
	// single-machine demo; never in production (no remote peer can reach a
	// loopback candidate).
	Loopback bool

	// UDPPortMin/UDPPortMax bound the ephemeral UDP ports the server's ICE
	// agents use (one socket per peer connection); zero means any port. Ignored
	// when UDPMuxAddr is set.
	UDPPortMin, UDPPortMax uint16

	// UDPMuxAddr, when set (e.g. ":3479" or "127.0.0.1:0"), makes every peer
	// connection of the server share one UDP socket bound to that address:
	// one firewall hole, one file descriptor for thousands of peers.
	UDPMuxAddr string

	// RecordDir is where live announcements and calls are recorded as Ogg/Opus
	// files (RecordDir/YYYY-MM-DD/<room>-<user>.ogg). Empty disables recording
	// (New logs a warning: the issue requires recordings in production).
	RecordDir string
	// OnRecording is called once per finished recording, so the integrator can
	// link it from the audit log. Optional.
	OnRecording func(ctx context.Context, r Recording)

	// Authenticate maps a bearer token (sent in the first "auth" frame or the
	// Authorization header) to a user and one of the roles above. Required.
	Authenticate func(ctx context.Context, token string) (user string, role string, ok bool)

	// Reporter receives voice-channel receipts (acknowledged). Nil discards.
	Reporter channels.Reporter
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registry registers the voice metrics; nil means not registered.
	Registry prometheus.Registerer

	// Endpoints lists online loudspeaker device ids (the speaker hub knows);
	// the command-centre page shows them and, when Devices is nil, a live
	// announcement for a region goes to the online devices whose id starts
	// with the region code. Optional.
	Endpoints EndpointLister
	// Devices resolves a region code to the device ids of its loudspeakers.
	// Optional; see Endpoints.
	Devices RegionDevices
	// Audio opens rendered programmes for the voice channel. Optional: without
	// it a voice call shows the text only.
	Audio AudioSource
	// Live asks loudspeaker agents to join a live room (the speaker hub
	// implements it with a signed "live" command). Optional: without it a live
	// room has only browser listeners.
	Live LiveStarter

	// SignalPath is where SignalHandler is mounted, told to agents in LiveRoom.
	// Default "/voice/ws".
	SignalPath string
	// PublicURL is the platform's base URL as agents reach it (e.g.
	// "https://alertd.example.org"). When set, LiveRoom.SignalURL is the
	// absolute WebSocket URL (wss://alertd.example.org/voice/ws).
	PublicURL string
	// RingTimeout is how long the voice channel rings an endpoint before it
	// counts as unanswered. Default 30 s.
	RingTimeout time.Duration
	// PlayRepeats is how many times an answered call plays the programme while
	// waiting for "received". Default 3.
	PlayRepeats int
	// AckTimeout bounds how long an answered call stays open waiting for the
	// acknowledgement. Default 5 min.
	AckTimeout time.Duration
	// ConnectTimeout is how long a peer connection may take to reach
	// "connected" before it is failed with a reason. Default 15 s.
	ConnectTimeout time.Duration
	// MaxRoomPeers caps the peers of one room. Default 5000.
	MaxRoomPeers int

	// MayReach, when set, says whether account user may speak to (or
	// approve speaking to) loudspeakers in regions: its scope. A live
	// announcement, an approval of one, and an officer joining a live room
	// outside it are refused with the error's message.
	MayReach func(ctx context.Context, user string, regions []string) error
	// LivePolicy decides which live announcements need a second officer
	// (see approval.go). Nil means DefaultLivePolicy(): orange, red and
	// county-wide.
	LivePolicy LivePolicy
	// ApprovalTimeout is how long a live request waits for an approver.
	// Default 2 min.
	ApprovalTimeout time.Duration
	// Audit appends a live announcement's records (request, decision, start,
	// end) to the platform's audit log. When it fails for a request, an
	// approval or a start, nothing goes on the air. Nil records nothing
	// (tests, demos).
	Audit func(ctx context.Context, e LiveAudit) error

	// Cluster, when set, joins this server to the other nodes' on the same
	// Redis: clients of any node reach rooms held by any other (see
	// cluster.go). Nil: one node alone.
	Cluster *ClusterConfig
}

// TURNConfig describes a TURN server sharing a secret with alertd.
type TURNConfig struct {
	URLs   []string      // e.g. "turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"
	Secret string        // coturn's static-auth-secret; never logged
	TTL    time.Duration // credential lifetime; default 12 h
}

// credentials returns the ICE server entry for user, valid until now+TTL:
// username "<expiry>:<user>", password base64(HMAC-SHA1(secret, username)).
func (t *TURNConfig) credentials(user string, now time.Time) webrtc.ICEServer {
	ttl := t.TTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	name := strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(t.Secret))
	mac.Write([]byte(name))
	return webrtc.ICEServer{URLs: t.URLs, Username: name, Credential: base64.StdEncoding.EncodeToString(mac.Sum(nil))}
}

// EndpointLister lists online endpoints (loudspeaker device ids).
type EndpointLister interface {
	Online(ctx context.Context) []string
}

// RegionDevices resolves a region code (6, 9 or 12 digits) to loudspeaker
// device ids.
type RegionDevices interface {
	DevicesIn(ctx context.Context, region string) ([]string, error)
}

// AudioSource opens a rendered programme as 8 kHz µ-law (PCMU) bytes. The
// audio engineer serves GET /audio/{sha}.pcmu; see HTTPAudio.
type AudioSource interface {
	OpenPCMU(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// LiveStarter makes loudspeaker agents join a live room.
type LiveStarter interface {
	Live(ctx context.Context, deviceIDs []string, room LiveRoom) error
}

// LiveRoom is what an agent needs to join a live announcement: the room id,
// a token that admits a subscriber to this room only (until it ends), and
// where the signalling endpoint is (relative to the platform URL).
type LiveRoom struct {
	ID         string    `json:"id"`
	Token      string    `json:"token"`
	Region     string    `json:"region"`
	SignalPath string    `json:"signal_path"`
	SignalURL  string    `json:"signal_url,omitempty"` // absolute ws(s) URL when Config.PublicURL is set
	Publisher  string    `json:"publisher"`
	Started    time.Time `json:"started"`
	// Level lets the agent apply priority: a live announcement ranks as this
	// warning level (1..4); the command centre chooses it, default 4 (red).
	Level int `json:"level"`
}

// Recording is one finished Ogg/Opus recording of a publisher in a room.
type Recording struct {
	Room    string
	Kind    string // "live" or "call"
	User    string
	Path    string
	Started time.Time
	Ended   time.Time
	Packets int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Reporter == nil {
		c.Reporter = channels.Discard
	}
	if c.SignalPath == "" {
		c.SignalPath = "/voice/ws"
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = 30 * time.Second
	}
	if c.PlayRepeats <= 0 {
		c.PlayRepeats = 3
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 5 * time.Minute
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.MaxRoomPeers <= 0 {
		c.MaxRoomPeers = 5000
	}
	if c.LivePolicy == nil {
		c.LivePolicy = DefaultLivePolicy()
	}
	if c.ApprovalTimeout <= 0 {
		c.ApprovalTimeout = 2 * time.Minute
	}
}
