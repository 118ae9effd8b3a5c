package sms

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// Documented defaults: a zero Config or GatewayConfig field means these.
const (
	DefaultSignature       = "【疏勒县应急管理局】"
	DefaultMaxParts        = 5
	DefaultLanguage        = "zh"
	DefaultBinds           = 1
	DefaultWindow          = 10
	DefaultWeight          = 1
	DefaultEnquireLink     = 30 * time.Second
	DefaultResponseTimeout = 10 * time.Second
	DefaultHTTPWorkers     = 8
	DefaultAttempts        = 5 // throttled submits retried inside one Send before giving up transiently
)

// DefaultDrillMarker marks exercises and tests in each language.
var DefaultDrillMarker = map[string]string{"zh": wording.Marker("exercise", "zh"), "ug": wording.Marker("exercise", "ug")}

// Config is the SMS channel's section of the YAML file.
type Config struct {
	// Signature is the sender signature Chinese carriers require at the start
	// of every SMS. Default DefaultSignature.
	Signature string `yaml:"signature"`
	// MaxParts caps the concatenated parts of one SMS; over it the
	// description is shortened first. Default DefaultMaxParts.
	MaxParts int `yaml:"max_parts"`
	// DrillMarker is put after the signature of every drill/test message,
	// per language. Missing languages take DefaultDrillMarker.
	DrillMarker map[string]string `yaml:"drill_marker"`
	// DefaultLanguage is used for recipients without a language or whose
	// language the message has no text in. Default "zh".
	DefaultLanguage string `yaml:"default_language"`
	// Attempts bounds how often a throttled (ESME_RTHROTTLED/RMSGQFUL) submit
	// is retried inside one Send before it is returned as a transient
	// failure. Default DefaultAttempts.
	Attempts int `yaml:"attempts"`
	// Gateways, tried by Priority (lower first); within a priority traffic
	// is split by Weight.
	Gateways []GatewayConfig `yaml:"gateways"`

	// Refs, when set, matches receipts the channel cannot match from
	// memory (those arriving after a restart) to the recorded Result.Refs.
	// Not from YAML: alertd wires it to the delivery store.
	Refs RefLookup `yaml:"-"`
}

// GatewayConfig is one SMSC or HTTP SMS gateway.
type GatewayConfig struct {
	Name string `yaml:"name"`
	// Type is "smpp", "kannel" or "webhook".
	Type string `yaml:"type"`

	// SMPP: Addr host:port, credentials and the source address (the
	// service number, e.g. "12379").
	Addr       string `yaml:"addr"`
	SystemID   string `yaml:"system_id"`
	Password   string `yaml:"password"`
	SystemType string `yaml:"system_type"`
	SourceAddr string `yaml:"source_addr"`
	// Binds is the number of transceiver binds. Default 1.
	Binds int `yaml:"binds"`
	// Window is the number of unacknowledged submits per bind. Default 10.
	Window int `yaml:"window"`
	// TPS caps submits per second per bind (per gateway for HTTP); 0 = no cap.
	TPS float64 `yaml:"tps"`
	// EnquireLink interval. Default 30s.
	EnquireLink time.Duration `yaml:"enquire_link"`
	// ResponseTimeout for a submit_sm_resp / HTTP answer. Default 10s.
	ResponseTimeout time.Duration `yaml:"response_timeout"`

	// Priority: lower is preferred; a gateway is used only while no
	// healthier gateway of a lower priority value is available. Default 0.
	Priority int `yaml:"priority"`
	// Weight splits traffic among gateways of equal priority. Default 1.
	Weight int `yaml:"weight"`

	// HTTP gateways. Kannel: URL of smsbox's sendsms (e.g.
	// http://127.0.0.1:13013/cgi-bin/sendsms) with Username/Password;
	// DLRURL is where Kannel should call back (the channel's DLRHandler,
	// e.g. https://alertd.example/sms/dlr); callbacks carry a signature
	// keyed by HMACSecret (or a per-process key when empty). Webhook: URL
	// receives a signed JSON POST; HMACSecret signs it and the provider's
	// receipts (X-Alertcast-Signature: sha256=<hex>).
	URL        string `yaml:"url"`
	Username   string `yaml:"username"`
	DLRURL     string `yaml:"dlr_url"`
	HMACSecret string `yaml:"hmac_secret"`
	// Workers is the number of concurrent HTTP requests. Default 8.
	Workers int `yaml:"workers"`
}

// String never shows secrets: configs end up in logs.
func (g GatewayConfig) String() string {
	return fmt.Sprintf("%s(%s %s%s)", g.Name, g.Type, g.Addr, g.URL)
}

// withDefaults returns c with every zero field set to its documented default.
func (c Config) withDefaults() Config {
	if c.Signature == "" {
		c.Signature = DefaultSignature
	}
	if c.MaxParts == 0 {
		c.MaxParts = DefaultMaxParts
	}
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = DefaultLanguage
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	dm := make(map[string]string, len(DefaultDrillMarker))
	for k, v := range DefaultDrillMarker {
		dm[k] = v
	}
	for k, v := range c.DrillMarker {
		dm[k] = v
	}
	c.DrillMarker = dm
	gws := make([]GatewayConfig, len(c.Gateways))
	for i, g := range c.Gateways {
		if g.Binds == 0 {
			g.Binds = DefaultBinds
		}
		if g.Window == 0 {
			g.Window = DefaultWindow
		}
		if g.Weight == 0 {
			g.Weight = DefaultWeight
		}
		if g.EnquireLink == 0 {
			g.EnquireLink = DefaultEnquireLink
		}
		if g.ResponseTimeout == 0 {
			g.ResponseTimeout = DefaultResponseTimeout
		}
		if g.Workers == 0 {
			g.Workers = DefaultHTTPWorkers
		}
		if g.Name == "" {
			g.Name = fmt.Sprintf("%s-%d", g.Type, i)
		}
		gws[i] = g
	}
	c.Gateways = gws
	return c
}

// Validate reports every invalid field, each a *warning.FieldError named by
// its YAML path (errors.Join): the settings and at least one valid gateway.
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := []error{c.ValidateSettings()}
	if len(c.Gateways) == 0 {
		errs = append(errs, &warning.FieldError{Field: "sms.gateways", Rule: "at least one gateway"})
	}
	names := map[string]bool{}
	for i, g := range c.Gateways {
		f := func(name string) string { return fmt.Sprintf("sms.gateways[%d].%s", i, name) }
		bad := func(field, rule, value string) {
			errs = append(errs, &warning.FieldError{Field: f(field), Rule: rule, Value: value})
		}
		if names[g.Name] {
			bad("name", "unique", g.Name)
		}
		names[g.Name] = true
		switch g.Type {
		case "smpp":
			if g.Addr == "" {
				bad("addr", "host:port required for smpp", "")
			}
			if len(g.SystemID) > 15 {
				bad("system_id", "at most 15 characters", g.SystemID)
			}
			if len(g.Password) > 8 {
				bad("password", "at most 8 characters (SMPP 3.4)", "")
			}
			if g.Binds < 1 || g.Binds > 64 {
				bad("binds", "between 1 and 64", fmt.Sprint(g.Binds))
			}
			if g.Window < 1 || g.Window > 1000 {
				bad("window", "between 1 and 1000", fmt.Sprint(g.Window))
			}
		case "kannel", "webhook":
			u, err := url.Parse(g.URL)
			if g.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("url", "absolute http(s) URL", g.URL)
			}
			if g.Type == "webhook" && g.HMACSecret == "" {
				bad("hmac_secret", "required for webhook", "")
			}
			if g.Workers < 1 || g.Workers > 256 {
				bad("workers", "between 1 and 256", fmt.Sprint(g.Workers))
			}
		default:
			bad("type", "one of smpp, kannel, webhook", g.Type)
		}
		if g.TPS < 0 {
			bad("tps", "not negative", fmt.Sprint(g.TPS))
		}
		if g.Weight < 1 {
			bad("weight", "at least 1", fmt.Sprint(g.Weight))
		}
	}
	return errors.Join(errs...)
}

// ValidateSettings reports every invalid setting but the gateways: what
// the outbox and previews render SMS with when no gateway is configured.
func (c Config) ValidateSettings() error {
	c = c.withDefaults()
	var errs []error
	if c.MaxParts < 1 || c.MaxParts > 255 {
		errs = append(errs, &warning.FieldError{Field: "sms.max_parts", Rule: "between 1 and 255", Value: fmt.Sprint(c.MaxParts)})
	}
	if c.Attempts < 1 {
		errs = append(errs, &warning.FieldError{Field: "sms.attempts", Rule: "at least 1", Value: fmt.Sprint(c.Attempts)})
	}
	if c.DefaultLanguage != "zh" && c.DefaultLanguage != "ug" {
		errs = append(errs, &warning.FieldError{Field: "sms.default_language", Rule: "zh or ug", Value: c.DefaultLanguage})
	}
	return errors.Join(errs...)
}
