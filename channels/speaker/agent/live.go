package agent

import (
	"context"
	"errors"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// ErrLiveUnsupported is what a LiveJoiner returns when the device cannot
// take part in live announcements; the agent reports it as a refusal.
var ErrLiveUnsupported = errors.New("live not supported")

// LiveCommand is a verified "live" command: join a WebRTC room.
type LiveCommand struct {
	Device string
	Room   wire.LiveRoom
	// Joined is called once the device is in the room and audio flows; the
	// agent reports "joined" to the platform.
	Joined func()
}

// LiveJoiner joins live announcements. Join blocks for the whole
// announcement: until the room ends (return nil), ctx is done (preempted,
// stopped, Room.Until passed) or it fails. It plays through sink; a joiner
// that streams may type-assert sink for a streaming interface of its own.
type LiveJoiner interface {
	Join(ctx context.Context, cmd LiveCommand, sink Sink) error
}

// NoLive is the default LiveJoiner: every live command is refused with
// ErrLiveUnsupported.
type NoLive struct{}

// Join implements LiveJoiner.
func (NoLive) Join(context.Context, LiveCommand, Sink) error { return ErrLiveUnsupported }
