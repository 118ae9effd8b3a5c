package voice_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
)

// raw is a bare signalling socket for feeding the server bad input.
type raw struct {
	t  *testing.T
	ws *websocket.Conn
}

func (e *env) raw(t *testing.T, token string) *raw {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	r := &raw{t: t, ws: ws}
	if token != "" {
		r.send(`{"type":"auth","token":"` + token + `"}`)
		r.expect(wire.TypeHello, "")
	}
	return r
}

func (r *raw) send(s string) {
	r.t.Helper()
	if err := r.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// expect reads frames until one of type typ (and error code, if given).
func (r *raw) expect(typ, code string) wire.Frame {
	r.t.Helper()
	_ = r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := r.ws.ReadMessage()
		if err != nil {
			r.t.Fatalf("waiting for %s %s: %v", typ, code, err)
		}
		var f wire.Frame
		if err := json.Unmarshal(b, &f); err != nil {
			r.t.Fatalf("server sent bad JSON: %s", b)
		}
		if f.Type == typ && (code == "" || f.Code == code) {
			return f
		}
	}
}

// TestMalformedFrames: garbage is answered with an error naming the field;
// the session survives; nothing panics.
func TestMalformedFrames(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	r := e.raw(t, "tok-officer")
	cases := []struct{ frame, field string }{
		{`not json`, "frame"},
		{`{"type":"live","region":"abc"}`, "region"},
		{`{"type":"live","region":"653122","level":9}`, "level"},
		{`{"type":"live","region":"653122100","regions":["653122201","65312"]}`, "regions[1]"},
		{`{"type":"live","region":"653122100","alert_id":"../alerts"}`, "alert_id"},
		{`{"type":"join"}`, "room"},
		{`{"type":"join","room":"../../etc"}`, "room"},
		{`{"type":"offer","room":"x","pc":"pub","sdp":"hello"}`, "sdp"},
		{`{"type":"offer","room":"x","pc":"sub","sdp":"v=0"}`, "pc"},
		{`{"type":"candidate","room":"x","pc":"pub","candidate":{"candidate":"evil"}}`, "candidate.candidate"},
		{`{"type":"candidate","room":"x","pc":"pub"}`, "candidate"},
		{`{"type":"call","members":[]}`, "members"},
		{`{"type":"mute","room":"x"}`, "muted"},
		{`{"type":"teleport"}`, "type"},
		{`{"type":"ping","extra":1}`, "frame"},
		{`{"type":"ping"}{"type":"ping"}`, "frame"},
	}
	for _, c := range cases {
		r.send(c.frame)
		f := r.expect(wire.TypeError, "bad_frame")
		if f.Field != c.field {
			t.Errorf("%s: error names field %q (%s), want %q", c.frame, f.Field, f.Message, c.field)
		}
	}
	// Still alive and authenticated.
	r.send(`{"type":"ping","id":"p1"}`)
	if f := r.expect(wire.TypePong, ""); f.ID != "p1" {
		t.Errorf("pong id %q", f.ID)
	}
	// A valid offer for a room the session is not in, and a bad SDP in its
	// own live room: errors, no half-made state.
	r.send(`{"type":"offer","room":"live-nope","pc":"pub","sdp":"v=0\r\n"}`)
	r.expect(wire.TypeError, "publish_failed")
	r.send(`{"type":"live","region":"653122100"}`)
	room := r.expect(wire.TypeRoom, "").Room
	r.send(`{"type":"offer","room":"` + room + `","pc":"pub","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}`)
	f := r.expect(wire.TypeError, "publish_failed")
	if !strings.Contains(f.Message, "sdp") {
		t.Errorf("bad SDP error %q does not name the sdp", f.Message)
	}
	r.send(`{"type":"answer","room":"` + room + `","pc":"sub","sdp":"v=0\r\n"}`)
	r.expect(wire.TypeError, "not_joined")
	// An oversized frame closes that connection only.
	big := `{"type":"ping","id":"` + strings.Repeat("a", wire.MaxFrameSize) + `"}`
	_ = r.ws.WriteMessage(websocket.TextMessage, []byte(big))
	_ = r.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := r.ws.ReadMessage(); err != nil {
			break
		}
	}
	// Others are unaffected.
	r2 := e.raw(t, "tok-officer")
	r2.send(`{"type":"ping"}`)
	r2.expect(wire.TypePong, "")
	// The live room of the dropped socket ended with it.
	waitFor(t, "room of the dropped socket to end", 5*time.Second, func() bool { return len(e.srv.Rooms()) == 0 })
}

// TestAuthFirst: the first frame must authenticate; a silent socket is
// dropped; the Authorization header works for agents.
func TestAuthFirst(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	r := e.raw(t, "")
	r.send(`{"type":"live","region":"653122"}`)
	r.expect(wire.TypeError, "unauthenticated")

	h := http.Header{"Authorization": {"Bearer tok-field1"}}
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL, h)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer ws.Close()
	hr := &raw{t: t, ws: ws}
	if f := hr.expect(wire.TypeHello, ""); f.User != "field1" || f.Role != voice.RoleField {
		t.Errorf("hello = %+v", f)
	}
}

// TestICEFailureReported: a client that can never connect is told why, and
// its connection is removed.
func TestICEFailureReported(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) { c.ConnectTimeout = 1500 * time.Millisecond })
	officer := e.dial(t, "tok-officer", rtcclient.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := officer.GoLive(ctx, "653122100", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// A field page whose network offers no usable candidate: it answers the
	// offer with a pion connection that gathers nothing and drops the
	// server's candidates.
	r := e.raw(t, "tok-field1")
	r.send(`{"type":"join","room":"` + pub.Room + `"}`)
	offer := r.expect(wire.TypeOffer, "")
	se := webrtc.SettingEngine{}
	se.SetInterfaceFilter(func(string) bool { return false })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(wire.Frame{Type: wire.TypeAnswer, Room: pub.Room, PC: wire.PCSub, SDP: ans.SDP})
	r.send(string(b))
	f := r.expect(wire.TypeError, "ice_failed")
	if f.Room != pub.Room || f.PC != wire.PCSub || !strings.Contains(f.Message, "TURN") {
		t.Errorf("ice failure frame = %+v", f)
	}
	// The field member is out of the room; the announcement goes on.
	waitFor(t, "failed member removed", 5*time.Second, func() bool {
		for _, ri := range e.srv.Rooms() {
			for _, m := range ri.Members {
				if m.User == "field1" {
					return false
				}
			}
		}
		return true
	})
	if len(e.srv.Rooms()) != 1 {
		t.Errorf("live room ended with a listener's failure: %+v", e.srv.Rooms())
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := voice.New(voice.Config{}); err == nil || !strings.Contains(err.Error(), "Authenticate") {
		t.Errorf("New without Authenticate: %v", err)
	}
	auth := func(context.Context, string) (string, string, bool) { return "", "", false }
	if _, err := voice.New(voice.Config{Authenticate: auth, UDPPortMin: 5000, UDPPortMax: 4000}); err == nil {
		t.Error("inverted port range accepted")
	}
	if _, err := voice.New(voice.Config{Authenticate: auth, UDPMuxAddr: "not an address"}); err == nil {
		t.Error("bad UDPMuxAddr accepted")
	}
}

// TestPages: both pages are served, with a CSP and no third-party origin.
func TestPages(t *testing.T) {
	e := newEnv(t, nil)
	for path, want := range map[string]string{
		"/voice/":             "Go live",
		"/voice/field":        "Received",
		"/voice/voice.js":     "RTCPeerConnection",
		"/voice/cc.js":        "getUserMedia",
		"/voice/regions.json": "疏勒镇",
	} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, missing %q", path, resp.StatusCode, want)
		}
		if strings.Contains(body, "https://") {
			t.Errorf("%s loads something from the internet", path)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", path)
		}
	}
	for _, path := range []string{"/voice/nope.html", "/voice/../voice.go", "/voice/pages/index.html"} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestPublisherConnectionClosed: the publisher's peer connection closes
// (DTLS close) while its signalling socket stays open — the room ends and
// the loudspeakers are told, as when the socket drops.
func TestPublisherConnectionClosed(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := e.raw(t, "tok-officer")
	r.send(`{"type":"live","region":"653122100"}`)
	room := r.expect(wire.TypeRoom, "").Room
	lr := <-e.live.ch

	se := webrtc.SettingEngine{}
	wire.LoopbackSettings(&se)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "s")
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	b, _ := json.Marshal(wire.Frame{Type: wire.TypeOffer, Room: room, PC: wire.PCPub, SDP: pc.LocalDescription().SDP})
	r.send(string(b))
	ans := r.expect(wire.TypeAnswer, "")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	go func() { // the server's trickled candidates
		for {
			_, msg, err := r.ws.ReadMessage()
			if err != nil {
				return
			}
			var f wire.Frame
			if json.Unmarshal(msg, &f) == nil && f.Type == wire.TypeCandidate && f.Candidate != nil {
				_ = pc.AddICECandidate(*f.Candidate)
			}
		}
	}()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("publisher not connected")
	}
	c := newCounter()
	done := make(chan error, 1)
	go func() {
		done <- rtcclient.Join(ctx, e.wsURL, lr.Token, lr.ID, rtcclient.Config{Loopback: true}, c.onRTP)
	}()
	for seq := uint16(1); ; seq++ {
		_ = track.WriteRTP(opusPacket(seq))
		if c.n.Load() > 5 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no audio")
		case <-time.After(20 * time.Millisecond):
		}
	}
	pc.Close() // the socket stays open
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Join = %v, want nil (room ended)", err)
		}
	case <-ctx.Done():
		t.Fatal("subscriber not told the publisher's connection closed")
	}
}

func TestHTTPAudio(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/audio/"+sha+".pcmu" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(programme())
	}))
	defer hs.Close()
	a := &voice.HTTPAudio{BaseURL: hs.URL + "/"}
	rc, err := a.OpenPCMU(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if len(b) != len(programme()) {
		t.Errorf("got %d bytes", len(b))
	}
	if _, err := a.OpenPCMU(context.Background(), strings.Repeat("cd", 32)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing programme: %v", err)
	}
	if _, err := a.OpenPCMU(context.Background(), "../../etc/passwd"); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("bad hash: %v", err)
	}
}
