package sms_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/warning"
)

func TestParseDLR(t *testing.T) {
	cases := []struct {
		in      string
		id      string
		state   channels.State
		detail  string
		wantErr string
	}{
		{"id:0123456789 sub:001 dlvrd:001 submit date:2604010800 done date:2604010801 stat:DELIVRD err:000 text:hello", "0123456789", channels.StateDelivered, "DELIVRD", ""},
		{"id:abc sub:001 dlvrd:000 submit date:2604010800 done date:2604010900 stat:UNDELIV err:012 Text:", "abc", channels.StateFailed, "UNDELIV err:012", ""},
		{"ID:7f STAT:expired ERR:0", "7f", channels.StateExpired, "EXPIRED", ""},
		{"stat:REJECTD err:101 id:42", "42", channels.StateFailed, "REJECTD err:101", ""},
		{"id:9 stat:ENROUTE", "9", channels.StateSent, "ENROUTE", ""},
		{"id:9 stat:DELIVRD text:id:1 stat:UNDELIV", "9", channels.StateDelivered, "DELIVRD", ""}, // text may contain anything
		{"hello world", "", 0, "", "receipt.id"},
		{"id:1 sub:001", "", 0, "", "receipt.stat"},
		{"id:1 stat:GREAT", "", 0, "", "receipt.stat"},
		{"paid:1 stat:DELIVRD", "", 0, "", "receipt.id"},
	}
	for _, tc := range cases {
		d, err := sms.ParseDLR(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want one naming %s", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if d.ID != tc.id || d.State() != tc.state || d.Detail() != tc.detail {
			t.Errorf("%q: id %q state %s detail %q", tc.in, d.ID, d.State(), d.Detail())
		}
	}
}

func FuzzParseDLR(f *testing.F) {
	f.Add("id:0123456789 sub:001 dlvrd:001 submit date:2604010800 done date:2604010801 stat:DELIVRD err:000 text:hello")
	f.Add("id: stat:")
	f.Add("ID:1 STAT:undeliv ERR:")
	f.Add("text:id:1 stat:DELIVRD")
	f.Add("id:\x00\xff stat:DELIVRD")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := sms.ParseDLR(s)
		if err != nil {
			return
		}
		if d.ID == "" || strings.ContainsAny(d.ID, " ") {
			t.Fatalf("accepted id %q", d.ID)
		}
		if d.State() == channels.StateUnknown {
			t.Fatalf("accepted stat %q", d.Stat)
		}
		// A receipt formatted from the parsed fields parses to the same.
		again, err := sms.ParseDLR(fmt.Sprintf("id:%s stat:%s err:%s", d.ID, d.Stat, strings.ReplaceAll(d.Err, " ", "")))
		if err != nil || again.ID != d.ID || again.Stat != d.Stat {
			t.Fatalf("round trip of %+v: %+v %v", d, again, err)
		}
	})
}

func FuzzParseKannelDLR(f *testing.F) {
	f.Add("gw=kannel&id=abc-1&type=1&reply=id%3A1+stat%3ADELIVRD")
	f.Add("gw=kannel&id=abc-1&type=16")
	f.Add("gw=&id=&type=")
	f.Add("gw=k&id=1&type=3")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		d, err := sms.ParseKannelDLR(q)
		if err != nil {
			var fe *warning.FieldError
			if !asFieldError(err, &fe) {
				t.Fatalf("error %v is not a FieldError", err)
			}
			return
		}
		if d.Gateway == "" || d.ID == "" {
			t.Fatalf("accepted %+v", d)
		}
		st, _ := d.State()
		if st == channels.StateUnknown {
			t.Fatalf("type %d maps to unknown", d.Type)
		}
	})
}

// FuzzDLRHandler throws arbitrary query strings and bodies at the mounted
// handler: it answers 204 or 4xx, never 5xx, never panics.
func FuzzDLRHandler(f *testing.F) {
	c := newChannel(f, sms.Config{Gateways: []sms.GatewayConfig{
		{Name: "kannel", Type: "kannel", URL: "http://127.0.0.1:1/cgi-bin/sendsms"},
		{Name: "cloud", Type: "webhook", URL: "http://127.0.0.1:1/send", HMACSecret: "topsecret"},
	}}, channels.Discard, nil)
	h := c.DLRHandler()
	f.Add("GET", "gw=kannel&id=abc-1&type=1&reply=id%3A1+stat%3ADELIVRD", "")
	f.Add("GET", "gw=nope&id=1&type=2", "")
	f.Add("POST", "gw=cloud", `{"message_id":"x","status":"delivered"}`)
	f.Add("PUT", "", "")
	f.Fuzz(func(t *testing.T, method, query, body string) {
		if method != "GET" && method != "POST" {
			method = "PUT"
		}
		req := httptest.NewRequest(method, "/sms/dlr?"+url.PathEscape(query), strings.NewReader(body))
		req.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 || (w.Code != http.StatusNoContent && w.Code < 400) {
			t.Fatalf("%s ?%s → %d", method, query, w.Code)
		}
	})
}

func asFieldError(err error, fe **warning.FieldError) bool {
	return errors.As(err, fe)
}
