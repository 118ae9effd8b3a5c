package sms_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// kannel is a throwaway bearerbox + smsbox + fakesmsc on loopback ports.
type kannel struct {
	sendsms string // sendsms URL
	mu      sync.Mutex
	got     []fakeMsg
	out     strings.Builder
}

type fakeMsg struct{ from, to, typ, data string }

var fakeLine = regexp.MustCompile(`Got message \d+: <(\S*) (\S*) (\S+) (.*)>$`)

func findFakesmsc(t *testing.T) string {
	if p, err := exec.LookPath("fakesmsc"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/lib/kannel/test/fakesmsc", "/usr/libexec/kannel/test/fakesmsc"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testsvc.Missing(t, "fakesmsc not found (Debian package kannel-extras)")
	return ""
}

func startKannel(t *testing.T) *kannel {
	t.Helper()
	bearerbox := testsvc.Need(t, findSbin(t, "bearerbox"))
	smsbox := testsvc.Need(t, findSbin(t, "smsbox"))
	fakesmsc := findFakesmsc(t)
	dir := t.TempDir()
	admin, boxPort, smscPort, httpPort := kannelPort(t), kannelPort(t), kannelPort(t), kannelPort(t)
	conf := fmt.Sprintf(`group = core
admin-port = %d
admin-password = adminpw
smsbox-port = %d
box-allow-ip = 127.0.0.1
admin-allow-ip = 127.0.0.1
log-level = 1
log-file = "%s/bearerbox.log"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = %d
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = %d
sendsms-port = %d
log-level = 1
log-file = "%s/smsbox.log"

group = sendsms-user
username = alertcast
password = kannelpw
max-messages = 10
concatenation = true

group = sms-service
keyword = default
text = "nop"
catch-all = true
`, admin, boxPort, dir, smscPort, boxPort, httpPort, dir)
	confPath := filepath.Join(dir, "kannel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &kannel{sendsms: fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms", httpPort)}
	start := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	bb := start(bearerbox, confPath)
	if err := bb.Start(); err != nil {
		t.Fatalf("bearerbox: %v", err)
	}
	stop(bb)
	if err := testsvc.WaitTCP(fmt.Sprintf("127.0.0.1:%d", smscPort), 10*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "bearerbox.log"))
		t.Fatalf("bearerbox: %v\n%s", err, log)
	}
	fs := start(fakesmsc, "-H", "127.0.0.1", "-r", fmt.Sprint(smscPort), "-i", "1000", "-m", "0", "1 2 text nop")
	pipe, _ := fs.StdoutPipe()
	fs.Stderr = fs.Stdout
	if err := fs.Start(); err != nil {
		t.Fatalf("fakesmsc: %v", err)
	}
	stop(fs)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			k.mu.Lock()
			k.out.WriteString(line + "\n")
			if m := fakeLine.FindStringSubmatch(line); m != nil {
				k.got = append(k.got, fakeMsg{m[1], m[2], m[3], m[4]})
			}
			k.mu.Unlock()
		}
	}()
	sb := start(smsbox, confPath)
	if err := sb.Start(); err != nil {
		t.Fatalf("smsbox: %v", err)
	}
	stop(sb)
	if err := testsvc.WaitTCP(fmt.Sprintf("127.0.0.1:%d", httpPort), 10*time.Second); err != nil {
		t.Fatalf("smsbox: %v", err)
	}
	// Ready when sendsms answers (an unauthenticated request gets a 4xx).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(k.sendsms)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("smsbox sendsms not answering: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"bearerbox.log", "smsbox.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	return k
}

// kannelPort picks a port below the ephemeral range that is free on every
// interface: Kannel binds 0.0.0.0 without SO_REUSEADDR, so a port that is
// the local end of some other process's loopback connection (what
// testsvc.FreePort may return on a busy machine) makes bearerbox panic.
func kannelPort(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(12000)
		if kannelPorts[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		kannelPorts[p] = true
		return p
	}
	t.Fatal("no free port for Kannel")
	return 0
}

var kannelPorts = map[int]bool{} // handed out in this process

func findSbin(t *testing.T, name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := "/usr/sbin/" + name
	if _, err := os.Stat(p); err == nil {
		return p
	}
	testsvc.Missing(t, name+" not found (Debian package kannel)")
	return ""
}

func (k *kannel) messages() []fakeMsg {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]fakeMsg(nil), k.got...)
}

// decode turns a fakesmsc line's payload back into text: "ucs-2" is
// URL-encoded UTF-16BE, "text" is plain.
func (m fakeMsg) decode(t *testing.T) string {
	switch m.typ {
	case "text":
		return m.data
	case "ucs-2", "ucs2":
		raw, err := url.QueryUnescape(m.data)
		if err != nil {
			t.Fatalf("fakesmsc payload %q: %v", m.data, err)
		}
		b := []byte(raw)
		if len(b)%2 != 0 {
			t.Fatalf("UCS-2 payload of odd length %d", len(b))
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u))
	}
	t.Fatalf("unexpected fakesmsc message type %q", m.typ)
	return ""
}

// A Chinese warning sent through the real Kannel (smsbox sendsms →
// bearerbox → fake SMSC) arrives as UCS-2 whose text is exactly the
// rendering; Kannel calls the DLR handler back for the SMSC's acceptance.
func TestKannelFakesmsc(t *testing.T) {
	k := startKannel(t)
	var (
		dmu  sync.Mutex
		dlrs []url.Values
	)
	var ch *sms.Channel
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dmu.Lock()
		dlrs = append(dlrs, r.URL.Query())
		dmu.Unlock()
		ch.DLRHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{}
	ch = newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{{Name: "kannel", Type: "kannel", URL: k.sendsms,
		Username: "alertcast", Password: "kannelpw", SourceAddr: "12379", DLRURL: srv.URL + "/sms/dlr"}}}, rec, nil)
	m := message(4, false)
	m.Texts["zh"] = channels.Text{Headline: "沙尘暴红色预警", Description: "今天下午有强沙尘暴。", Instruction: "请关好门窗，不要外出。"}
	to := []channels.Recipient{{ID: "zh-1", Address: "+8613900000001", Language: "zh"}, {ID: "en-1", Address: "+8613900000002", Language: "en"}}
	m.Texts["en"] = channels.Text{Headline: "Sandstorm", Description: "Strong sandstorm this afternoon.", Instruction: "Stay inside."}
	res := send(t, ch, m, to)
	for id, r := range res {
		if r.State != channels.StateSent || !strings.HasPrefix(r.Ref, "kannel:") {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	waitForT(t, 10*time.Second, "2 messages at fakesmsc", func() bool { return len(k.messages()) >= 2 }, func() string { return k.out.String() })
	for _, r := range to {
		want, _ := sms.Render(m, r.Language, sms.Config{})
		var found bool
		for _, fm := range k.messages() {
			if fm.to != r.Address {
				continue
			}
			found = true
			if fm.from != "12379" {
				t.Errorf("%s: from %q", r.ID, fm.from)
			}
			if want.Encoding == sms.UCS2 && fm.typ != "ucs-2" {
				t.Errorf("%s: arrived as %q, want ucs-2", r.ID, fm.typ)
			}
			if got := fm.decode(t); got != want.Text {
				t.Errorf("%s: arrived %q\nwant %q", r.ID, got, want.Text)
			}
		}
		if !found {
			t.Errorf("%s: nothing arrived at fakesmsc", r.ID)
		}
	}
	// Kannel's DLR callback reached the handler with our id (SMSC-level
	// acknowledgement: intermediate, no receipt reported).
	waitForT(t, 10*time.Second, "Kannel DLR callbacks", func() bool {
		dmu.Lock()
		defer dmu.Unlock()
		return len(dlrs) >= 2
	}, func() string { return fmt.Sprint(dlrs) })
	for _, fm := range k.messages() {
		t.Logf("fakesmsc got %s → %s %s %q", fm.from, fm.to, fm.typ, fm.decode(t))
	}
	dmu.Lock()
	for _, q := range dlrs {
		t.Logf("DLR callback gw=%s id=%s type=%s", q.Get("gw"), q.Get("id"), q.Get("type"))
		if q.Get("gw") != "kannel" || q.Get("id") == "" || q.Get("type") == "" {
			t.Errorf("DLR callback %v", q)
		}
	}
	dmu.Unlock()
	// The fake SMSC reports delivery (type 1): a receipt per recipient.
	waitForT(t, 10*time.Second, "delivered receipts", func() bool { return rec.len() >= 2 }, func() string { return fmt.Sprint(rec.byRef()) })
	got := rec.byRef()
	for id, r := range res {
		rc, ok := got[r.Ref]
		if !ok || rc.State != channels.StateDelivered || rc.RecipientID != id || rc.Key != m.Key {
			t.Errorf("%s: receipt %+v", id, rc)
		}
	}
}

func waitForT(t *testing.T, d time.Duration, what string, cond func() bool, dump func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\n%s", d, what, dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
