package cap

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by Parse, Validate and Marshal wraps
// one of them (test with errors.Is) and, where an element is at fault, is a
// *PathError naming it.
var (
	// ErrNotWellFormed: the input is not well-formed XML.
	ErrNotWellFormed = errors.New("not well-formed XML")
	// ErrDoctype: the document has a DOCTYPE or entity declaration. CAP
	// needs neither; they are how XML external-entity (XXE) and
	// entity-expansion attacks are delivered, so they are refused unread.
	ErrDoctype = errors.New("DOCTYPE and ENTITY declarations are not allowed (XXE protection); nothing was resolved")
	// ErrTooLarge: the document is bigger than MaxDocumentSize.
	ErrTooLarge = errors.New("document too large")
	// ErrTooDeep: elements are nested deeper than MaxDepth.
	ErrTooDeep = errors.New("elements nested too deeply")
	// ErrNamespace: the root element is not a CAP 1.2 (or 1.1) alert.
	ErrNamespace = errors.New("not a CAP 1.2 alert")
	// ErrEncoding: the declared character encoding is unknown or the bytes
	// do not match it.
	ErrEncoding = errors.New("unsupported character encoding")
	// ErrMissing: a required element is absent or empty.
	ErrMissing = errors.New("required element missing")
	// ErrInvalid: an element's value breaks a CAP rule.
	ErrInvalid = errors.New("invalid value")
	// ErrUnexpected: an element that does not belong there, or appears
	// more often than allowed.
	ErrUnexpected = errors.New("unexpected element")
)

// PathError is an error about one element, named by its path from the
// document's alert element: "alert/info[1]/area[0]/polygon[0]". Indexes count
// from zero among elements of the same name.
type PathError struct {
	Path string
	Err  error  // one of the sentinels above
	Msg  string // what exactly is wrong; may be empty
}

func (e *PathError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Path, e.Err, e.Msg)
}

func (e *PathError) Unwrap() error { return e.Err }

func pathErr(path string, err error, format string, args ...any) *PathError {
	return &PathError{Path: path, Err: err, Msg: fmt.Sprintf(format, args...)}
}

// HTTPStatus is the HTTP status an API should answer a Parse error with:
// 413 for ErrTooLarge, 415 for ErrEncoding, 400 for every other refusal.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return 413
	case errors.Is(err, ErrEncoding):
		return 415
	}
	return 400
}
