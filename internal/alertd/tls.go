package alertd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alertcast/alertcast/dispatch/api"
)

// certReloader serves the certificate alertd was started with and swaps in
// a new one on SIGHUP (certbot and friends renew files in place). A new pair
// that does not load — half-written, mismatched key, expired — is refused
// and the old one kept: a broken renewal must not take HTTPS down.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	reloads           atomic.Int64 // successful reloads, for tests and logs
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	return c, nil
}

func (c *certReloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_cert %s / tls_key %s: %w", c.certFile, c.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tls_cert %s: %w", c.certFile, err)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, fmt.Errorf("tls_cert %s: expired on %s", c.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	cert.Leaf = leaf
	return &cert, nil
}

// Reload re-reads the pair; on error the old certificate stays in use.
func (c *certReloader) Reload() error {
	cert, err := c.load()
	if err != nil {
		c.log.Error("TLS certificate reload refused; still serving the previous certificate", "err", err,
			"serving_until", c.cur.Load().Leaf.NotAfter.UTC().Format(time.RFC3339))
		return err
	}
	c.cur.Store(cert)
	c.reloads.Add(1)
	c.log.Info("TLS certificate reloaded", "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// tlsConfig is the server's TLS configuration: TLS 1.2 or later, the
// certificate from the reloader, HTTP/2 and HTTP/1.1.
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

// watchSIGHUP reloads the certificate on every SIGHUP until stop closes.
func (c *certReloader) watchSIGHUP(stop <-chan struct{}, done func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer done()
		defer signal.Stop(ch)
		for {
			select {
			case <-stop:
				return
			case <-ch:
				_ = c.Reload()
			}
		}
	}()
}

var errNoTLS = errors.New("alertd serves plain HTTP (no tls_cert)")

// ReloadTLS re-reads the TLS certificate and key now, as SIGHUP does.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return errNoTLS
	}
	return s.certs.Reload()
}

// transportHandler wraps the server's handler, outermost first: the real
// client and scheme behind trusted proxies (and HSTS over HTTPS), a request
// id, per-request deadlines, API rate limits. It also loads the TLS pair.
func (s *Server) transportHandler(h http.Handler) (http.Handler, error) {
	proxies, err := api.ParseTrustedProxies(s.cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if s.cfg.TLSCert != "" {
		if s.certs, err = newCertReloader(s.cfg.TLSCert, s.cfg.TLSKey, s.log.With("component", "tls")); err != nil {
			return nil, err
		}
	}
	rl := api.NewRateLimiter(s.cfg.RateLimits)
	if err := rl.RegisterMetrics(s.prom); err != nil {
		return nil, err
	}
	h = rl.Wrap(h)
	h = withDeadlines(h)
	h = api.RequestID(h)
	return api.Forwarded(proxies, h), nil
}

// privateDataDir creates the data directory readable by this user only
// (it holds the database, Redis's AOF and device credentials) and tightens
// an existing one.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s: make private (0700): %w", dir, err)
		}
		log.Warn("data dir was readable by others; made it 0700", "dir", dir, "was", st.Mode().Perm().String())
	}
	return nil
}
