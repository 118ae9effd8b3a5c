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

	ErrNoSuchRequest    = errors.New("no such live request (decided, expired or withdrawn)")
	ErrSelfApproval     = errors.New("a live request needs a second officer: the requester cannot approve it")
	ErrRequestPending   = errors.New("a live request is already waiting")
	ErrAuditUnavailable = errors.New("audit log unavailable: live announcements are not opened unaudited")
)
