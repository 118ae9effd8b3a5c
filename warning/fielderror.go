package warning

import "fmt"

// FieldError is bad input: it names the field, the rule it broke and the
// offending value. Every edge (API, CSV, CAP, device frames) reports with it.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
	Value string `json:"value,omitempty"`
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Rule)
	}
	return fmt.Sprintf("%s: %s (got %q)", e.Field, e.Rule, e.Value)
}
