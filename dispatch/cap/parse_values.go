package cap

import (
	"regexp"
	"strings"
	"time"
)

var decimalRE = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)$`)

func parseTimeAt(path, s string) (time.Time, error) {
	t, err := ParseTime(s)
	if err != nil {
		return t, &PathError{Path: path, Err: ErrInvalid, Msg: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}
	}
	return t, nil
}

func parseEnumAt[T ~string](path, s string, all []T) (T, error) {
	v, err := parseEnum(s, all)
	if err != nil {
		return v, &PathError{Path: path, Err: ErrInvalid, Msg: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}
	}
	return v, nil
}

// parseReferences reads CAP's whitespace-separated "sender,identifier,sent"
// triples.
func parseReferences(path, s string) ([]Reference, error) {
	var refs []Reference
	for _, f := range strings.Fields(s) {
		parts := strings.Split(f, ",")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
			return nil, pathErr(path, ErrInvalid, "%q is not a sender,identifier,sent triple", truncate(f, 80))
		}
		sent, err := ParseTime(parts[2])
		if err != nil {
			return nil, pathErr(path, ErrInvalid, "reference %q: sent %q has no valid CAP dateTime", truncate(f, 80), parts[2])
		}
		refs = append(refs, Reference{Sender: parts[0], Identifier: parts[1], Sent: sent})
	}
	return refs, nil
}
