package apiclient

import "testing"

// TestErrorText: alertd's error answers read as one sentence, the code in
// front only where the message does not already say it.
func TestErrorText(t *testing.T) {
	type pr = struct {
		Field string `json:"field"`
		Rule  string `json:"rule"`
		Value string `json:"value"`
	}
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{Status: 404, Code: "not_found", Message: "not found"}, "not found"},
		{Error{Status: 409, Code: "conflict", Message: "conflict: warning is already allclear"}, "conflict: warning is already allclear"},
		{Error{Status: 422, Code: "validation", Message: "invalid warning: level: unknown"}, "invalid warning: level: unknown"},
		{Error{Status: 401, Code: "unauthorized", Message: "bad credentials"}, "unauthorized: bad credentials"},
		{Error{Status: 413, Code: "too_large", Message: "CSV over 2 GiB"}, "too large: CSV over 2 GiB"},
		{Error{Status: 502, Code: "http", Message: "Bad Gateway"}, "HTTP 502: Bad Gateway"},
		{Error{Status: 502, Code: "http"}, "HTTP 502"},
		{Error{Status: 422, Code: "validation", Message: "invalid warning: 2 problems", Problems: []pr{{"level", "required", ""}, {"area.codes", "unknown code", "999"}}},
			"invalid warning: 2 problems\n  level: required\n  area.codes: unknown code (got \"999\")"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}
