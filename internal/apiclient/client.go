// Package apiclient is the small client of alertd's REST API that the
// command-line tools share (alertctl, alertbench): the URL and token from
// ALERTCAST_URL and ALERTCAST_TOKEN, JSON in and out, and alertd's error
// answer as one readable Go error. It holds no state between calls and
// never logs the token.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Client talks to alertd's REST API.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8080, no trailing slash
	Token string // bearer token; empty sends none
	HTTP  *http.Client
}

// FromEnv is the client of ALERTCAST_URL (default http://127.0.0.1:8080)
// with ALERTCAST_TOKEN.
func FromEnv() *Client {
	base := os.Getenv("ALERTCAST_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	return &Client{Base: strings.TrimSuffix(base, "/"), Token: os.Getenv("ALERTCAST_TOKEN"), HTTP: &http.Client{Timeout: 10 * time.Minute}}
}

// Error is an error answer from alertd, with the fields it names.
type Error struct {
	Status   int
	Code     string `json:"code"`
	Message  string `json:"message"`
	Problems []struct {
		Field string `json:"field"`
		Rule  string `json:"rule"`
		Value string `json:"value"`
	} `json:"problems"`
}

// selfDescribing are the codes whose messages say what happened on their
// own ("not found", "conflict: warning is already cancelled", "invalid
// warning: …"): prefixing the code again would say it twice.
var selfDescribing = map[string]bool{"not_found": true, "conflict": true, "validation": true, "bad_json": true, "internal": true, "forbidden": true}

// Error reads as one sentence: the server's message, with the code in
// front only where the message does not already say it.
func (e *Error) Error() string {
	var b strings.Builder
	msg := strings.TrimSpace(e.Message)
	words := strings.ReplaceAll(e.Code, "_", " ")
	switch {
	case e.Code == "http" || e.Code == "":
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if msg != "" {
			b.WriteString(": " + msg)
		}
	case msg == "":
		b.WriteString(words)
	case selfDescribing[e.Code] || strings.HasPrefix(strings.ToLower(msg), words):
		b.WriteString(msg)
	default:
		b.WriteString(words + ": " + msg)
	}
	if len(e.Problems) > 1 {
		for _, p := range e.Problems {
			fmt.Fprintf(&b, "\n  %s: %s", p.Field, p.Rule)
			if p.Value != "" {
				fmt.Fprintf(&b, " (got %q)", p.Value)
			}
		}
	}
	return b.String()
}

// Do sends body (nil, []byte, io.Reader or a value to encode as JSON) and
// decodes a JSON answer into out (if not nil). hdr are extra header
// name/value pairs. An answer of 400 or more is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body any, out any, hdr ...string) error {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd, ctype = b, "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach alertd at %s (set ALERTCAST_URL): %w", c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			e.Error.Status = resp.StatusCode
			if resp.StatusCode == 401 && c.Token == "" {
				e.Error.Message += " (set ALERTCAST_TOKEN)"
			}
			return &e.Error
		}
		if resp.StatusCode == 422 && out != nil {
			// Import reports come back as 422 with the report as body.
			_ = json.Unmarshal(raw, out)
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(raw))}
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}
