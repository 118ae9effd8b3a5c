package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// The users commands call the right endpoints, and passwd reads the
// passwords from standard input, never from the command line.
func TestUsersCommands(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.EscapedPath()+" "+strings.TrimSpace(string(b))+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"name": "olga", "token": "act_new"})
	}))
	defer srv.Close()
	t.Setenv("ALERTCAST_URL", srv.URL)
	t.Setenv("ALERTCAST_TOKEN", "admintoken")
	stdin := func(s string) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.WriteString(s)
		w.Close()
		old := os.Stdin
		os.Stdin = r
		t.Cleanup(func() { os.Stdin = old; r.Close() })
	}
	ctx := context.Background()
	for _, args := range [][]string{{"users", "disable", "olga"}, {"users", "enable", "olga"}, {"users", "rotate", "olga"}} {
		if err := run(ctx, args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	stdin("old secret pw\nnew secret passphrase\n")
	if err := run(ctx, []string{"users", "passwd", "--old", "olga"}); err != nil {
		t.Fatal(err)
	}
	stdin("")
	if err := run(ctx, []string{"users", "passwd", "olga"}); err == nil || !strings.Contains(err.Error(), "new password") {
		t.Fatalf("empty stdin: %v", err)
	}
	want := []string{
		"POST /api/v1/users/olga/disable  Bearer admintoken",
		"POST /api/v1/users/olga/enable  Bearer admintoken",
		"POST /api/v1/users/olga/rotate-token  Bearer admintoken",
		`POST /api/v1/users/olga/password {"old_password":"old secret pw","password":"new secret passphrase"} Bearer admintoken`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := run(ctx, []string{"users", "disable"}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("missing name: %v", err)
	}
}
