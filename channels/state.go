package channels

import "github.com/alertcast/alertcast/warning"

// State is the state of one delivery (one recipient of one warning version on
// one channel). States only move forward: Planned → Sent → Delivered, or to
// Failed / Expired / Revoked from any state before Delivered. NotSent is the
// final state of a dry run (package dryrun, standing in for a channel that is
// not configured): the message was recorded exactly as it would have gone
// out, and nobody received it.
type State int

const (
	StateUnknown   State = iota
	StatePlanned         // recorded, not yet attempted
	StateSent            // handed to the gateway / device / socket
	StateDelivered       // confirmed: DLR delivered, speaker played, call acknowledged
	StateFailed          // gave up: permanent error or retries exhausted
	StateExpired         // the warning expired before delivery
	StateRevoked         // the warning was cancelled before delivery
	StateNotSent         // recorded by a dry run instead of sent: no real channel is configured
)

var stateNames = [...]string{"unknown", "planned", "sent", "delivered", "failed", "expired", "revoked", "not_sent"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if i > 0 && n == s {
			return State(i), nil
		}
	}
	return StateUnknown, &warning.FieldError{Field: "state", Rule: "one of planned, sent, delivered, failed, expired, revoked, not_sent", Value: s}
}

// Final reports whether no further change is expected.
func (s State) Final() bool {
	return s == StateDelivered || s == StateFailed || s == StateExpired || s == StateRevoked || s == StateNotSent
}

// Done reports whether the channel finished with the recipient (sent or
// better, or recorded in the outbox), so a re-run must not send to it again.
// It does not mean the recipient was reached: NotSent is Done and reached
// nobody.
func (s State) Done() bool { return s == StateSent || s == StateDelivered || s == StateNotSent }

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
