package websocket

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Config configures a Hub. The zero value of every optional field means the
// documented default.
type Config struct {
	// Redis carries warnings between nodes (a bounded stream that is also the
	// resume history), the active warnings (so a node started later knows
	// them) and console progress events (pub/sub). Required.
	Redis redis.UniversalClient
	// Regions says which region codes exist, which subscriptions a
	// warning's area covers, and what the resident page lists
	// (targeting.DefaultTree().Scopes() for Shule County). Required.
	Regions Regions
	// Authenticate checks a console's API token (Authorization: Bearer).
	// ok false refuses the connection. Nil means no console can log in;
	// public subscriptions still work.
	Authenticate func(ctx context.Context, token string) (role string, ok bool)
	// RedeemTicket consumes a one-use ticket given as the "ticket" query
	// parameter (browsers cannot set headers on a WebSocket; a ticket in a
	// URL is worthless once used or after seconds, a session token is not).
	// Nil refuses tickets.
	RedeemTicket func(ctx context.Context, ticket string) (role string, ok bool)
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that may
	// connect besides the server's own host. "*" allows any origin.
	AllowedOrigins []string
	// HistoryLen bounds the Redis stream of events clients can resume from.
	// Default 1000.
	HistoryLen int
	// SendQueue is the per-connection queue of frames waiting to be written.
	// A client whose queue overflows is disconnected with close code 4001 and
	// resumes from its last id. Default 32.
	SendQueue int
	// MaxConnsPerIP caps concurrent connections (WebSocket + SSE) from one
	// client address. Mobile carriers put many residents behind one address
	// (CGNAT), so the default is generous: 256; negative means no cap.
	MaxConnsPerIP int
	// PublicRate limits new unauthenticated connections per client address
	// (per second, with PublicBurst). Default 10/s, burst 100; negative
	// means no limit.
	PublicRate  rate.Limit
	PublicBurst int
	// ClientIPHeader names a header set by a trusted reverse proxy that
	// carries the client address ("X-Real-IP", or "X-Forwarded-For", whose
	// last entry is used). Empty: the TCP peer address. Only set it when
	// every request comes through that proxy, or clients can forge it.
	ClientIPHeader string
	// LiftedFor is how long a cancelled or lifted warning stays on resident
	// pages as a notice ("解除…", with the reason) after it ended, so that a
	// resident who looks later learns it is over and why instead of seeing
	// it silently gone. Default 24 h; negative: removed at once.
	LiftedFor time.Duration
	// VillageLanguage returns the language most residents of a village read
	// ("zh" or "ug", "" unknown): the resident page's first language when
	// the browser's Accept-Language names neither. Nil: Mandarin.
	VillageLanguage func(village string) string
	// Guidance returns a village's guidance under one warning version (its
	// shelter or direction, and the shelter's occupancy) for the resident
	// page's GET /r/{village}/guidance. Nil: pages show no guidance.
	Guidance func(ctx context.Context, alertID string, version int, village string) (VillageGuidance, error)
	// MaxRegions bounds the regions of one subscription. Default 16.
	MaxRegions int
	// MaxFrame bounds a client frame in bytes. Default 4096.
	MaxFrame int64
	// PingInterval is how often idle connections are pinged; a connection
	// that sends nothing (not even a pong) for 2×PingInterval+WriteTimeout is
	// closed. Default 30 s.
	PingInterval time.Duration
	// WriteTimeout bounds one frame write. Default 10 s.
	WriteTimeout time.Duration
	// KeyPrefix prefixes every Redis key; it contains a hash tag so the
	// stream and the active set share a cluster slot. Default "{alertcast:ws}".
	KeyPrefix string
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Registry receives the hub's metrics. Nil registers nothing.
	Registry prometheus.Registerer
}

// DefaultLiftedFor is Config.LiftedFor's default.
const DefaultLiftedFor = 24 * time.Hour

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Redis == nil {
		return cfg, fmt.Errorf("websocket: Config.Redis is required")
	}
	if cfg.Regions == nil {
		return cfg, fmt.Errorf("websocket: Config.Regions is required")
	}
	if cfg.HistoryLen <= 0 {
		cfg.HistoryLen = 1000
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 32
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 256
	}
	if cfg.PublicRate == 0 {
		cfg.PublicRate = 10
	}
	if cfg.PublicBurst <= 0 {
		cfg.PublicBurst = 100
	}
	if cfg.LiftedFor == 0 {
		cfg.LiftedFor = DefaultLiftedFor
	}
	if cfg.MaxRegions <= 0 {
		cfg.MaxRegions = 16
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = 4096
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "{alertcast:ws}"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
