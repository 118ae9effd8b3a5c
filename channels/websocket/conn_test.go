package websocket

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
)

func TestSlowClientIsolation(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNodeListener(t, r.Addr, func(c *Config) { c.SendQueue = 4; c.HistoryLen = 50 },
		func(l net.Listener) net.Listener { return smallSendBuffers{l} })

	// The slow client: a tiny receive buffer and it never reads.
	d := websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}).DialContext}
	slow, _, err := d.Dial(n.wsURL("?region="+village), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast := dial(t, n.wsURL("?region="+village+"&lang=zh"), nil)
	fast.next("snapshot")
	waitFor(t, "two subscribers", func() bool { return n.hub.Subscribers() == 2 })

	// Big texts fill the slow socket's buffers quickly.
	big := strings.Repeat("沙尘暴预警。", 1000) // ~18 KB
	const events = 40
	start := time.Now()
	for i := range events {
		m := msg("", 1, warning.KindAlert, 3, village)
		m.Texts["zh"] = channels.Text{Headline: "h", Description: big, Instruction: "i"}
		send(t, n.hub, m)
		if f := fast.next("warning"); f.AlertID != m.AlertID {
			t.Fatalf("fast client, event %d: got %s", i, f.AlertID)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("fast client slowed down by the slow one: %s for %d events", took, events)
	}
	waitFor(t, "slow client dropped", func() bool { return n.hub.Subscribers() == 1 })
	// It was told why: drain what it buffered until the close frame.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			// 4001 when the close frame still fits; a client stuck so hard
			// that it cannot even take that sees an abnormal close (1006).
			if ce, ok := err.(*websocket.CloseError); ok && ce.Code != CloseSlow && ce.Code != websocket.CloseAbnormalClosure {
				t.Errorf("slow client closed with %d, want %d", ce.Code, CloseSlow)
			}
			break
		}
	}
}

func TestBadFrames(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, func(c *Config) { c.MaxFrame = 256; c.MaxRegions = 2 })
	cl := dial(t, n.wsURL(""), nil)
	cases := []struct{ frame, field string }{
		{`{"type":"subscribe","regions":["653122999999"]}`, "regions[0]"},
		{`{"type":"subscribe","regions":["653122","653122100","653122100001"]}`, "regions"},
		{`{oops`, "frame"},
		{`{"type":"subscribe","regions":["653122"],"pad":"` + strings.Repeat("x", 300) + `"}`, "frame"},
	}
	for _, c := range cases {
		if err := cl.c.WriteMessage(websocket.TextMessage, []byte(c.frame)); err != nil {
			t.Fatal(err)
		}
		if f := cl.next("error"); f.Field != c.field || f.Code != "bad_frame" {
			t.Errorf("%.40s…: error %+v, want field %s", c.frame, f, c.field)
		}
	}
	// Still usable after mistakes.
	cl.subscribe(map[string]any{"regions": []string{village}})
	cl.next("snapshot")
	// The fifth bad frame closes the connection.
	_ = cl.c.WriteMessage(websocket.TextMessage, []byte(`[]`))
	cl.next("error")
	if code := cl.closed(); code != CloseAbusive {
		t.Errorf("close code %d, want %d", code, CloseAbusive)
	}
	// A frame far over the limit closes at once with 1009.
	cl2 := dial(t, n.wsURL(""), nil)
	_ = cl2.c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 2000)))
	if code := cl2.closed(); code != websocket.CloseMessageTooBig {
		t.Errorf("oversized frame: close code %d, want 1009", code)
	}
	// Bad query parameters are refused before the upgrade, naming the field.
	resp, err := http.Get(n.srv.URL + "/ws?region=123")
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 400 || e["field"] != "regions[0]" {
		t.Errorf("bad query: HTTP %d %v", resp.StatusCode, e)
	}
}

func TestAdmission(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, func(c *Config) {
		c.MaxConnsPerIP = 2
		c.PublicRate = 1000
		c.PublicBurst = 1000
		c.AllowedOrigins = []string{"https://alert.example.cn"}
	})
	status := func(url string, hdr http.Header) int {
		c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return 101
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	u := n.wsURL("?region=" + village)
	if s := status(u, http.Header{"Origin": {"https://evil.example"}}); s != 403 {
		t.Errorf("foreign origin: %d", s)
	}
	if s := status(u, http.Header{"Origin": {"https://alert.example.cn"}}); s != 101 {
		t.Errorf("allowed origin: %d", s)
	}
	if s := status(u, http.Header{"Authorization": {"Bearer wrong"}}); s != 401 {
		t.Errorf("bad token: %d", s)
	}
	if s := status(u, nil); s != 101 {
		t.Errorf("second connection: %d", s)
	}
	if s := status(u, nil); s != 429 {
		t.Errorf("third connection from one address: %d, want 429", s)
	}
	// Public rate: a burst of 1 refuses the second new connection at once.
	m := newNode(t, r.Addr, func(c *Config) { c.MaxConnsPerIP = 100; c.PublicRate = 0.01; c.PublicBurst = 1 })
	if s := status(m.wsURL("?region="+village), nil); s != 101 {
		t.Errorf("first public connection: %d", s)
	}
	if s := status(m.wsURL("?region="+village), nil); s != 429 {
		t.Errorf("rate-limited public connection: %d", s)
	}
	if s := status(m.wsURL("?region="+village), http.Header{"Authorization": {"Bearer console-secret"}}); s != 101 {
		t.Errorf("console is not rate limited: %d", s)
	}
}

// sseReader reads "event/id/data" blocks from an SSE response.
type sseEvent struct{ event, id, data string }

func readSSE(t *testing.T, sc *bufio.Scanner, want string) sseEvent {
	t.Helper()
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.event == want {
				return ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
	t.Fatalf("stream ended waiting for %s: %v", want, sc.Err())
	return ev
}

func TestSSE(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	active := msg("", 1, warning.KindAlert, 3, county)
	send(t, n.hub, active)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func(lastID string) (*http.Response, *bufio.Scanner) {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.srv.URL+"/sse?region="+village+"&lang=ug", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("SSE: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return resp, bufio.NewScanner(resp.Body)
	}
	resp, sc := open("")
	snap := readSSE(t, sc, "snapshot")
	if !strings.Contains(snap.data, active.AlertID) || snap.id == "" {
		t.Fatalf("snapshot %+v", snap)
	}
	live := msg("", 1, warning.KindAlert, 4, village)
	send(t, n.hub, live)
	ev := readSSE(t, sc, "warning")
	if !strings.Contains(ev.data, live.AlertID) || ev.id == "" {
		t.Fatalf("warning %+v", ev)
	}
	resp.Body.Close()
	waitFor(t, "SSE subscriber gone", func() bool { return n.hub.Subscribers() == 0 })
	missed := msg("", 1, warning.KindAlert, 2, township)
	send(t, n.hub, missed)
	// EventSource reconnects with Last-Event-ID.
	resp, sc = open(ev.id)
	defer resp.Body.Close()
	if ev := readSSE(t, sc, "warning"); !strings.Contains(ev.data, missed.AlertID) {
		t.Fatalf("resumed SSE got %+v", ev)
	}
	readSSE(t, sc, "resumed")
	// No region: a clear 400.
	r2, err := http.Get(n.srv.URL + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 400 {
		t.Errorf("SSE without region: %d", r2.StatusCode)
	}
}

func TestConformance(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			n := newNode(t, r.Addr, func(c *Config) { c.Logger = env.Logger })
			return n.hub
		},
		Good: func(t *testing.T, k int) []channels.Recipient {
			out := []channels.Recipient{{ID: "broadcast"}}
			for i := 1; i < k; i++ {
				out = append(out, channels.Recipient{ID: "scope-" + string(rune('a'+i)), Address: village})
			}
			return out
		},
		Permanent: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "nowhere", Address: "653122999999"}
		},
		NoTransient: "one publication to Redis serves every recipient: a transient fault (Redis unreachable) fails the whole batch with Send's error, never one scope",
		NoReceipts:  "results are final when Send returns (StateDelivered once published); pages acknowledge nothing",
		Indivisible: "one publication to Redis serves every recipient of the batch",
		Secret:      "console-secret",
	})
}

func TestCloseDisconnectsWithRestartCode(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	cl := dial(t, n.wsURL("?region="+village), nil)
	cl.next("snapshot")
	start := time.Now()
	if err := n.hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.hub.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s", took)
	}
	if code := cl.closed(); code != CloseRestart {
		t.Errorf("close code %d, want %d", code, CloseRestart)
	}
	if _, err := n.hub.Send(context.Background(), msg("", 1, warning.KindAlert, 1, county), []channels.Recipient{{ID: "broadcast"}}); err != channels.ErrClosed {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestPingPongDropsDeadClients(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, func(c *Config) { c.PingInterval = 50 * time.Millisecond; c.WriteTimeout = 100 * time.Millisecond })
	alive := dial(t, n.wsURL("?region="+village), nil) // gorilla answers pings while reading
	alive.next("snapshot")
	dead, _, err := websocket.DefaultDialer.Dial(n.wsURL("?region="+village), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	dead.SetPingHandler(func(string) error { return nil }) // never answers
	go func() {
		for {
			if _, _, err := dead.ReadMessage(); err != nil {
				return
			}
		}
	}()
	waitFor(t, "two subscribers", func() bool { return n.hub.Subscribers() == 2 })
	waitFor(t, "the silent client dropped", func() bool { return n.hub.Subscribers() == 1 })
	m := msg("", 1, warning.KindAlert, 2, village)
	send(t, n.hub, m)
	if f := alive.next("warning"); f.AlertID != m.AlertID {
		t.Fatalf("live client got %s", f.AlertID)
	}
}
