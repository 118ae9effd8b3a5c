package warning

// Kind says what a Message does to the warning it belongs to.
type Kind int

const (
	KindUnknown  Kind = iota
	KindAlert         // a new warning
	KindUpdate        // a new version of a warning already sent
	KindCancel        // the warning is withdrawn (sent in error or no longer needed)
	KindAllClear      // the danger is over (解除)
)

var kindNames = [...]string{"unknown", "alert", "update", "cancel", "allclear"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i), nil
		}
	}
	return KindUnknown, &FieldError{Field: "kind", Rule: "one of alert, update, cancel, allclear", Value: s}
}

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}
