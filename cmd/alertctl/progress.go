package main

import (
	"fmt"
	"sort"
	"strings"
)

// channelProgress and overallProgress mirror dispatch.Progress and
// dispatch.Overall: alertctl shows the server's figures and computes none
// of its own, so it agrees with the console and the API.
type channelProgress struct {
	Mode        string `json:"mode"`
	Planned     int    `json:"planned"`
	Queued      int    `json:"queued"`
	Sent        int    `json:"sent"`
	Unconfirmed int    `json:"unconfirmed"`
	Held        int    `json:"held"`
	Delivered   int    `json:"delivered"`
	Failed      int    `json:"failed"`
	Expired     int    `json:"expired"`
	Revoked     int    `json:"revoked"`
	NotSent     int    `json:"not_sent"`
	Done        int    `json:"done"`
	Percent     *int   `json:"percent"`
}

type overallProgress struct {
	Phase       string   `json:"phase"`
	Percent     *int     `json:"percent"`
	Planned     int      `json:"planned"`
	Done        int      `json:"done"`
	Delivered   int      `json:"delivered"`
	Unconfirmed int      `json:"unconfirmed"`
	Held        int      `json:"held"`
	NotSent     int      `json:"not_sent"`
	Outbox      []string `json:"outbox"`
}

// progressLines renders a warning's progress: one overall line, one line
// per channel. A channel recorded to the outbox says NOT SENT in capitals:
// nothing reached anyone.
func progressLines(a *alertView) []string {
	ov := a.Overall
	var out []string
	head := "  overall    "
	switch {
	case ov.Phase == "planning":
		head += "planning (audience being written; no percentage yet)"
	case ov.Phase == "not_dispatched":
		head += "not dispatched"
	case ov.Percent != nil:
		head += fmt.Sprintf("%s %3d%% %s  delivered %d of %d", bar(*ov.Percent), *ov.Percent, ov.Phase, ov.Delivered, ov.Planned)
	}
	if ov.Held > 0 {
		head += fmt.Sprintf("  held for offline speakers %d", ov.Held)
	}
	if ov.Unconfirmed > 0 {
		head += fmt.Sprintf("  unconfirmed %d", ov.Unconfirmed)
	}
	if len(ov.Outbox) > 0 {
		head += fmt.Sprintf("  NOT SENT (outbox: %s) %d", strings.Join(ov.Outbox, ", "), ov.NotSent)
	}
	out = append(out, head)
	chs := make([]string, 0, len(a.Progress))
	for ch := range a.Progress {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	for _, ch := range chs {
		p := a.Progress[ch]
		if p.Mode == "outbox" {
			out = append(out, fmt.Sprintf("  %-10s NOT SENT (outbox): no %s channel configured; %d of %d recorded in the outbox, delivered 0",
				ch, ch, p.NotSent, p.Planned))
			continue
		}
		if p.Percent == nil {
			out = append(out, fmt.Sprintf("  %-10s planning", ch))
			continue
		}
		l := fmt.Sprintf("  %-10s %s %3d%%  planned %d  queued %d  sent %d  delivered %d  failed %d", ch, bar(*p.Percent), *p.Percent, p.Planned, p.Queued, p.Sent, p.Delivered, p.Failed)
		for _, x := range []struct {
			n    int
			name string
		}{{p.Held, "held (offline; plays when back)"}, {p.Unconfirmed, "unconfirmed"}, {p.Expired, "expired"}, {p.Revoked, "revoked"}, {p.NotSent, "NOT SENT (outbox)"}} {
			if x.n > 0 {
				l += fmt.Sprintf("  %s %d", x.name, x.n)
			}
		}
		out = append(out, l)
	}
	return out
}

func bar(pct int) string {
	const width = 30
	n := min(max(pct*width/100, 0), width)
	return strings.Repeat("█", n) + strings.Repeat("·", width-n)
}
