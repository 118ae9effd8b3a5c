package dispatch

import (
	"encoding/csv"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReportCSVHeader is the header of a report's CSV: one table, each row
// naming its section (warning, timeline, channel, reach, failure, speaker,
// action, field_report); cells a section does not use are empty.
var ReportCSVHeader = []string{"section", "version", "channel", "code", "name", "id", "what", "at", "who", "detail",
	"planned", "queued", "sent", "unconfirmed", "held", "delivered", "failed", "expired", "revoked", "not_sent", "done", "percent", "count"}

// csvCol is a column's index in ReportCSVHeader.
func csvCol(name string) int { return slices.Index(ReportCSVHeader, name) }

// WriteCSV writes the report as one CSV table (ReportCSVHeader). Times are
// RFC 3339 in UTC. A cell a spreadsheet would take for a formula (a
// headline or reason starting with = + - @) is prefixed with an apostrophe.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportCSVHeader); err != nil {
		return err
	}
	row := func(section string, cells map[string]string) error {
		rec := make([]string, len(ReportCSVHeader))
		rec[0] = section
		for k, v := range cells {
			rec[csvCol(k)] = safeCell(v)
		}
		return cw.Write(rec)
	}
	ver := func(v int) string {
		if v == 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	kv := [][2]string{{"id", r.ID}, {"version", strconv.Itoa(r.Version)}, {"event", r.Event.String()}, {"level", r.Level.String()},
		{"status", r.Status.String()}, {"drill", strconv.FormatBool(r.Drill)}, {"state", r.State.String()}, {"headline", r.Headline},
		{"area", strings.Join(r.Area, " ")}, {"expires", csvTime(r.Expires)}, {"generated_at", csvTime(r.GeneratedAt)},
		{"reach_version", strconv.Itoa(r.ReachVersion)}}
	for _, p := range kv {
		if err := row("warning", map[string]string{"what": p[0], "detail": p[1]}); err != nil {
			return err
		}
	}
	for _, e := range r.Timeline {
		if err := row("timeline", map[string]string{"version": ver(e.Version), "channel": e.Channel, "what": e.Event, "at": csvTime(e.At),
			"who": e.Actor, "detail": e.Detail}); err != nil {
			return err
		}
	}
	for _, v := range r.Versions {
		for _, ch := range slices.Sorted(maps.Keys(v.Channels)) {
			c := v.Channels[ch]
			cells := progressCells(c.Progress)
			cells["version"], cells["channel"], cells["what"], cells["at"] = ver(v.Version), ch, v.Kind.String(), csvTime(v.IssuedAt)
			if err := row("channel", cells); err != nil {
				return err
			}
		}
	}
	for _, tw := range r.Reach {
		for _, ch := range slices.Sorted(maps.Keys(tw.Channels)) {
			cells := progressCells(tw.Channels[ch])
			cells["version"], cells["channel"], cells["code"], cells["name"] = ver(r.ReachVersion), ch, tw.Code, tw.Name
			if err := row("reach", cells); err != nil {
				return err
			}
		}
	}
	for _, f := range r.Failures {
		if err := row("failure", map[string]string{"version": ver(r.ReachVersion), "channel": f.Channel, "detail": f.Reason, "count": strconv.Itoa(f.Count)}); err != nil {
			return err
		}
	}
	for _, s := range r.Speakers {
		if err := row("speaker", map[string]string{"version": ver(r.ReachVersion), "channel": "speaker", "code": s.Township, "name": s.Village,
			"id": s.ID, "what": s.Outcome, "at": csvTime(s.At), "detail": s.Detail}); err != nil {
			return err
		}
	}
	for _, a := range r.Actions {
		if err := row("action", map[string]string{"id": strconv.FormatInt(a.Seq, 10), "what": a.Action, "at": csvTime(a.At), "who": a.Actor,
			"code": a.Remote, "detail": a.Detail}); err != nil {
			return err
		}
	}
	for _, f := range r.FieldReports {
		counts := make([]string, 0, len(f.Counts))
		for _, k := range slices.Sorted(maps.Keys(f.Counts)) {
			counts = append(counts, k+"="+strconv.Itoa(f.Counts[k]))
		}
		if err := row("field_report", map[string]string{"id": f.ID, "what": f.Kind.String(), "at": csvTime(f.ReceivedAt), "who": f.Reporter,
			"code": f.Village, "name": string(f.State), "detail": strings.TrimSpace(strings.Join(counts, " ") + " " + f.Text),
			"count": strconv.Itoa(f.Photos)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func progressCells(p Progress) map[string]string {
	m := map[string]string{"planned": strconv.Itoa(p.Planned), "queued": strconv.Itoa(p.Queued), "sent": strconv.Itoa(p.Sent),
		"unconfirmed": strconv.Itoa(p.Unconfirmed), "held": strconv.Itoa(p.Held), "delivered": strconv.Itoa(p.Delivered),
		"failed": strconv.Itoa(p.Failed), "expired": strconv.Itoa(p.Expired), "revoked": strconv.Itoa(p.Revoked),
		"not_sent": strconv.Itoa(p.NotSent), "done": strconv.Itoa(p.Done)}
	if p.Percent != nil {
		m["percent"] = strconv.Itoa(*p.Percent)
	}
	return m
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// safeCell keeps a spreadsheet from running a cell as a formula.
func safeCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
