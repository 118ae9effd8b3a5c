package alertd

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/warning"
)

// SpeakersConfig is the "speakers:" section.
type SpeakersConfig struct {
	Enabled          *bool         `yaml:"enabled"`           // default true
	KeyFile          string        `yaml:"key_file"`          // Ed25519 platform key; default DATA_DIR/speaker-ed25519.key
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"` // default: the hub's (documented there)
	FreshnessWindow  time.Duration `yaml:"freshness_window"`  // default: the hub's
}

// WebSocketConfig is the "websocket:" section.
type WebSocketConfig struct {
	Enabled        *bool    `yaml:"enabled"`          // default true
	AllowedOrigins []string `yaml:"allowed_origins"`  // besides the server's own host
	HistoryLen     int      `yaml:"history_len"`      // default 1000
	MaxConnsPerIP  int      `yaml:"max_conns_per_ip"` // default 256 (carriers put many phones behind one address); negative: no cap
	ClientIPHeader string   `yaml:"client_ip_header"` // behind a trusted proxy: e.g. X-Forwarded-For
	// LiftedFor: how long resident pages show a lifted or cancelled warning
	// as a notice with its reason. Default 24h; negative: removed at once.
	LiftedFor time.Duration `yaml:"lifted_for"`
}

// VoiceConfig is the "voice:" section.
type VoiceConfig struct {
	Enabled    *bool `yaml:"enabled"` // default true
	ICEServers []struct {
		URLs       []string `yaml:"urls"`
		Username   string   `yaml:"username"`
		Credential string   `yaml:"credential"`
	} `yaml:"ice_servers"`
	// Loopback is the documented profile for tests and single-host demos:
	// loopback candidates on, interface filter lo, UDP4 only, mDNS off.
	Loopback   bool   `yaml:"loopback"`
	UDPPortMin uint16 `yaml:"udp_port_min"`
	UDPPortMax uint16 `yaml:"udp_port_max"`

	VoiceLiveConfig `yaml:",inline"` // two-person rule and recording, voice_live.go
}

// AudioConfig is the "audio:" section.
type AudioConfig struct {
	Espeak        string `yaml:"espeak"`   // espeak-ng binary; default "espeak-ng" on PATH; "off" for tone-only
	Speed         int    `yaml:"speed"`    // words per minute; default 140
	Repeats       int    `yaml:"repeats"`  // programme repeats; default 2
	EspeakVoiceZh string `yaml:"voice_zh"` // default cmn-latn-pinyin
	EspeakVoiceUg string `yaml:"voice_ug"` // default ug
}

func on(b *bool) bool { return b == nil || *b }

// validateSections checks the channel sections, every problem named by its
// key path: what a channel would refuse at start-up, or worse, at the
// first warning, is refused by Load.
func (c *Config) validateSections() []error {
	var errs []error
	// Without gateways SMS goes to the outbox, rendered with the same
	// settings: those are checked either way.
	if len(c.SMS.Gateways) > 0 {
		errs = append(errs, c.SMS.Validate())
	} else {
		errs = append(errs, c.SMS.ValidateSettings())
	}
	errs = append(errs, c.Speakers.validate(), c.Web.validate(), c.Voice.validate(), c.Audio.validate())
	return errs
}

func (c SpeakersConfig) validate() error {
	var errs []error
	if c.HeartbeatTimeout < 0 {
		errs = append(errs, &warning.FieldError{Field: "speakers.heartbeat_timeout", Rule: "0 (the hub's default, 90s) or positive", Value: c.HeartbeatTimeout.String()})
	}
	if c.FreshnessWindow < 0 {
		errs = append(errs, &warning.FieldError{Field: "speakers.freshness_window", Rule: "0 (the hub's default, 2m) or positive", Value: c.FreshnessWindow.String()})
	}
	return errors.Join(errs...)
}

func (c WebSocketConfig) validate() error {
	var errs []error
	for i, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			errs = append(errs, &warning.FieldError{Field: fmt.Sprintf("websocket.allowed_origins[%d]", i),
				Rule: `"*" or an origin scheme://host[:port], like https://alert.example.cn`, Value: o})
		}
	}
	if c.HistoryLen < 0 {
		errs = append(errs, &warning.FieldError{Field: "websocket.history_len", Rule: "0 (default 1000) or positive", Value: fmt.Sprint(c.HistoryLen)})
	}
	if h := c.ClientIPHeader; h != "" && !isHeaderName(h) {
		errs = append(errs, &warning.FieldError{Field: "websocket.client_ip_header", Rule: "an HTTP header name, like X-Real-IP", Value: h})
	}
	return errors.Join(errs...)
}

func isHeaderName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return s != ""
}

func (c VoiceConfig) validate() error {
	var errs []error
	for i, ice := range c.ICEServers {
		field := fmt.Sprintf("voice.ice_servers[%d]", i)
		if len(ice.URLs) == 0 {
			errs = append(errs, &warning.FieldError{Field: field + ".urls", Rule: "at least one stun: or turn: URL"})
		}
		turn := false
		for j, u := range ice.URLs {
			scheme, rest, _ := strings.Cut(u, ":")
			switch scheme {
			case "turn", "turns":
				turn = true
			case "stun", "stuns":
			default:
				rest = ""
			}
			if rest == "" {
				errs = append(errs, &warning.FieldError{Field: fmt.Sprintf("%s.urls[%d]", field, j),
					Rule: "stun:, stuns:, turn: or turns: followed by host[:port], like turn:turn.example.org:3478", Value: u})
			}
		}
		if turn && (ice.Username == "" || ice.Credential == "") {
			errs = append(errs, &warning.FieldError{Field: field, Rule: "a TURN server needs username and credential"})
		}
	}
	if c.UDPPortMax != 0 && c.UDPPortMin > c.UDPPortMax {
		errs = append(errs, &warning.FieldError{Field: "voice.udp_port_min", Rule: fmt.Sprintf("not above udp_port_max (%d)", c.UDPPortMax), Value: fmt.Sprint(c.UDPPortMin)})
	}
	if c.UDPPortMax == 0 && c.UDPPortMin != 0 {
		errs = append(errs, &warning.FieldError{Field: "voice.udp_port_max", Rule: "set with udp_port_min (both 0: any port)"})
	}
	if _, err := c.livePolicy(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c AudioConfig) validate() error {
	var errs []error
	if c.Speed != 0 && (c.Speed < 80 || c.Speed > 450) {
		errs = append(errs, &warning.FieldError{Field: "audio.speed", Rule: "0 (default 140) or 80..450 words per minute", Value: fmt.Sprint(c.Speed)})
	}
	if c.Repeats < 0 || c.Repeats > audio.MaxRepeats {
		errs = append(errs, &warning.FieldError{Field: "audio.repeats", Rule: fmt.Sprintf("0 (default %d) or 1..%d", audio.DefaultRepeats, audio.MaxRepeats), Value: fmt.Sprint(c.Repeats)})
	}
	return errors.Join(errs...)
}
