package alertd

import (
	"errors"
	"strings"

	"github.com/alertcast/alertcast/dispatch/api"
)

// Transport is how alertd meets the network: HTTPS, the proxies it may
// believe, API rate limits and who may scrape /metrics.
type Transport struct {
	// TLSCert and TLSKey (PEM files) make alertd serve HTTPS itself; the
	// pair is re-read on SIGHUP. Default: plain HTTP (behind a proxy).
	TLSCert string `yaml:"tls_cert"` // --tls-cert, ALERTCAST_TLS_CERT
	TLSKey  string `yaml:"tls_key"`  // --tls-key, ALERTCAST_TLS_KEY
	// TrustedProxies are the CIDRs whose X-Forwarded-For/-Proto headers
	// are honoured (ALERTCAST_TRUSTED_PROXIES, comma-separated). Default
	// none: the headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RateLimits for /api/ (defaults in dispatch.RateLimits).
	RateLimits api.RateLimits `yaml:"rate_limits"`
	// MetricsToken, when set, is the bearer token /metrics requires
	// (ALERTCAST_METRICS_TOKEN). Default: /metrics is open.
	MetricsToken string `yaml:"metrics_token"`
}

func (t *Transport) fromEnv(flagCert, flagKey string, getenv func(string) string) {
	pick := func(dst *string, flagV, env string) {
		if flagV != "" {
			*dst = flagV
		} else if v := getenv(env); v != "" {
			*dst = v
		}
	}
	pick(&t.TLSCert, flagCert, "ALERTCAST_TLS_CERT")
	pick(&t.TLSKey, flagKey, "ALERTCAST_TLS_KEY")
	if v := getenv("ALERTCAST_TRUSTED_PROXIES"); v != "" {
		t.TrustedProxies = strings.Split(v, ",")
	}
	pick(&t.MetricsToken, "", "ALERTCAST_METRICS_TOKEN")
}

func (t *Transport) validate() error {
	var errs []error
	if (t.TLSCert == "") != (t.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key: give both (HTTPS) or neither (HTTP)"))
	}
	if _, err := api.ParseTrustedProxies(t.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if err := t.RateLimits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if t.MetricsToken != "" && len(t.MetricsToken) < 16 {
		errs = append(errs, errors.New("metrics_token: at least 16 characters"))
	}
	return errors.Join(errs...)
}
