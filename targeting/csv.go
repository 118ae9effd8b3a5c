package targeting

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alertcast/alertcast/warning"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// LineError is one bad line of an import file.
type LineError struct {
	Line  int    `json:"line"`
	Field string `json:"field"`
	Rule  string `json:"rule"`
	Value string `json:"value,omitempty"`
}

func (e *LineError) Error() string {
	field := e.Field
	if field == "" {
		field = "line"
	}
	if e.Value == "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, field, e.Rule)
	}
	return fmt.Sprintf("line %d: %s: %s (got %q)", e.Line, field, e.Rule, e.Value)
}

// Duplicate is a line whose key (phone for residents, id for speakers) was
// already on an earlier line. The later line is not imported.
type Duplicate struct {
	Line      int    `json:"line"`
	FirstLine int    `json:"first_line"`
	Key       string `json:"key"`
}

// MaxReportedErrors caps ImportReport.Errors and .DuplicateLines; the counts
// are always complete.
const MaxReportedErrors = 1000

// ImportReport summarises an import. Lines counts data lines (not the header
// or # comments); Accepted the lines handed to the callback without error.
type ImportReport struct {
	Lines          int         `json:"lines"`
	Accepted       int         `json:"accepted"`
	Rejected       int         `json:"rejected"` // lines with at least one error
	Errors         []LineError `json:"errors,omitempty"`
	ErrorCount     int         `json:"error_count"`
	Duplicates     int         `json:"duplicates"`
	DuplicateLines []Duplicate `json:"duplicate_lines,omitempty"`
	Encoding       string      `json:"encoding"`                  // ascii, utf-8, utf-8-bom, utf-16, gb18030
	IgnoredColumns []string    `json:"ignored_columns,omitempty"` // header columns not understood
}

func (rep *ImportReport) addError(e LineError) {
	rep.ErrorCount++
	if len(rep.Errors) < MaxReportedErrors {
		rep.Errors = append(rep.Errors, e)
	}
}

func (rep *ImportReport) addDuplicate(d Duplicate) {
	rep.Duplicates++
	if len(rep.DuplicateLines) < MaxReportedErrors {
		rep.DuplicateLines = append(rep.DuplicateLines, d)
	}
}

// OK reports whether every line was accepted or a reported duplicate.
func (rep *ImportReport) OK() bool { return rep.ErrorCount == 0 }

// stripBOM skips a UTF-8 byte order mark.
func stripBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	return br
}

const sniffSize = 256 << 10

// decodeInput detects the encoding of a CSV file from its start and returns
// a UTF-8 reader. UTF-8 (with or without BOM) passes through; UTF-16 with a
// BOM and GBK/GB18030 (what Excel in a Chinese office saves) are converted.
// Anything else is refused. A UTF-8 file that turns invalid after the sniffed
// start is caught line by line.
func decodeInput(r io.Reader) (io.Reader, string, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, "", err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		return br, "utf-8-bom", nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), "utf-16", nil
	}
	check := head
	if len(head) == sniffSize {
		// The sniffed window may end inside a character.
		for i := 0; i < utf8.UTFMax && len(check) > 0 && !utf8.RuneStart(check[len(check)-1]); i++ {
			check = check[:len(check)-1]
		}
		if len(check) > 0 {
			check = check[:len(check)-1]
		}
	}
	if utf8.Valid(check) {
		for _, c := range check {
			if c >= 0x80 {
				return br, "utf-8", nil
			}
		}
		// Only ASCII so far: a GBK file whose first Chinese character comes
		// late is still possible, and is decoded line by line (see next).
		return br, "ascii", nil
	}
	dec, derr := simplifiedchinese.GB18030.NewDecoder().Bytes(check)
	if derr == nil && !bytes.ContainsRune(dec, utf8.RuneError) {
		return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), "gb18030", nil
	}
	return nil, "", fmt.Errorf("%w: the file is neither UTF-8 nor GBK/GB18030 (save it as CSV UTF-8)", ErrEncoding)
}

// column names accepted in headers, lower-cased; Chinese spreadsheets get
// their usual headings.
var residentColumns = map[string]string{
	"id": "id", "编号": "id", "序号": "id",
	"phone": "phone", "mobile": "phone", "msisdn": "phone", "手机": "phone", "手机号": "phone", "手机号码": "phone", "电话": "phone", "联系电话": "phone",
	"village": "village", "village_code": "village", "code": "village", "村": "village", "村代码": "village", "区划代码": "village", "村居代码": "village",
	"groups": "groups", "group": "groups", "人群": "groups", "群体": "groups", "人群类别": "groups",
	"language": "language", "lang": "language", "语言": "language",
	"opt_out": "opt_out", "optout": "opt_out", "opted_out": "opt_out", "退订": "opt_out",
	"lat": "lat", "latitude": "lat", "纬度": "lat",
	"lon": "lon", "lng": "lon", "longitude": "lon", "经度": "lon",
}

var speakerColumns = map[string]string{
	"id": "id", "speaker": "id", "speaker_id": "id", "编号": "id", "设备编号": "id",
	"village": "village", "village_code": "village", "code": "village", "村": "village", "村代码": "village", "区划代码": "village",
	"lat": "lat", "latitude": "lat", "纬度": "lat",
	"lon": "lon", "lng": "lon", "longitude": "lon", "经度": "lon",
	"zone": "zone", "区域": "zone",
	"capabilities": "capabilities", "caps": "capabilities", "能力": "capabilities",
}

// csvTable is a header-driven CSV reader shared by the imports.
type csvTable struct {
	cr     *csv.Reader
	col    map[string]int
	header []string
	rep    *ImportReport
	rec    []string
	line   int
	lateGB bool // decoding GB18030 line by line after an ASCII start
}

func openTable(r io.Reader, known map[string]string, required []string, rep *ImportReport) (*csvTable, error) {
	in, enc, err := decodeInput(r)
	if err != nil {
		return nil, &LineError{Line: 1, Field: "encoding", Rule: err.Error()}
	}
	rep.Encoding = enc
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.ReuseRecord = true
	cr.LazyQuotes = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &LineError{Line: 1, Field: "header", Rule: "missing: the file is empty"}
		}
		return nil, &LineError{Line: 1, Field: "header", Rule: err.Error()}
	}
	hline, _ := cr.FieldPos(0)
	t := &csvTable{cr: cr, col: map[string]int{}, rep: rep}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !utf8.ValidString(h) {
			return nil, &LineError{Line: hline, Field: "header", Rule: "not valid UTF-8"}
		}
		name, ok := known[h]
		if !ok {
			rep.IgnoredColumns = append(rep.IgnoredColumns, h)
			continue
		}
		if _, dup := t.col[name]; dup {
			return nil, &LineError{Line: hline, Field: "header", Rule: fmt.Sprintf("column %q given twice", name), Value: h}
		}
		t.col[name] = i
		t.header = append(t.header, h)
	}
	for _, need := range required {
		if _, ok := t.col[need]; !ok {
			return nil, &LineError{Line: hline, Field: "header", Rule: fmt.Sprintf("missing column %q", need), Value: strings.Join(header, ",")}
		}
	}
	if hasKey(t.col, "lat") != hasKey(t.col, "lon") {
		return nil, &LineError{Line: hline, Field: "header", Rule: "lat and lon columns come together"}
	}
	t.header = header
	return t, nil
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// next reads the next data record; false at the end. Malformed records are
// reported and skipped.
func (t *csvTable) next() (bool, error) {
	for {
		rec, err := t.cr.Read()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			t.rep.Lines++
			t.rep.Rejected++
			t.rep.addError(LineError{Line: pe.Line, Field: "csv", Rule: pe.Err.Error()})
			continue
		}
		if err != nil {
			return false, err
		}
		t.line, _ = t.cr.FieldPos(0)
		t.rep.Lines++
		if len(rec) != len(t.header) {
			t.rep.Rejected++
			t.rep.addError(LineError{Line: t.line, Field: "", Rule: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(t.header))})
			continue
		}
		bad := false
		for _, f := range rec {
			if !utf8.ValidString(f) {
				bad = true
			}
		}
		if bad && (t.rep.Encoding == "ascii" || t.lateGB) {
			// A file that started as plain ASCII meets its first other byte:
			// GBK if the line decodes as GB18030 (and later lines are tried
			// the same way).
			if dec, ok := decodeGB18030(rec); ok {
				rec, bad = dec, false
				t.rep.Encoding, t.lateGB = "gb18030", true
			}
		}
		if bad {
			t.rep.Rejected++
			t.rep.addError(LineError{Line: t.line, Field: "encoding", Rule: fmt.Sprintf("not valid %s (the start of the file was)", t.rep.Encoding)})
			continue
		}
		t.rec = rec
		return true, nil
	}
}

func (t *csvTable) get(name string) string {
	i, ok := t.col[name]
	if !ok {
		return ""
	}
	return strings.TrimSpace(t.rec[i])
}

// lineErrs collects one line's errors.
type lineErrs struct {
	line int
	errs []LineError
}

// eachRow calls fn for every data line with the line's error list, until
// the end of the file (nil) or the first error of the file or of fn.
func (t *csvTable) eachRow(fn func(le *lineErrs) error) error {
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return err
		}
		if err := fn(&lineErrs{line: t.line}); err != nil {
			return err
		}
	}
}

// reject counts a line with errors as rejected and reports its errors;
// it returns false for a line without any.
func (rep *ImportReport) reject(le *lineErrs) bool {
	if len(le.errs) == 0 {
		return false
	}
	rep.Rejected++
	for _, e := range le.errs {
		rep.addError(e)
	}
	return true
}

func (l *lineErrs) add(field, rule, value string) {
	l.errs = append(l.errs, LineError{Line: l.line, Field: field, Rule: rule, Value: value})
}

// has reports whether the line already has an error about field.
func (l *lineErrs) has(field string) bool {
	for _, e := range l.errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (l *lineErrs) addErr(field string, err error) {
	var fe *warning.FieldError
	if errors.As(err, &fe) {
		if field == "" {
			field = fe.Field
		}
		l.add(field, fe.Rule, fe.Value)
		return
	}
	l.add(field, err.Error(), "")
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "0", "false", "no", "n", "否", "f":
		return false, true
	case "1", "true", "yes", "y", "是", "t":
		return true, true
	}
	return false, false
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '；' || r == '、' || r == '|' })
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (t *csvTable) point(le *lineErrs) *Point {
	la, lo := t.get("lat"), t.get("lon")
	if la == "" && lo == "" {
		return nil
	}
	if la == "" || lo == "" {
		le.add("lat", "lat and lon are given together or not at all", la+","+lo)
		return nil
	}
	lat, err1 := strconv.ParseFloat(la, 64)
	lon, err2 := strconv.ParseFloat(lo, 64)
	if err1 != nil {
		le.add("lat", "must be a decimal number of degrees", la)
		return nil
	}
	if err2 != nil {
		le.add("lon", "must be a decimal number of degrees", lo)
		return nil
	}
	p := Point{Lat: lat, Lon: lon}
	if err := CheckPoint(p); err != nil {
		le.addErr("", err)
		return nil
	}
	return &p
}

// deliver hands a parsed line to fn. A *channels.FieldError (or *LineError)
// from fn becomes a line error, as when the village is not in the caller's
// tree; any other error stops the import.
func deliver(rep *ImportReport, line int, fn func() error) error {
	err := fn()
	if err == nil {
		rep.Accepted++
		return nil
	}
	var fe *warning.FieldError
	var le *LineError
	switch {
	case errors.As(err, &fe):
		rep.Rejected++
		rep.addError(LineError{Line: line, Field: fe.Field, Rule: fe.Rule, Value: fe.Value})
		return nil
	case errors.As(err, &le):
		e := *le
		e.Line = line
		rep.Rejected++
		rep.addError(e)
		return nil
	}
	return fmt.Errorf("line %d: %w", line, err)
}

// ReadResidents streams a residents CSV (see the package documentation for
// the columns) and calls fn for every valid, non-duplicate line, in file
// order. Bad lines are collected in the report and skipped; the caller
// decides whether any error means importing nothing (read twice, or buffer)
// or a partial import. The returned error is for problems with the file as a
// whole (encoding, header, I/O) or an error fn returned that is not a
// *channels.FieldError.
func ReadResidents(r io.Reader, fn func(line int, res Resident) error) (ImportReport, error) {
	var rep ImportReport
	t, err := openTable(r, residentColumns, []string{"phone", "village", "language"}, &rep)
	if err != nil {
		return rep, err
	}
	phones := map[uint64]int32{}
	ids := map[uint32]int32{}
	_, hasID := t.col["id"]
	err = t.eachRow(func(le *lineErrs) error {
		var res Resident
		if hasID {
			id, err := strconv.ParseUint(t.get("id"), 10, 32)
			if err != nil || id == 0 {
				le.add("id", "must be a whole number from 1 to 4294967295", t.get("id"))
			} else {
				res.ID = uint32(id)
			}
		}
		digits, err := phoneDigits(t.get("phone"))
		if err != nil {
			le.addErr("phone", err)
		}
		res.Phone = "+" + strconv.FormatUint(digits, 10)
		res.Village = t.get("village")
		if lvl, err := levelOfCode(res.Village); err != nil || lvl != RegionVillage {
			le.add("village", "must be a 12-digit village code", res.Village)
		}
		for _, g := range splitList(t.get("groups")) {
			code, err := ParseGroup(g)
			if err != nil {
				le.add("groups", fmt.Sprintf("unknown group (known: %s)", groupCodes()), g)
				continue
			}
			res.Groups = append(res.Groups, code)
		}
		if res.Language, err = ParseLanguage(t.get("language")); err != nil {
			le.addErr("language", err)
		}
		var ok bool
		if res.OptOut, ok = parseBool(t.get("opt_out")); !ok {
			le.add("opt_out", "must be true/false, 1/0, yes/no or 是/否", t.get("opt_out"))
		}
		res.Point = t.point(le)
		if len(le.errs) == 0 && hasID {
			if first, dup := ids[res.ID]; dup {
				le.add("id", fmt.Sprintf("duplicate id (first on line %d)", first), t.get("id"))
			}
		}
		if rep.reject(le) {
			return nil
		}
		if first, dup := phones[digits]; dup {
			rep.addDuplicate(Duplicate{Line: t.line, FirstLine: int(first), Key: res.Phone})
			return nil
		}
		phones[digits] = int32(t.line)
		if hasID {
			ids[res.ID] = int32(t.line)
		}
		return deliver(&rep, t.line, func() error { return fn(t.line, res) })
	})
	return rep, err
}

// ReadSpeakers streams a speakers CSV like ReadResidents; duplicates are
// repeated speaker ids.
func ReadSpeakers(r io.Reader, fn func(line int, s Speaker) error) (ImportReport, error) {
	var rep ImportReport
	t, err := openTable(r, speakerColumns, []string{"id", "village"}, &rep)
	if err != nil {
		return rep, err
	}
	seen := map[string]int{}
	err = t.eachRow(func(le *lineErrs) error {
		s := Speaker{ID: t.get("id"), Village: t.get("village"), Zone: t.get("zone")}
		if err := CheckSpeakerID(s.ID); err != nil {
			le.addErr("id", err)
		}
		if lvl, err := levelOfCode(s.Village); err != nil || lvl != RegionVillage {
			le.add("village", "must be a 12-digit village code", s.Village)
		}
		if len(s.Zone) > 64 {
			le.add("zone", "at most 64 bytes", s.Zone)
		}
		for _, c := range splitList(t.get("capabilities")) {
			c = strings.ToLower(c)
			if !capabilityRe.MatchString(c) {
				le.add("capabilities", "each must be 1–32 of a-z, 0-9, '.', '_', '-'", c)
			}
			s.Capabilities = append(s.Capabilities, c)
		}
		s.Point = t.point(le)
		if rep.reject(le) {
			return nil
		}
		if first, dup := seen[s.ID]; dup {
			rep.addDuplicate(Duplicate{Line: t.line, FirstLine: first, Key: s.ID})
			return nil
		}
		seen[s.ID] = t.line
		return deliver(&rep, t.line, func() error { return fn(t.line, s) })
	})
	return rep, err
}

// decodeGB18030 decodes the fields of a record read as bytes; ok is false
// when they are not clean GB18030 either.
func decodeGB18030(rec []string) ([]string, bool) {
	out := make([]string, len(rec))
	dec := simplifiedchinese.GB18030.NewDecoder()
	for i, f := range rec {
		if utf8.ValidString(f) {
			out[i] = f
			continue
		}
		b, err := dec.Bytes([]byte(f))
		if err != nil || bytes.ContainsRune(b, utf8.RuneError) {
			return nil, false
		}
		out[i] = string(b)
	}
	return out, true
}
