package alertd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/internal/testsvc"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedSerial makes a fresh TLS connection and returns the serial number
// of the certificate the server presented (verified against the CA).
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// alertd serves HTTPS with HSTS, reloads its certificate on SIGHUP, and
// keeps the old certificate when the new files are broken or expired.
func TestHTTPSServesAndReloadsCertificate(t *testing.T) {
	ca := testsvc.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	now := time.Now()
	ca.Issue(t, testsvc.ServerCert{Serial: 100, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, certFile, keyFile)
	ts := startServer(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.Outbox = []string{"speaker", "sms", "voice"}
	})

	client := ca.Client()
	resp, err := client.Get("https://" + ts.Addr + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("status %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	// Plain HTTP to the TLS port gets no service.
	if resp, err := http.Get("http://" + ts.Addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	if got := servedSerial(t, ts.Addr, ca.Pool); got != 100 {
		t.Fatalf("serial %d, want 100", got)
	}
	// WebSocket upgrades work through the HTTPS wrappers (HSTS, Secure cookies).
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	wc, wresp, err := d.Dial("wss://"+ts.Addr+"/ws?region=653122", nil)
	if err != nil {
		t.Fatalf("wss upgrade: %v (%v)", err, wresp)
	}
	wc.Close()

	// Renewal in place, then SIGHUP: new connections get the new certificate.
	ca.Issue(t, testsvc.ServerCert{Serial: 101, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * time.Hour)}, certFile, keyFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ts.certs.reloads.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := servedSerial(t, ts.Addr, ca.Pool); got != 101 {
		t.Fatalf("after SIGHUP: serial %d, want 101", got)
	}

	// A half-written renewal is refused and the old certificate kept.
	writeFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	if err := ts.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Fatalf("broken certificate: error %v, want one naming tls_cert", err)
	}
	if got := servedSerial(t, ts.Addr, ca.Pool); got != 101 {
		t.Fatalf("after a broken renewal: serial %d, want the old 101", got)
	}
	// So is an expired one.
	ca.Issue(t, testsvc.ServerCert{Serial: 102, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, certFile, keyFile)
	if err := ts.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired certificate: error %v", err)
	}
	if got := servedSerial(t, ts.Addr, ca.Pool); got != 101 {
		t.Fatalf("after an expired renewal: serial %d, want the old 101", got)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	_, err := Load([]string{"--tls-cert", "/x.pem"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "tls_cert and tls_key") {
		t.Fatalf("cert without key: %v", err)
	}
	cfg, err := Load(nil, func(k string) string {
		return map[string]string{"ALERTCAST_TLS_CERT": "/c.pem", "ALERTCAST_TLS_KEY": "/k.pem",
			"ALERTCAST_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1", "ALERTCAST_METRICS_TOKEN": "metrics-token-0123456789"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCert != "/c.pem" || cfg.TLSKey != "/k.pem" || len(cfg.TrustedProxies) != 2 || cfg.MetricsToken == "" ||
		!strings.HasPrefix(cfg.PublicURL, "https://") {
		t.Fatalf("env not applied: %+v", cfg.Transport)
	}
	_, err = Load(nil, func(k string) string {
		return map[string]string{"ALERTCAST_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "trusted_proxies[1]") {
		t.Fatalf("bad proxy: %v", err)
	}
	// A missing file is a start-up error naming the setting.
	dir := t.TempDir()
	_, err = newCertReloader(filepath.Join(dir, "no.pem"), filepath.Join(dir, "no.key"), NewLogger(io.Discard, "error", "text"))
	if err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Fatalf("missing files: %v", err)
	}
}

// dribble writes b one byte per interval until the server closes the
// connection; it returns how many bytes were still unsent.
func dribble(c net.Conn, b []byte, interval time.Duration) int {
	for i := range b {
		if _, err := c.Write(b[i : i+1]); err != nil {
			return len(b) - i
		}
		time.Sleep(interval)
	}
	return 0
}

// A slow-loris client — request head or body a byte at a time — is cut off
// by the server, while an SSE stream that started before it stays open.
func TestSlowClientsAreCutOffStreamsAreNot(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Outbox = []string{"speaker", "sms", "voice"} })

	// Positive control: an SSE stream is open and delivering.
	sse, err := http.Get(ts.Base + "/sse?region=653122")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	if sse.StatusCode != 200 {
		t.Fatalf("SSE: %d", sse.StatusCode)
	}
	sseLines := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, sse.Body)
		sseLines <- err
	}()

	type result struct {
		name   string
		unsent int
	}
	results := make(chan result, 2)
	head := []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow-loris-test-with-a-long-header-line\r\n\r\n")
	body := []byte(`{"name":"admin","password":"` + strings.Repeat("x", 60) + `"}`)
	bodyReq := []byte("POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n")
	for _, c := range []struct {
		name       string
		prefix, dr []byte
	}{{"headers", nil, head}, {"body", bodyReq, body}} {
		go func() {
			conn, err := net.Dial("tcp", ts.Addr)
			if err != nil {
				results <- result{c.name, -1}
				return
			}
			defer conn.Close()
			if _, err := conn.Write(c.prefix); err != nil {
				results <- result{c.name, -1}
				return
			}
			// Read whatever the server answers until it closes.
			closed := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, conn); close(closed) }()
			stop := make(chan int, 1)
			go func() { stop <- dribble(conn, c.dr, 250*time.Millisecond) }()
			select {
			case <-closed:
				// The server hung up; unsent bytes prove it did not wait for the client.
				_ = conn.SetWriteDeadline(time.Now())
				results <- result{c.name, <-stop}
			case n := <-stop:
				results <- result{c.name, -n - 1000} // the whole request went through
			}
		}()
	}
	for range 2 {
		r := <-results
		if r.unsent <= 0 {
			t.Fatalf("slow %s: the server waited for the whole request (unsent %d)", r.name, r.unsent)
		}
		t.Logf("slow %s cut off with %d bytes unsent", r.name, r.unsent)
	}
	// The stream that was open all along is still open.
	select {
	case err := <-sseLines:
		t.Fatalf("SSE stream ended while slow clients were cut off: %v", err)
	default:
	}
	// And the server still answers ordinary requests.
	if st, _ := call(t, ts.Base, "GET", "/healthz", "", nil); st != 200 {
		t.Fatalf("healthz after slow clients: %d", st)
	}
}

func TestMetricsToken(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MetricsToken = "metrics-token-0123456789" })
	resp, err := http.Get(ts.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("/metrics without token: %d, want 401", resp.StatusCode)
	}
	for tok, want := range map[string]int{"metrics-token-0123456789": 200, "metrics-token-012345678": 401, testAdminToken: 401} {
		req, _ := http.NewRequest("GET", ts.Base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("/metrics with %q: %d, want %d", tok, resp.StatusCode, want)
		}
		if want == 200 && !strings.Contains(string(b), "go_goroutines") {
			t.Fatal("metrics body missing")
		}
	}
	// Unset, /metrics stays open (the default).
	open := startServer(t, nil)
	if st, _ := call(t, open.Base, "GET", "/metrics", "", nil); st != 200 {
		t.Fatalf("/metrics without metrics_token: %d", st)
	}
}

func TestCAPImportNeedsXMLContentType(t *testing.T) {
	ts := startServer(t, nil)
	doc := []byte(`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"></alert>`)
	for _, ct := range []string{"", "application/json", "text/plain; charset=utf-8"} {
		st, out := callType(t, ts.Base, "POST", "/api/v1/cap", testAdminToken, ct, doc)
		if st != 415 {
			t.Fatalf("Content-Type %q: %d, want 415", ct, st)
		}
		e := out["error"].(map[string]any)
		if !strings.Contains(e["message"].(string), "Content-Type") {
			t.Fatalf("415 must name the Content-Type: %v", e)
		}
	}
	for _, ct := range []string{"application/cap+xml", "application/xml", "text/xml; charset=utf-8"} {
		if st, out := callType(t, ts.Base, "POST", "/api/v1/cap", testAdminToken, ct, doc); st == 415 {
			t.Fatalf("Content-Type %q refused: %v", ct, out)
		}
	}
}

func TestDataDirAndDatabaseArePrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *Config) { c.DataDir = dir })
	// A write makes sure the WAL exists.
	addUser(t, ts.Base, "perm-check", "viewer")
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Mode().Perm(); p != 0o700 {
		t.Fatalf("data dir mode %v, want 0700", p)
	}
	for _, f := range []string{"alertcast.db", "alertcast.db-wal", "alertcast.db-shm"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) && f != "alertcast.db" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p := st.Mode().Perm(); p != 0o600 {
			t.Fatalf("%s mode %v, want 0600", f, p)
		}
	}
}

// Behind a trusted proxy the audit names the real client; from anyone
// else X-Forwarded-For is ignored. Rate limits answer 429 with Retry-After.
func TestTrustedProxyAuditAndRateLimit(t *testing.T) {
	login := func(base, xff string, wantSecure bool) {
		req, _ := http.NewRequest("POST", base+"/api/v1/login", strings.NewReader(`{"token":"`+testAdminToken+`"}`))
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		secure := strings.Contains(resp.Header.Get("Set-Cookie"), "Secure")
		if secure != wantSecure {
			t.Fatalf("Secure cookie %v, want %v (%s)", secure, wantSecure, resp.Header.Get("Set-Cookie"))
		}
	}
	lastRemote := func(base string) string {
		out := mustCall(t, base, "GET", "/api/v1/audit?after=0", testAdminToken, nil, 200)
		es := out["entries"].([]any)
		for i := len(es) - 1; i >= 0; i-- {
			e := es[i].(map[string]any)
			if e["action"] == "login" {
				r, _ := e["remote"].(string)
				return r
			}
		}
		t.Fatal("no login in the audit")
		return ""
	}
	ts0 := startServer(t, func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.RateLimits.TokenRPS, c.RateLimits.TokenBurst = 0.001, 4
	})
	login(ts0.Base, "198.51.100.7", true)
	if got := lastRemote(ts0.Base); got != "198.51.100.7" {
		t.Fatalf("audit remote behind trusted proxy %q, want 198.51.100.7", got)
	}
	untrusted := startServer(t, nil)
	login(untrusted.Base, "198.51.100.7", false)
	if got := lastRemote(untrusted.Base); got != "127.0.0.1" {
		t.Fatalf("audit remote with forged X-Forwarded-For %q, want 127.0.0.1", got)
	}

	// Token burst 4 on ts0: one audit read used one; three more pass, then 429.
	for range 3 {
		mustCall(t, ts0.Base, "GET", "/api/v1/me", testAdminToken, nil, 200)
	}
	req, _ := http.NewRequest("GET", ts0.Base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("beyond the burst: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Endpoints outside /api/ are not limited with the API.
	if st, _ := call(t, ts0.Base, "GET", "/healthz", "", nil); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
}
