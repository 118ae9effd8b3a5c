package cap

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// maxProblems bounds how many problems Validate reports at once.
const maxProblems = 20

// Validate checks the rules of CAP 1.2 that the model's types do not
// enforce by themselves: required elements, value lists, identifier
// characters, geometry. It reports every problem it finds (up to 20), each a
// *PathError; nil means the alert can be written as a valid CAP 1.2 document.
func (a *Alert) Validate() error {
	var v validator
	v.alert(a)
	return v.err()
}

type validator struct{ problems []error }

func (v *validator) add(path string, err error, format string, args ...any) {
	if len(v.problems) < maxProblems {
		v.problems = append(v.problems, pathErr(path, err, format, args...))
	}
}

func (v *validator) required(path, value string) {
	if strings.TrimSpace(value) == "" {
		v.add(path, ErrMissing, "")
	}
}

func (v *validator) err() error {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return v.problems[0]
	}
	return errors.Join(v.problems...)
}

func enumCheck[T interface {
	~string
	Valid() bool
}](v *validator, path string, val T, required bool) {
	switch {
	case val == "" && required:
		v.add(path, ErrMissing, "")
	case val != "" && !val.Valid():
		v.add(path, ErrInvalid, "%q is not a CAP value", string(val))
	}
}

var languageRE = regexp.MustCompile(`^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$`)

func (v *validator) id(path, s string) {
	if s == "" {
		v.add(path, ErrMissing, "")
		return
	}
	if strings.ContainsAny(s, " \t\r\n,<&") {
		v.add(path, ErrInvalid, "%q contains a space, comma, '<' or '&', which CAP forbids", truncate(s, 80))
	}
}

func (v *validator) uri(path, s string) {
	if s == "" {
		return
	}
	if _, err := url.Parse(s); err != nil || strings.ContainsAny(s, " \t\r\n") {
		v.add(path, ErrInvalid, "%q is not a URI", truncate(s, 80))
	}
}

func (v *validator) alert(a *Alert) {
	v.id("alert/identifier", a.Identifier)
	v.id("alert/sender", a.Sender)
	if a.Sent.IsZero() {
		v.add("alert/sent", ErrMissing, "")
	}
	enumCheck(v, "alert/status", a.Status, true)
	enumCheck(v, "alert/msgType", a.MsgType, true)
	enumCheck(v, "alert/scope", a.Scope, true)
	if a.MsgType != MsgAlert && a.MsgType != "" && len(a.References) == 0 {
		v.add("alert/references", ErrMissing, "a%s %s message must reference the message(s) it concerns", article(string(a.MsgType)), a.MsgType)
	}
	if a.Scope == ScopePrivate {
		v.required("alert/addresses", a.Addresses)
	}
	for i, r := range a.References {
		p := fmt.Sprintf("alert/references[%d]", i)
		if r.Sent.IsZero() {
			v.add(p, ErrMissing, "reference without a sent time")
		}
		if r.Sender == "" || r.Identifier == "" || strings.ContainsAny(r.Sender+r.Identifier, " \t\r\n,") {
			v.add(p, ErrInvalid, "sender %q and identifier %q must be non-empty without spaces or commas", r.Sender, r.Identifier)
		}
	}
	for i := range a.Infos {
		v.info(fmt.Sprintf("alert/info[%d]", i), &a.Infos[i])
	}
}

func (v *validator) info(path string, in *Info) {
	if in.Language != "" && !languageRE.MatchString(in.Language) {
		v.add(path+"/language", ErrInvalid, "%q is not a language tag like zh-CN", truncate(in.Language, 40))
	}
	if len(in.Categories) == 0 {
		v.add(path+"/category", ErrMissing, "")
	}
	for i, c := range in.Categories {
		enumCheck(v, fmt.Sprintf("%s/category[%d]", path, i), c, true)
	}
	v.required(path+"/event", in.Event)
	for i, r := range in.ResponseTypes {
		enumCheck(v, fmt.Sprintf("%s/responseType[%d]", path, i), r, true)
	}
	enumCheck(v, path+"/urgency", in.Urgency, true)
	enumCheck(v, path+"/severity", in.Severity, true)
	enumCheck(v, path+"/certainty", in.Certainty, true)
	v.uri(path+"/web", in.Web)
	for i, r := range in.Resources {
		rp := fmt.Sprintf("%s/resource[%d]", path, i)
		v.required(rp+"/resourceDesc", r.Desc)
		v.required(rp+"/mimeType", r.MimeType)
		if r.Size < 0 {
			v.add(rp+"/size", ErrInvalid, "negative size %d", r.Size)
		}
		v.uri(rp+"/uri", r.URI)
	}
	for i := range in.Areas {
		v.area(fmt.Sprintf("%s/area[%d]", path, i), &in.Areas[i])
	}
}

func (v *validator) area(path string, ar *Area) {
	v.required(path+"/areaDesc", ar.Desc)
	for i, pg := range ar.Polygons {
		if err := pg.Check(); err != nil {
			v.add(fmt.Sprintf("%s/polygon[%d]", path, i), ErrInvalid, "%v", err)
		}
	}
	for i, c := range ar.Circles {
		if err := c.Check(); err != nil {
			v.add(fmt.Sprintf("%s/circle[%d]", path, i), ErrInvalid, "%v", err)
		}
	}
	if ar.Ceiling != nil && ar.Altitude == nil {
		v.add(path+"/ceiling", ErrInvalid, "ceiling given without altitude")
	}
	if ar.Ceiling != nil && ar.Altitude != nil && *ar.Ceiling < *ar.Altitude {
		v.add(path+"/ceiling", ErrInvalid, "ceiling %s below altitude %s", fmtFloat(*ar.Ceiling), fmtFloat(*ar.Altitude))
	}
}

func article(s string) string {
	if s != "" && strings.ContainsRune("AEIOU", rune(s[0])) {
		return "n"
	}
	return ""
}
