package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestEveryCommandHasHelp: each benchmark answers "help NAME" and --help
// with its usage and exit status 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for name, c := range commands {
		if c.summary == "" || c.synopsis == "" {
			t.Errorf("%s: no summary or synopsis", name)
		}
		if err := run(context.Background(), []string{name, "--help"}); err != nil {
			t.Errorf("%s --help: %v", name, err)
		}
	}
	if err := run(context.Background(), []string{"bench", "ws"}); err == nil || !strings.Contains(err.Error(), `unknown command "bench"`) {
		t.Errorf("unknown command: %v", err)
	}
}

// TestSpineDecodesTheAPI: the spine benchmark issues, cancels and follows a
// warning through the REST API with the token, and finishes when the
// server says the warning is done.
func TestSpineDecodesTheAPI(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/v1/alerts":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "a1"})
		case r.Method == "POST" && r.URL.Path == "/api/v1/alerts/a1/cancel":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "a1"})
		case r.Method == "GET" && r.URL.Path == "/api/v1/alerts/a1":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "a1", "channels": []string{"sms"},
				"plans": map[string]any{"sms": map[string]int{"recipients": 3}}, "progress": map[string]any{"sms": map[string]int{"planned": 3}},
				"overall": map[string]any{"phase": "done"}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("ALERTCAST_URL", srv.URL)
	t.Setenv("ALERTCAST_TOKEN", "tok")
	if err := run(context.Background(), []string{"spine", "--residents", "0", "--accept-samples", "1"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "POST /api/v1/alerts,POST /api/v1/alerts/a1/cancel,POST /api/v1/alerts,GET /api/v1/alerts/a1"
	if got := strings.Join(seen, ","); got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}
