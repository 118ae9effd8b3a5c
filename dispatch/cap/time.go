package cap

import (
	"fmt"
	"sync"
	"time"
)

// CAP's dateTime: xs:dateTime restricted to
// \d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d, UTC written as -00:00.

var zones sync.Map // offset seconds -> *time.Location, so equal offsets share one Location

func zoneFor(offset int) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	if z, ok := zones.Load(offset); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return z.(*time.Location)
}

// ParseTime parses a CAP dateTime. A time zone is required; "Z" and
// fractional seconds (plain xs:dateTime) are accepted, see the package doc.
// The result keeps the document's UTC offset.
func ParseTime(s string) (time.Time, error) {
	b := []byte(s)
	num := func(i, n int) (int, bool) {
		if i+n > len(b) {
			return 0, false
		}
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%w: %q is not a CAP dateTime (want YYYY-MM-DDThh:mm:ss±hh:mm): %s", ErrInvalid, s, why)
	}
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return bad("malformed")
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return bad("malformed")
	}
	i := 19
	nsec := 0
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		scale := 100000000
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			nsec += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return bad("malformed fraction")
		}
	}
	if i == len(b) {
		return bad("no time zone")
	}
	offset := 0
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return bad("malformed time zone")
		}
		oh, okh := num(i+1, 2)
		om, okm := num(i+4, 2)
		if !okh || !okm || oh > 14 || om > 59 {
			return bad("malformed time zone")
		}
		offset = oh*3600 + om*60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return bad("malformed time zone")
	}
	if i != len(b) {
		return bad("trailing characters")
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return bad("out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zoneFor(offset))
	if t.Day() != day {
		return bad("no such day")
	}
	return t, nil
}

// FormatTime writes t in CAP's dateTime form at its own UTC offset, whole
// seconds, UTC as "-00:00".
func FormatTime(t time.Time) string {
	s := t.Truncate(time.Second).Format("2006-01-02T15:04:05-07:00")
	if _, off := t.Zone(); off == 0 {
		s = s[:len(s)-6] + "-00:00"
	}
	return s
}
