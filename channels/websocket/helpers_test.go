package websocket

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

var tree = targeting.DefaultTree()

const (
	county   = "653122"
	township = "653122100"    // 疏勒镇
	village  = "653122100001" // 新市区社区, in 疏勒镇
	otherTwn = "653122201"
	otherVil = "653122201200"
)

// checkLeaks fails the test if goroutines of this package outlive it. Call
// it first so its cleanup runs last (cleanups run in reverse order).
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := leakedGoroutines()
			if leaked == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked:\n%s", leaked)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "alertcast/channels/websocket.") && !strings.Contains(g, "testing.tRunner") &&
			!strings.Contains(g, "leakedGoroutines") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

type testNode struct {
	hub *Hub
	srv *httptest.Server
	rdb *redis.Client
}

func (n *testNode) wsURL(q string) string {
	return "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/ws" + q
}

// newNode starts a hub on addr (a redis-server) behind an httptest server.
func newNode(t testing.TB, addr string, tweak func(*Config)) *testNode {
	t.Helper()
	return newNodeListener(t, addr, tweak, nil)
}

// smallSendBuffers makes every accepted connection's kernel send buffer
// tiny, so a client that stops reading blocks the server's writes at once.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func newNodeListener(t testing.TB, addr string, tweak func(*Config), wrap func(net.Listener) net.Listener) *testNode {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	cfg := Config{
		Redis: rdb, Regions: tree.Scopes(), Registry: prometheus.NewRegistry(),
		Authenticate: func(_ context.Context, tok string) (string, bool) {
			return "operator", tok == "console-secret"
		},
		MaxConnsPerIP: -1, PublicRate: -1,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", h.Handler())
	mux.Handle("/sse", h.SSEHandler())
	mux.Handle("/r/", h.PageHandler())
	srv := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	n := &testNode{hub: h, srv: srv, rdb: rdb}
	t.Cleanup(func() {
		_ = h.Close()
		srv.CloseClientConnections()
		srv.Close()
		_ = rdb.Close()
	})
	return n
}

var msgSeq atomic.Int64

// msg is a warning aimed at area, new id each call unless alertID given.
func msg(alertID string, version int, kind warning.Kind, level int, area ...string) *channels.Message {
	if alertID == "" {
		alertID = fmt.Sprintf("a%d", msgSeq.Add(1))
	}
	return &channels.Message{
		Key: fmt.Sprintf("%s/v%d", alertID, version), AlertID: alertID, Version: version, Kind: kind,
		Level: warning.Level(level), Event: warning.EventSandstorm, Status: warning.StatusActual,
		Sent: time.Now(), Expires: time.Now().Add(time.Hour), Area: area,
		Texts: map[string]channels.Text{
			"zh": {Headline: "疏勒县沙尘暴预警 " + alertID, Description: "预计今天下午有强沙尘暴。", Instruction: "请关好门窗，减少外出。"},
			"ug": {Headline: "قۇم بورىنى ئاگاھلاندۇرۇشى " + alertID, Description: "بۈگۈن چۈشتىن كېيىن كۈچلۈك قۇم بورىنى بولىدۇ.", Instruction: "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."},
		},
	}
}

func send(t *testing.T, h *Hub, m *channels.Message) channels.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.Send(ctx, m, []channels.Recipient{{ID: "broadcast"}})
	if err != nil {
		t.Fatalf("Send %s: %v", m.Key, err)
	}
	if len(res) != 1 || res[0].State != channels.StateDelivered {
		t.Fatalf("Send %s: results %+v", m.Key, res)
	}
	return res[0]
}

// inFrame is any server frame, decoded loosely.
type inFrame struct {
	Type     string     `json:"type"`
	ID       string     `json:"id"`
	AlertID  string     `json:"alert_id"`
	Version  int        `json:"version"`
	Lifted   bool       `json:"lifted"`
	Reset    bool       `json:"reset"`
	Reason   string     `json:"reason"`
	Missed   int        `json:"missed"`
	Warnings []*Warning `json:"warnings"`
	Ended    []*Warning `json:"ended"`
	Texts    map[string]channels.Text
	Code     string `json:"code"`
	Field    string `json:"field"`
	Message  string `json:"message"`
	Progress any    `json:"progress"`
}

type client struct {
	t    *testing.T
	c    *websocket.Conn
	in   chan inFrame
	done chan error // the close error
}

func dial(t *testing.T, url string, hdr http.Header) *client {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	cl := &client{t: t, c: c, in: make(chan inFrame, 1024), done: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				cl.done <- err
				close(cl.in)
				return
			}
			var f inFrame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("bad frame %q: %v", b, err)
			}
			cl.in <- f
		}
	}()
	t.Cleanup(func() { _ = c.Close() })
	return cl
}

func (cl *client) subscribe(v map[string]any) {
	cl.t.Helper()
	v["type"] = "subscribe"
	if err := cl.c.WriteJSON(v); err != nil {
		cl.t.Fatal(err)
	}
}

// next returns the next frame of type typ, skipping "subscribed".
func (cl *client) next(typ string) inFrame {
	cl.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-cl.in:
			if !ok {
				cl.t.Fatalf("connection closed waiting for %s: %v", typ, <-cl.done)
			}
			if f.Type == "subscribed" && typ != "subscribed" {
				continue
			}
			if f.Type != typ {
				cl.t.Fatalf("got %s frame %+v, want %s", f.Type, f, typ)
			}
			return f
		case <-timeout:
			cl.t.Fatalf("no %s frame within 10s", typ)
		}
	}
}

// quiet asserts no frame (other than subscribed) arrives for d.
func (cl *client) quiet(d time.Duration) {
	cl.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-cl.in:
			if !ok {
				return
			}
			if f.Type != "subscribed" {
				cl.t.Fatalf("unexpected %s frame %+v", f.Type, f)
			}
		case <-timeout:
			return
		}
	}
}

// closed waits for the server to close the connection and returns the code.
func (cl *client) closed() int {
	cl.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-cl.in:
			if ok {
				continue
			}
			err := <-cl.done
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			return -1
		case <-timeout:
			cl.t.Fatal("connection not closed within 10s")
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsvc.WaitFor(t, 10*time.Second, what, cond)
}
