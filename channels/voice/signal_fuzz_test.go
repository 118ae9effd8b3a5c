package voice

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/alertcast/alertcast/warning"
)

var frameSeeds = []string{
	`{"type":"auth","token":"abc"}`,
	`{"type":"live","region":"653122100","level":4}`,
	`{"type":"live","region":"653122100","regions":["653122201","653122100001"],"alert_id":"AC-2026-0042","level":1}`,
	`{"type":"call","members":["field1","field2"]}`,
	`{"type":"join","room":"live-0123456789abcdef","device":"spk-1"}`,
	`{"type":"offer","room":"call-1","pc":"pub","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}`,
	`{"type":"answer","room":"live-1","pc":"sub","sdp":"v=0\r\n"}`,
	`{"type":"candidate","room":"live-1","pc":"sub","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
	`{"type":"candidate","room":"live-1","pc":"pub","candidate":{"candidate":""}}`,
	`{"type":"mute","room":"live-1","muted":true}`,
	`{"type":"ack","ring":"ring-1"}`,
	`{"type":"decline","ring":"ring-1"}`,
	`{"type":"leave","room":"x"}`,
	`{"type":"end","room":"x"}`,
	`{"type":"ping","id":"c1"}`,
	`{"type":"approve","id":"a1","request":"req-0123456789abcdef"}`,
	`{"type":"deny","request":"req-1","reason":"not now"}`,
	`{"type":"approve"}`,
	`{}`, `[]`, `null`, `{"type":1}`, "\xff\xfe", `{"type":"join","room":""}`,
}

// FuzzParseFrame: no input panics; every refusal names a field; every
// accepted frame re-encodes to a frame that is accepted again, the same.
func FuzzParseFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			var fe *warning.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || !errors.Is(err, errFrame) {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		fr2, err := ParseFrame(again)
		if err != nil {
			t.Fatalf("re-encoded frame refused: %v\n%s", err, again)
		}
		if fr2.Type != fr.Type || fr2.Room != fr.Room || fr2.SDP != fr.SDP || fr2.Region != fr.Region ||
			fr2.AlertID != fr.AlertID || len(fr2.Regions) != len(fr.Regions) {
			t.Fatalf("round trip changed the frame: %+v vs %+v", fr, fr2)
		}
	})
}

func TestParseFrameSeeds(t *testing.T) {
	valid := 0
	for _, s := range frameSeeds {
		if _, err := ParseFrame([]byte(s)); err == nil {
			valid++
		}
	}
	if valid != 17 {
		t.Errorf("%d seeds valid, want 17", valid)
	}
}

// TestTURNCredentials checks the TURN REST scheme against a value computed
// by hand: coturn accepts username "<expiry>:<user>" with password
// base64(HMAC-SHA1(secret, username)).
func TestTURNCredentials(t *testing.T) {
	tc := &TURNConfig{URLs: []string{"turn:turn.example.org:3478"}, Secret: "s3cret", TTL: time.Hour}
	got := tc.credentials("field1", time.Unix(1700000000, 0))
	if got.Username != "1700003600:field1" {
		t.Errorf("username %q", got.Username)
	}
	// printf '1700003600:field1' | openssl dgst -sha1 -hmac s3cret -binary | base64
	if got.Credential != "CeTd3E1Th8McCp50qC/r767sctY=" {
		t.Errorf("credential %v", got.Credential)
	}
}
