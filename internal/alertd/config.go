// Package alertd wires the Alertcast server process: configuration, the
// embedded or external Redis, the store, the dispatch engine, the channels
// and the HTTP server. cmd/alertd only parses flags and calls Run.
package alertd

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/api"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/warning"
)

// Roles a process can take.
var AllRoles = []string{"api", "worker", "scheduler"}

// Config is the whole process configuration. Precedence: flag > ALERTCAST_*
// environment variable > YAML file > default. Every default is documented in
// deploy/alertcast.yaml.
type Config struct {
	Listen    string   `yaml:"listen"`     // default 127.0.0.1:8080
	DataDir   string   `yaml:"data_dir"`   // default ./alertcast-data
	Redis     string   `yaml:"redis"`      // redis:// URL; empty = managed redis-server or in-process
	RedisCA   string   `yaml:"redis_ca"`   // PEM CA file for a rediss:// server with a private certificate
	DB        string   `yaml:"db"`         // postgres:// URL or sqlite path; empty = SQLite in data dir
	Roles     []string `yaml:"roles"`      // api, worker, scheduler; default all
	PublicURL string   `yaml:"public_url"` // how devices reach this node; default http://LISTEN
	LogLevel  string   `yaml:"log_level"`  // debug, info, warn, error; default info
	LogFormat string   `yaml:"log_format"` // text or json; default text

	Workers   int `yaml:"workers"`    // concurrent tasks per worker process; default 20
	BatchSize int `yaml:"batch_size"` // recipients per send task; default 1000
	SendChunk int `yaml:"send_chunk"` // recipients per channel call inside a task; results recorded after each; default 200
	// SMSInterrupted: what the node resuming a dead node's SMS batch does
	// with the recipients that node had handed to the gateway without
	// recording the result: "at-most-once" (default: recorded failed,
	// "interrupted", never sent again) or "at-least-once" (sent again).
	SMSInterrupted string `yaml:"sms_interrupted"`

	Policy PolicyConfig `yaml:"policy"`

	// Console sessions and logins (dispatch/accounts.go).
	SessionLifetime    time.Duration   `yaml:"session_lifetime"`     // default 12h
	SessionIdleTimeout time.Duration   `yaml:"session_idle_timeout"` // default 0: no idle limit
	Login              api.LoginLimits `yaml:"login"`                // throttle and hashing bounds; defaults in LoginLimits
	Regions            []string        `yaml:"regions"`              // extra region CSV files (other counties)
	// TownshipBoundaries is a GeoJSON file of real township boundaries for
	// the console map; empty: approximate ones from village locations.
	TownshipBoundaries string `yaml:"township_boundaries"`
	// CAP import: rules per sender/event/level (auto issue or review) and
	// upstream feeds to poll.
	CAP CAPConfig `yaml:"cap"`
	// Outbox lists channels forced to the outbox even when configured
	// (dry runs, tests): speaker, sms, websocket, voice.
	Outbox []string `yaml:"outbox"`
	// Progress: how delivery progress is told.
	Progress ProgressConfig `yaml:"progress"`

	// Channel sections (config_sections.go), decoded and checked by Load
	// like every other setting.
	SMS      sms.Config      `yaml:"sms"`
	Speakers SpeakersConfig  `yaml:"speakers"`
	Web      WebSocketConfig `yaml:"websocket"`
	Voice    VoiceConfig     `yaml:"voice"`
	Audio    AudioConfig     `yaml:"audio"`

	// Audit chain key: a file shared by every node (ALERTCAST_AUDIT_KEY_FILE);
	// default DATA_DIR/audit.key, created at the first start. How often the
	// whole chain is re-verified (ALERTCAST_AUDIT_VERIFY_INTERVAL); default 5m.
	AuditKeyFile        string        `yaml:"audit_key_file"`
	AuditVerifyInterval time.Duration `yaml:"audit_verify_interval"`
	// Transport: HTTPS, proxies, rate limits, /metrics (config_transport.go).
	Transport `yaml:",inline"`

	// Process settings only from the environment.
	AdminToken string `yaml:"-"` // ALERTCAST_ADMIN_TOKEN
	ConfigFile string `yaml:"-"`
}

// CAPConfig is the "cap:" section.
type CAPConfig struct {
	Rules    []lifecycle.CAPRule `yaml:"rules"`
	Poll     []string            `yaml:"poll"`     // CAP/Atom feed URLs
	Interval time.Duration       `yaml:"interval"` // default 1m
	// PollScope is where polled CAP may reach (the poller's scope, like an
	// officer's: "*", a prefecture "6531", county codes "653122,653121").
	// Default "*": the whole tree. A polled warning outside it is refused.
	PollScope string `yaml:"poll_scope"`
}

// pollScope is the CAP poller's scope (the whole tree by default).
func (c CAPConfig) pollScope() (dispatch.Scope, error) {
	if c.PollScope == "" {
		return dispatch.Scope{dispatch.ScopeAll}, nil
	}
	sc, err := dispatch.ParseScope(c.PollScope, nil)
	if err != nil {
		return nil, fmt.Errorf("cap.poll_scope: %w", err)
	}
	return sc, nil
}

// ProgressConfig is the "progress:" section.
type ProgressConfig struct {
	// SMSUnconfirmedAfter: an SMS handed to a gateway without a delivery
	// report after this long shows as "unconfirmed", never as delivered.
	// Default 10m.
	SMSUnconfirmedAfter time.Duration `yaml:"sms_unconfirmed_after"`
}

// PolicyConfig is the approval policy in YAML.
type PolicyConfig struct {
	ApprovalLevels []string `yaml:"approval_levels"` // default [orange, red]
	ApproveDrills  bool     `yaml:"approve_drills"`  // default false
	// ReasonRequiredLevels: approving a warning at these levels needs a
	// reason. Default [red]; [] requires none.
	ReasonRequiredLevels []string `yaml:"reason_required_levels"`
}

// Policy converts the YAML policy.
func (p PolicyConfig) Policy() (dispatch.Policy, error) {
	pol := dispatch.DefaultPolicy()
	pol.ApproveDrills = p.ApproveDrills
	if p.ApprovalLevels != nil {
		pol.ApprovalLevels = nil
		for i, s := range p.ApprovalLevels {
			l, err := warning.ParseLevel(s)
			if err != nil {
				return pol, fmt.Errorf("policy.approval_levels[%d]: %w", i, err)
			}
			pol.ApprovalLevels = append(pol.ApprovalLevels, l)
		}
	}
	if p.ReasonRequiredLevels != nil {
		pol.ReasonRequiredLevels = []warning.Level{}
		for i, s := range p.ReasonRequiredLevels {
			l, err := warning.ParseLevel(s)
			if err != nil {
				return pol, fmt.Errorf("policy.reason_required_levels[%d]: %w", i, err)
			}
			pol.ReasonRequiredLevels = append(pol.ReasonRequiredLevels, l)
		}
	}
	return pol, nil
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{Listen: "127.0.0.1:8080", DataDir: "alertcast-data", Roles: AllRoles, LogLevel: "info", LogFormat: "text", Workers: 20, BatchSize: 1000,
		SMSInterrupted: engine.AtMostOnce.String(),
		Progress:       ProgressConfig{SMSUnconfirmedAfter: dispatch.DefaultSMSUnconfirmedAfter}}
}

// Has reports whether the process runs role.
func (c *Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

// Validate checks the configuration, naming the setting at fault.
func (c *Config) Validate() error {
	var errs []error
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			errs = append(errs, fmt.Errorf("roles: unknown role %q (want api, worker, scheduler)", r))
		}
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("roles: at least one role is required"))
	}
	if c.Workers < 1 || c.Workers > 1000 {
		errs = append(errs, fmt.Errorf("workers: must be 1..1000, got %d", c.Workers))
	}
	if c.SendChunk < 0 || c.SendChunk > c.BatchSize {
		errs = append(errs, fmt.Errorf("send_chunk: must be 0 (default 200) .. batch_size, got %d", c.SendChunk))
	}
	if _, err := engine.ParseInterrupted(c.SMSInterrupted); err != nil {
		errs = append(errs, fmt.Errorf("sms_interrupted: must be at-most-once or at-least-once, got %q", c.SMSInterrupted))
	}
	if c.Progress.SMSUnconfirmedAfter < time.Second {
		errs = append(errs, fmt.Errorf("progress.sms_unconfirmed_after: must be at least 1s, got %s", c.Progress.SMSUnconfirmedAfter))
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		errs = append(errs, fmt.Errorf("batch_size: must be 1..100000, got %d", c.BatchSize))
	}
	if c.Redis != "" {
		if _, err := parseRedisURL(c.Redis, c.RedisCA); err != nil {
			errs = append(errs, err)
		}
	} else if c.RedisCA != "" {
		errs = append(errs, errors.New("redis_ca: set, but there is no rediss:// URL to use it with"))
	}
	for _, o := range c.Outbox {
		if !slices.Contains(dispatch.ChannelNames, o) {
			errs = append(errs, fmt.Errorf("outbox: unknown channel %q (want speaker, sms, websocket, voice)", o))
		}
	}
	if _, err := c.CAP.pollScope(); err != nil {
		errs = append(errs, err)
	}
	for i, r := range c.CAP.Rules {
		if r.Mode != "auto" && r.Mode != "review" {
			errs = append(errs, fmt.Errorf("cap.rules[%d].mode: must be auto or review, got %q", i, r.Mode))
		}
		if _, err := r.Certificate(); err != nil {
			errs = append(errs, fmt.Errorf("cap.rules[%d].cert: %v", i, err))
		}
		for j, ch := range r.Channels {
			if !slices.Contains(dispatch.ChannelNames, ch) {
				errs = append(errs, fmt.Errorf("cap.rules[%d].channels[%d]: unknown channel %q", i, j, ch))
			}
		}
	}
	if c.SessionLifetime != 0 && (c.SessionLifetime < time.Minute || c.SessionLifetime > 30*24*time.Hour) {
		errs = append(errs, fmt.Errorf("session_lifetime: must be 1m..720h (default 12h), got %s", c.SessionLifetime))
	}
	if c.SessionIdleTimeout < 0 || (c.SessionIdleTimeout > 0 && c.SessionIdleTimeout < time.Minute) {
		errs = append(errs, fmt.Errorf("session_idle_timeout: must be 0 (none) or at least 1m, got %s", c.SessionIdleTimeout))
	}
	if err := c.Login.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("login.%w", err))
	}
	if _, err := c.Policy.Policy(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Transport.validate())
	errs = append(errs, c.validateSections()...)
	return errors.Join(errs...)
}

// Load builds the configuration from args and the environment, and checks
// all of it: the error names every problem found (errors.Join), each by its
// key path, not only the first.
func Load(args []string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	fs := flag.NewFlagSet("alertd", flag.ContinueOnError)
	var (
		fListen  = fs.String("listen", "", "address to listen on (ALERTCAST_LISTEN; default 127.0.0.1:8080)")
		fData    = fs.String("data-dir", "", "data directory (ALERTCAST_DATA_DIR; default ./alertcast-data)")
		fRedis   = fs.String("redis", "", "Redis URL redis://[user:password@]host:port/db or rediss://… (ALERTCAST_REDIS_URL; default: managed redis-server, else in-process)")
		fRedisCA = fs.String("redis-ca", "", "PEM CA file for a rediss:// server with a private certificate (ALERTCAST_REDIS_CA)")
		fDB      = fs.String("db", "", "database: postgres://… or SQLite path (ALERTCAST_DB; default SQLite in the data dir)")
		fConfig  = fs.String("config", "", "YAML configuration file (ALERTCAST_CONFIG)")
		fRoles   = fs.String("roles", "", "comma-separated roles: api,worker,scheduler (ALERTCAST_ROLES; default all)")
		fPublic  = fs.String("public-url", "", "base URL devices and pages use to reach this node (ALERTCAST_PUBLIC_URL)")
		fWorkers = fs.Int("workers", 0, "concurrent tasks per worker (ALERTCAST_WORKERS; default 20)")
		fLog     = fs.String("log-level", "", "debug, info, warn, error (ALERTCAST_LOG_LEVEL)")
		fTLSCert = fs.String("tls-cert", "", "PEM certificate chain: serve HTTPS (ALERTCAST_TLS_CERT; reloaded on SIGHUP)")
		fTLSKey  = fs.String("tls-key", "", "PEM private key for --tls-cert (ALERTCAST_TLS_KEY)")
	)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	pick := func(flagV, env string) string {
		if flagV != "" {
			return flagV
		}
		return getenv(env)
	}
	cfg.ConfigFile = pick(*fConfig, "ALERTCAST_CONFIG")
	var errs []error // every problem, reported together
	if cfg.ConfigFile != "" {
		b, err := os.ReadFile(cfg.ConfigFile)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		errs = append(errs, decodeYAML(b, &cfg, cfg.ConfigFile)...)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Listen, pick(*fListen, "ALERTCAST_LISTEN"))
	set(&cfg.DataDir, pick(*fData, "ALERTCAST_DATA_DIR"))
	set(&cfg.Redis, pick(*fRedis, "ALERTCAST_REDIS_URL"))
	set(&cfg.RedisCA, pick(*fRedisCA, "ALERTCAST_REDIS_CA"))
	set(&cfg.DB, pick(*fDB, "ALERTCAST_DB"))
	set(&cfg.PublicURL, pick(*fPublic, "ALERTCAST_PUBLIC_URL"))
	set(&cfg.LogLevel, pick(*fLog, "ALERTCAST_LOG_LEVEL"))
	set(&cfg.LogFormat, getenv("ALERTCAST_LOG_FORMAT"))
	if roles := pick(*fRoles, "ALERTCAST_ROLES"); roles != "" {
		cfg.Roles = strings.Split(roles, ",")
		for i := range cfg.Roles {
			cfg.Roles[i] = strings.TrimSpace(cfg.Roles[i])
		}
	}
	if *fWorkers > 0 {
		cfg.Workers = *fWorkers
	} else if v := getenv("ALERTCAST_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ALERTCAST_WORKERS: not a number: %q", v))
		} else {
			cfg.Workers = n
		}
	}
	if v := getenv("ALERTCAST_BATCH_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ALERTCAST_BATCH_SIZE: not a number: %q", v))
		} else {
			cfg.BatchSize = n
		}
	}
	set(&cfg.AuditKeyFile, getenv("ALERTCAST_AUDIT_KEY_FILE"))
	if v := getenv("ALERTCAST_AUDIT_VERIFY_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("ALERTCAST_AUDIT_VERIFY_INTERVAL: not a positive duration like 5m: %q", v))
		} else {
			cfg.AuditVerifyInterval = d
		}
	}
	cfg.AdminToken = getenv("ALERTCAST_ADMIN_TOKEN")
	cfg.Transport.fromEnv(*fTLSCert, *fTLSKey, getenv)
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Listen
		if cfg.TLSCert != "" {
			cfg.PublicURL = "https://" + cfg.Listen
		}
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return cfg, errors.Join(append(errs, cfg.Validate())...)
}

// shutdownGrace is how long in-flight work may take at shutdown.
const shutdownGrace = 20 * time.Second
