package deploytest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// startNginx runs nginx with deploy/nginx/alertcast.conf on 127.0.0.1:port
// (TLS, certificate from ca) in front of upstream, with its own prefix,
// pid file and logs in a temp dir. It returns the https base URL.
func startNginx(t *testing.T, ca *testsvc.CA, upstream string) string {
	t.Helper()
	bin := testsvc.Need(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	ca.Issue(t, testsvc.ServerCert{Chain: true}, certFile, keyFile)
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "nginx", "alertcast.conf"))
	if err != nil {
		t.Fatal(err)
	}
	port := testsvc.FreePort(t)
	site := string(raw)
	for _, r := range []struct{ old, new string }{
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", port)},
		{"listen [::]:443 ssl;", ""},
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", testsvc.FreePort(t))},
		{"listen [::]:80;", ""},
		{"/etc/ssl/alertcast/fullchain.pem", certFile},
		{"/etc/ssl/alertcast/privkey.pem", keyFile},
		{"server 127.0.0.1:8080;", "server " + upstream + ";"},
	} {
		if !strings.Contains(site, r.old) {
			t.Fatalf("deploy/nginx/alertcast.conf no longer has %q", r.old)
		}
		site = strings.ReplaceAll(site, r.old, r.new)
	}
	if err := os.WriteFile(filepath.Join(dir, "alertcast.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read this root-owned temp dir
	}
	main := fmt.Sprintf(`%s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log %[2]s/logs/access.log;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    include %[2]s/alertcast.conf;
}
`, user, dir)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "logs", "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "logs", "error.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful; the workers follow the master
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := testsvc.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("nginx: %v\n%s", err, out.String())
	}
	return "https://" + addr
}

// The nginx example in deploy/ terminates TLS in front of alertd and
// carries the WebSocket upgrade: a resident page subscribed over wss://
// through nginx receives the warning, and a real loudspeaker agent
// (cmd/speaker, trusting only the test CA) registers through nginx and
// plays it.
func TestNginxProxy(t *testing.T) {
	testsvc.Need(t, "nginx")
	agentBin := buildStatic(t, "speaker", "amd64")
	ca := testsvc.NewCA(t)
	var base string
	s := startAlertd(t, func(c *alertd.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	base = startNginx(t, ca, s.Addr)
	client := ca.Client()

	api(t, client, base, "POST", "/api/v1/speakers/import", adminToken, "id,village\nSPK-N1,653122100001\n", 200)
	key := api(t, client, base, "GET", "/api/v1/speakers/key", "", "", 200)["public_key"].(string)
	cred := api(t, client, base, "POST", "/api/v1/speakers/SPK-N1/enroll", adminToken, "", 200)["credential"].(string)
	op := api(t, client, base, "POST", "/api/v1/users", adminToken, `{"name":"op","role":"operator"}`, 201)["token"].(string)

	// The loudspeaker agent, through nginx.
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.PEM")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	stopAgent := runAgent(t, agentBin, writeAgentConfig(t, dir, base, "SPK-N1", cred, key), []string{"SSL_CERT_FILE=" + caFile})
	defer stopAgent()
	waitUntil(t, 30*time.Second, "the agent registered through nginx", func() bool { return speakerOnline(t, client, base, "SPK-N1") })

	// A resident page, through nginx.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, HandshakeTimeout: 10 * time.Second}
	wc, resp, err := d.Dial(strings.Replace(base, "https://", "wss://", 1)+"/ws?region=653122100001", nil)
	if err != nil {
		t.Fatalf("wss:// upgrade through nginx: %v (%v)", err, resp)
	}
	defer wc.Close()
	frames := make(chan map[string]any, 16)
	go func() {
		defer close(frames)
		for {
			var f map[string]any
			if err := wc.ReadJSON(&f); err != nil {
				return
			}
			frames <- f
		}
	}()

	id := api(t, client, base, "POST", "/api/v1/alerts", op, yellowWarning(t), 201)["id"].(string)
	deadline := time.After(30 * time.Second)
	for got := false; !got; {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("resident page WebSocket closed through nginx before the warning came")
			}
			got = f["type"] == "warning" && strings.Contains(fmt.Sprint(f), id)
		case <-deadline:
			t.Fatal("no warning frame on the resident page through nginx within 30 s")
		}
	}
	waitUntil(t, 30*time.Second, "the loudspeaker played the warning", func() bool {
		return speakerProgress(t, client, base, op, id)["delivered"] == 1.0
	})
	// Metrics stay internal.
	api(t, client, base, "GET", "/metrics", "", "", 404)
}
