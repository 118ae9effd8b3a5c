package channels

import "testing"

func TestStateNames(t *testing.T) {
	for _, tc := range []struct {
		s           State
		name        string
		final, done bool
	}{
		{StatePlanned, "planned", false, false},
		{StateSent, "sent", false, true},
		{StateDelivered, "delivered", true, true},
		{StateFailed, "failed", true, false},
		{StateExpired, "expired", true, false},
		{StateRevoked, "revoked", true, false},
		// The outbox: final (nothing more happens) and done (never
		// recorded twice), yet nobody was reached.
		{StateNotSent, "not_sent", true, true},
	} {
		if tc.s.String() != tc.name || tc.s.Final() != tc.final || tc.s.Done() != tc.done {
			t.Errorf("%d: %q final=%v done=%v, want %q %v %v", tc.s, tc.s, tc.s.Final(), tc.s.Done(), tc.name, tc.final, tc.done)
		}
		if got, err := ParseState(tc.name); err != nil || got != tc.s {
			t.Errorf("ParseState(%q) = %v, %v", tc.name, got, err)
		}
	}
	if _, err := ParseState("outbox"); err == nil {
		t.Error("ParseState accepted an unknown name")
	}
	if State(99).String() != "unknown" || StateUnknown.Final() || StateUnknown.Done() {
		t.Error("out-of-range and unknown states")
	}
}
