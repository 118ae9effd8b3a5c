package sms

import (
	"strings"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// DLR is an SMSC delivery receipt in the de-facto format of SMPP 3.4
// Appendix B: "id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done
// date:YYMMDDhhmm stat:DDDDDDD err:EEE text:…".
type DLR struct {
	ID         string
	Sub        string
	Dlvrd      string
	SubmitDate string
	DoneDate   string
	Stat       string
	Err        string
	Text       string
}

// receiptKeys in the order they usually appear; matching is by name, so
// SMSCs that reorder fields or change case still parse.
var receiptKeys = []string{"id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text"}

// ParseDLR parses a delivery receipt text. It requires id and stat and
// rejects anything that is not a receipt with a FieldError.
func ParseDLR(s string) (DLR, error) {
	if len(s) > 1024 {
		return DLR{}, &warning.FieldError{Field: "receipt", Rule: "at most 1024 bytes"}
	}
	low := asciiLower(s)
	type hit struct{ key, at, val int }
	var hits []hit
	for k, key := range receiptKeys {
		needle := key + ":"
		from := 0
		for {
			i := strings.Index(low[from:], needle)
			if i < 0 {
				break
			}
			i += from
			if i == 0 || low[i-1] == ' ' {
				hits = append(hits, hit{k, i, i + len(needle)})
				break
			}
			from = i + 1
		}
	}
	var d DLR
	fields := []*string{&d.ID, &d.Sub, &d.Dlvrd, &d.SubmitDate, &d.DoneDate, &d.Stat, &d.Err, &d.Text}
	for _, h := range hits {
		if receiptKeys[h.key] == "text" {
			*fields[h.key] = strings.TrimSpace(s[h.val:])
			continue
		}
		// A value ends at the next known key or the next space.
		end := len(s)
		for _, o := range hits {
			if o.at >= h.val && o.at < end {
				end = o.at
			}
		}
		v := strings.TrimSpace(s[h.val:end])
		if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		*fields[h.key] = v
	}
	if d.ID == "" {
		return DLR{}, &warning.FieldError{Field: "receipt.id", Rule: "required", Value: short(s)}
	}
	if d.Stat == "" {
		return DLR{}, &warning.FieldError{Field: "receipt.stat", Rule: "required", Value: short(s)}
	}
	if _, ok := dlrStates[strings.ToUpper(d.Stat)]; !ok {
		return DLR{}, &warning.FieldError{Field: "receipt.stat", Rule: "one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE", Value: d.Stat}
	}
	d.Stat = strings.ToUpper(d.Stat)
	return d, nil
}

// dlrStates maps receipt stat values to delivery states; StateSent means
// "not final yet" (the message is still on its way).
var dlrStates = map[string]channels.State{
	"DELIVRD": channels.StateDelivered,
	"EXPIRED": channels.StateExpired,
	"DELETED": channels.StateFailed,
	"UNDELIV": channels.StateFailed,
	"REJECTD": channels.StateFailed,
	"UNKNOWN": channels.StateFailed,
	"ACCEPTD": channels.StateSent,
	"ENROUTE": channels.StateSent,
}

// State is the delivery state the receipt reports.
func (d DLR) State() channels.State { return dlrStates[d.Stat] }

// Detail is the short note kept with the delivery record: the stat and the
// carrier's error code.
func (d DLR) Detail() string {
	if d.Err == "" || d.Err == "000" || d.Err == "0" {
		return d.Stat
	}
	return d.Stat + " err:" + d.Err
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
