package websocket

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
)

// The frames the hub writes itself are read by a standard client at every
// length encoding (7-bit, 16-bit, 64-bit), and so are its ping and close.
func TestWireFramesReadByGorilla(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var out []byte
		for _, n := range sizes {
			out = append(out, wireFrame(opText, bytes.Repeat([]byte{'a' + byte(n%26)}, n))...)
		}
		out = append(out, pingWire...)
		out = append(out, wireFrame(opClose, websocket.FormatCloseMessage(CloseSlow, "too slow"))...)
		if _, err := c.NetConn().Write(out); err != nil {
			t.Error(err)
		}
		_, _, _ = c.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pinged := false
	c.SetPingHandler(func(string) error { pinged = true; return nil })
	for _, n := range sizes {
		typ, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("frame of %d bytes: %v", n, err)
		}
		if typ != websocket.TextMessage || len(b) != n || (n > 0 && b[n-1] != 'a'+byte(n%26)) {
			t.Fatalf("frame of %d bytes: got type %d, %d bytes", n, typ, len(b))
		}
	}
	_, _, err = c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != CloseSlow || ce.Text != "too slow" {
		t.Fatalf("close: %v", err)
	}
	if !pinged {
		t.Error("ping frame not seen")
	}
}

// When the fan-out's write fills a socket part way, the writer finishes
// that frame before anything else: a client that reads late still gets
// every warning whole and in order.
func TestPartialWritesKeepFramesWhole(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNodeListener(t, r.Addr, func(c *Config) { c.SendQueue = 64 },
		func(l net.Listener) net.Listener { return smallSendBuffers{l} })

	d := websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}).DialContext}
	late, _, err := d.Dial(n.wsURL("?region="+village+"&lang=zh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if _, _, err := late.ReadMessage(); err != nil { // subscribed
		t.Fatal(err)
	}
	if _, _, err := late.ReadMessage(); err != nil { // snapshot
		t.Fatal(err)
	}
	waitFor(t, "subscriber", func() bool { return n.hub.Subscribers() == 1 })

	big := strings.Repeat("沙尘暴预警。", 3000) // ~54 KB, far over the socket buffers
	const events = 20
	var ids []string
	for range events {
		m := msg("", 1, warning.KindAlert, 3, village)
		m.Texts["zh"] = channels.Text{Headline: "h", Description: big, Instruction: "i"}
		send(t, n.hub, m)
		ids = append(ids, m.AlertID)
	}
	if n.hub.partialWrites.Load() == 0 {
		t.Fatal("no frame was begun by the fan-out and finished by the writer: the test does not test that")
	}
	_ = late.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i, id := range ids {
		typ, b, err := late.ReadMessage()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var w Warning
		if err := json.Unmarshal(b, &w); typ != websocket.TextMessage || err != nil {
			t.Fatalf("event %d: type %d, %v", i, typ, err)
		}
		if w.AlertID != id || w.Texts["zh"].Description != big {
			t.Fatalf("event %d: got %s (%d bytes of description), want %s whole", i, w.AlertID, len(w.Texts["zh"].Description), id)
		}
	}
	if got := n.hub.Subscribers(); got != 1 {
		t.Errorf("the late reader was dropped (%d subscribers)", got)
	}
}

// Under TLS there is no socket to write to directly: every frame goes
// through the writer goroutine, and a page behind TLS gets its warnings,
// pings answered and a clean close the same way.
func TestTLSConnectionsUseTheWriter(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	srv := httptest.NewTLSServer(n.hub.Handler())
	t.Cleanup(srv.Close)
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	c, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"?region="+village, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pong := make(chan struct{}, 1)
	c.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
	cl := &client{t: t, c: c, in: make(chan inFrame, 64), done: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				cl.done <- err
				close(cl.in)
				return
			}
			var f inFrame
			_ = json.Unmarshal(b, &f)
			cl.in <- f
		}
	}()
	cl.next("snapshot")
	if err := c.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m := msg("", 1, warning.KindAlert, 3, village)
		send(t, n.hub, m)
		if f := cl.next("warning"); f.AlertID != m.AlertID {
			t.Fatalf("got %s, want %s", f.AlertID, m.AlertID)
		}
	}
	select {
	case <-pong:
	case <-time.After(10 * time.Second):
		t.Fatal("ping not answered")
	}
	_ = n.hub.Close()
	if code := cl.closed(); code != CloseRestart {
		t.Errorf("close code %d, want %d", code, CloseRestart)
	}
}

// The fan-out's write attempt costs no allocation per subscriber, and it
// never waits on a full socket.
func TestWriteNonBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	frame := wireFrame(opText, []byte(`{"type":"warning"}`))
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := writeNonBlocking(rc, frame); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 && !raceEnabled {
		t.Errorf("%.1f allocations per write attempt", allocs)
	}
	// The peer reads nothing: the socket fills and the attempt says so at
	// once instead of waiting.
	_ = c.(*net.TCPConn).SetWriteBuffer(4096)
	big := make([]byte, 64<<10)
	for i := 0; ; i++ {
		n, err := writeNonBlocking(rc, big)
		if err == errWouldBlock {
			if n != 0 {
				t.Errorf("would block after %d bytes", n)
			}
			break
		}
		if err != nil || i > 10000 {
			t.Fatalf("after %d writes: %v", i, err)
		}
	}
	// An expired deadline left by a blocking write is not an error of the
	// connection: the writer goroutine sets a new one.
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := writeNonBlocking(rc, frame); err != errWouldBlock {
		t.Errorf("with an expired deadline: %v, want errWouldBlock", err)
	}
}
