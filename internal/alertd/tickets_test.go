package alertd

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The console's WebSocket authenticates with a one-use, 30-second ticket
// minted by its cookie session (with CSRF) or a bearer token.
func TestTicketsForWebSockets(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Outbox = []string{"speaker", "sms", "voice"} })
	mint := func(hdr http.Header) (int, map[string]any) {
		req, _ := http.NewRequest("POST", ts.Base+"/api/v1/tickets", nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if st, _ := mint(nil); st != 401 {
		t.Fatalf("no credentials: %d", st)
	}
	st, out := mint(http.Header{"Authorization": {"Bearer " + testAdminToken}})
	if st != 201 || out["expires_in"] != float64(30) || !strings.HasPrefix(out["ticket"].(string), "tkt_") {
		t.Fatalf("bearer: %d %v", st, out)
	}
	ticket := out["ticket"].(string)
	// The ticket is stored hashed, with its 30 s lifetime.
	keys, err := ts.redis.Client.Keys(context.Background(), ticketKeyPrefix+"*").Result()
	if err != nil || len(keys) != 1 || strings.Contains(keys[0], ticket) {
		t.Fatalf("ticket keys %v %v", keys, err)
	}
	if ttl := ts.redis.Client.TTL(context.Background(), keys[0]).Val(); ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("ticket TTL %v", ttl)
	}

	// Cookie session: the ticket needs the CSRF header like any POST.
	resp, err := http.Post(ts.Base+"/api/v1/login", "application/json", strings.NewReader(`{"token":"`+testAdminToken+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "alertcast_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	if st, _ := mint(http.Header{"Cookie": {cookie}}); st != 403 {
		t.Fatalf("cookie without CSRF: %d, want 403", st)
	}
	csrf, _ := login["csrf"].(string)
	if st, out := mint(http.Header{"Cookie": {cookie}, "X-Csrf-Token": {csrf}}); st != 201 || out["ticket"] == "" {
		t.Fatalf("cookie with CSRF: %d %v", st, out)
	}

	wsURL := "ws://" + ts.Addr + "/ws?progress=1&all=1&ticket="
	dial := func(u string) int {
		c, resp, err := websocket.DefaultDialer.Dial(u, nil)
		if err == nil {
			c.Close()
			return 101
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if st := dial(wsURL + ticket); st != 101 {
		t.Fatalf("console socket with ticket: %d", st)
	}
	if st := dial(wsURL + ticket); st != 401 {
		t.Fatalf("ticket reused: %d, want 401", st)
	}
	if st := dial(wsURL + testAdminToken); st != 401 {
		t.Fatalf("API token as a ticket: %d, want 401", st)
	}
	if st := dial("ws://" + ts.Addr + "/ws?progress=1&all=1&token=" + testAdminToken); st != 400 {
		t.Fatalf("token in the URL: %d, want 400", st)
	}

	// Voice: a ticket works in the auth frame, once.
	vs := ticketStore{rdb: ts.redis.Client}
	tk, err := vs.Issue(context.Background(), "admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ts.creds.voice(context.Background(), tk); ok {
		t.Fatal("a ticket with an unknown role was accepted")
	}
	st, out = mint(http.Header{"Authorization": {"Bearer " + testAdminToken}})
	if st != 201 {
		t.Fatal(st)
	}
	name, _, ok := ts.creds.voice(context.Background(), out["ticket"].(string))
	if !ok || name != "admin" {
		t.Fatalf("voice ticket: %q %v", name, ok)
	}
	if _, _, ok := ts.creds.voice(context.Background(), out["ticket"].(string)); ok {
		t.Fatal("voice ticket reused")
	}
	if name, _, ok := ts.creds.voice(context.Background(), testAdminToken); !ok || name != "admin" {
		t.Fatal("a typed API token must still work for voice")
	}
}
