package dispatch

import (
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// MessageOf is the channel view of a warning version (without audio).
func MessageOf(a *Alert) *channels.Message {
	texts := make(map[string]channels.Text, len(a.Text))
	for l, t := range a.Text {
		texts[l] = channels.Text(t)
	}
	sent := a.IssuedAt
	if sent.IsZero() {
		sent = a.UpdatedAt
	}
	return &channels.Message{
		Key: a.Key(), AlertID: a.ID, Version: a.Version, Kind: a.Kind,
		Level: a.Level, Event: a.Event, Status: a.Status,
		Sent: sent, Expires: a.Expires, Area: append([]string(nil), a.Area.Codes...), Texts: texts,
		Reason: messageReason(a), Changes: messageChanges(a),
	}
}

// messageReason is the reason residents are told: only a cancel's or an
// all-clear's (an approval or rejection note is not theirs to read).
func messageReason(a *Alert) string {
	if a.Kind == warning.KindCancel || a.Kind == warning.KindAllClear {
		return a.Reason
	}
	return ""
}

func messageChanges(a *Alert) []string {
	if a.Kind != warning.KindUpdate {
		return nil
	}
	out := make([]string, 0, len(a.Changes))
	for _, c := range a.Changes {
		out = append(out, string(c))
	}
	return out
}
