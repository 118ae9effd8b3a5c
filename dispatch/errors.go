package dispatch

import "errors"

// ErrForbidden is returned when the actor's role or relation to the warning
// does not allow the action.
var ErrForbidden = errors.New("forbidden")
