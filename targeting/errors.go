package targeting

import (
	"errors"
	"fmt"

	"github.com/alertcast/alertcast/warning"
)

var (
	// ErrUnknownRegion is wrapped by errors about a code that is not in the tree.
	ErrUnknownRegion = errors.New("unknown region code")
	// ErrEncoding is wrapped when an import file's encoding cannot be used.
	ErrEncoding = errors.New("unsupported file encoding")
)

// fieldErr builds the *channels.FieldError every edge of Alertcast reports with.
func fieldErr(field, rule, value string) *warning.FieldError {
	return &warning.FieldError{Field: field, Rule: rule, Value: value}
}

func fieldErrf(field, value, format string, a ...any) *warning.FieldError {
	return &warning.FieldError{Field: field, Rule: fmt.Sprintf(format, a...), Value: value}
}
