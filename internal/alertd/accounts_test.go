package alertd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
)

// Two alertd nodes on one Redis and one database: a user name locked out
// by wrong passwords on node A is locked out on node B; a session started
// on A works on B, and logging out on B ends it on A.
func TestTwoNodesShareLoginThrottleAndSessions(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a := startServer(t, func(c *Config) { c.DB = db; c.Login.UserFailures = 3 })
	b := startServer(t, func(c *Config) {
		c.DB = db
		c.Redis = a.Redis.URL()
		c.AuditKeyFile = filepath.Join(a.cfg.DataDir, "audit.key") // one audit chain, one key
		c.Roles = []string{"api"}
		c.Login.UserFailures = 3
	})
	mustCall(t, a.Base, "POST", "/api/v1/users", testAdminToken, map[string]string{"name": "olga", "role": "operator", "password": "correct horse battery"}, 201)
	mustCall(t, a.Base, "POST", "/api/v1/users", testAdminToken, map[string]string{"name": "ivan", "role": "operator", "password": "correct horse battery"}, 201)

	login := func(base, name, pw string) *http.Response {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"name": name, "password": pw})
		resp, err := http.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 3 {
		if r := login(a.Base, "olga", "wrong password"); r.StatusCode != 401 {
			t.Fatalf("wrong password on A: %d", r.StatusCode)
		}
	}
	if r := login(b.Base, "olga", "correct horse battery"); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("locked-out user on node B: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}

	r := login(a.Base, "ivan", "correct horse battery")
	if r.StatusCode != 200 {
		t.Fatalf("login on A: %d", r.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "alertcast_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	me := func(base string) int {
		req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if me(b.Base) != 200 {
		t.Fatal("a session started on A must work on B")
	}
	req, _ := http.NewRequest("POST", b.Base+"/api/v1/logout", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if me(a.Base) != 401 {
		t.Fatal("logout on B must end the session on A")
	}
}
