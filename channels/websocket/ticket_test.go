package websocket

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// A console authenticates with a one-use ticket in the URL, never with its
// token there; a ticket is redeemed once.
func TestConsoleTicketsNotTokensInURL(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	var mu sync.Mutex
	unused := map[string]bool{"tkt_good": true}
	n := newNode(t, r.Addr, func(c *Config) {
		c.RedeemTicket = func(_ context.Context, tk string) (string, bool) {
			mu.Lock()
			defer mu.Unlock()
			ok := unused[tk]
			delete(unused, tk)
			return "operator", ok
		}
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
	q := "?region=" + village + "&progress=1&all=1"
	if s := status(n.wsURL(q+"&token=console-secret"), nil); s != 400 {
		t.Errorf("token in the URL: %d, want 400", s)
	}
	if s := status(n.wsURL(q+"&ticket=console-secret"), nil); s != 401 {
		t.Errorf("an API token passed as a ticket: %d, want 401", s)
	}
	if s := status(n.wsURL(q+"&ticket=tkt_good"), nil); s != 101 {
		t.Errorf("ticket: %d, want 101", s)
	}
	if s := status(n.wsURL(q+"&ticket=tkt_good"), nil); s != 401 {
		t.Errorf("ticket used twice: %d, want 401", s)
	}
	if s := status(n.wsURL(q), http.Header{"Authorization": {"Bearer console-secret"}}); s != 101 {
		t.Errorf("bearer header: %d, want 101", s)
	}
	// A console-only subscription without credentials is refused as before.
	if s := status(n.wsURL(q), nil); s == 101 {
		t.Errorf("console subscription without credentials accepted")
	}
}
