package voice

import "errors"

// Sentinel errors. Frame errors wrap errFrame and a *channels.FieldError.
var (
	ErrClosed       = errors.New("voice server closed")
	ErrNotOnline    = errors.New("voice endpoint not online")
	ErrUnanswered   = errors.New("voice call not answered")
	ErrDeclined     = errors.New("voice call declined")
	ErrNoSuchRoom   = errors.New("no such room")
	ErrForbidden    = errors.New("not allowed in this room")
	ErrRoomFull     = errors.New("room is full")
	ErrBadCodec     = errors.New("publisher must send Opus audio")
	ErrUnauthorized = errors.New("authentication failed")
)
