// Package channels defines the contract between dispatch and the ways a warning
// reaches people: loudspeakers, SMS, WebSocket screens and voice calls.
//
// A channel receives an already-composed Message and a batch of Recipients and
// says, per recipient, what happened. It knows nothing of warnings as a domain,
// of Asynq or of storage: dispatch decides retries, records deliveries and
// turns errors into queue decisions. A channel must never log secrets
// (credentials, tokens, gateway passwords).
package channels

import (
	"context"
	"time"

	"github.com/alertcast/alertcast/warning"
)

// Text is a warning's wording in one language.
type Text struct {
	Headline    string `json:"headline"`
	Description string `json:"description"`
	Instruction string `json:"instruction"`
}

// Audio points at a rendered broadcast programme (see package audio).
type Audio struct {
	SHA256   string        `json:"sha256"`   // hex; the device verifies its download against it
	URL      string        `json:"url"`      // absolute or relative to the platform base URL
	Duration time.Duration `json:"duration"` // of one play of the programme
	Format   string        `json:"format"`   // e.g. "wav/pcm16/16000"
	ToneOnly bool          `json:"tone_only,omitempty"`
}

// Message is one version of a warning as every channel sees it.
type Message struct {
	// Key names the warning version ("<alert id>/v<version>"). A channel may use
	// it to make a send idempotent: (Key, Recipient.ID) is delivered once.
	Key     string       `json:"key"`
	AlertID string       `json:"alert_id"`
	Version int          `json:"version"`
	Kind    warning.Kind `json:"kind"`
	// Level is 1 (blue, IV) .. 4 (red, I). A higher level preempts a lower one.
	Level int `json:"level"`
	// LevelName is the colour ("blue", "yellow", "orange", "red").
	LevelName string `json:"level_name"`
	Event     string `json:"event"`      // event code, e.g. "sandstorm"
	EventName string `json:"event_name"` // Chinese display name, e.g. "沙尘暴"
	// Drill is true for exercises and tests: every rendering must say so.
	Drill   bool              `json:"drill"`
	Status  string            `json:"status"` // actual, exercise, test
	Sent    time.Time         `json:"sent"`
	Expires time.Time         `json:"expires"`
	Area    []string          `json:"area"` // administrative codes aimed at
	Texts   map[string]Text   `json:"texts"`
	Audio   *Audio            `json:"audio,omitempty"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	// Reason is the officer's reason for a cancel or all-clear: every
	// channel says it (see package wording).
	Reason string `json:"reason,omitempty"`
	// Changes lists how an update differs from the version before, as
	// dispatch names them ("raise", "widen", "text", "extend", …).
	Changes []string `json:"changes,omitempty"`
}

// Recipient is one endpoint of a channel: a phone, a speaker device, a voice
// endpoint, or a subscription scope.
type Recipient struct {
	ID       string `json:"id"`       // stable id used in delivery records
	Address  string `json:"address"`  // phone number, device id, endpoint id
	Language string `json:"language"` // "zh" or "ug"; empty means the channel's default
}

// Result is what a Send did for one recipient.
type Result struct {
	RecipientID string
	// State is StateSent (handed over, a receipt may follow), StateDelivered
	// (confirmed synchronously) or StateFailed.
	State State
	// Ref is the provider's reference (SMSC message id, ...), used to match
	// asynchronous receipts.
	Ref string
	// Err is set when State is StateFailed. Wrap it with Permanent when
	// retrying cannot help; otherwise dispatch retries the recipient.
	Err error
	// Detail is a short human note ("2 parts", "tone only").
	Detail string
}

// Channel delivers messages. Implementations must be safe for concurrent use.
type Channel interface {
	// Name is the channel's name as used in warnings: "sms", "speaker",
	// "websocket", "voice", "outbox".
	Name() string
	// Send delivers m to every recipient in to and returns one Result per
	// recipient, in any order. A non-nil error means the batch as a whole
	// could not be attempted (gateway down, context done); recipients without
	// a Result are then retried. Send must return promptly when ctx is done.
	Send(ctx context.Context, m *Message, to []Recipient) ([]Result, error)
}

// Closer is implemented by channels that hold connections.
type Closer interface {
	Close() error
}

// Receipt is an asynchronous report about a delivery: an SMS delivery report,
// a speaker's play report, a field officer's acknowledgement.
type Receipt struct {
	Channel     string    `json:"channel"`
	Key         string    `json:"key,omitempty"`          // Message.Key: with RecipientID, names the delivery record
	RecipientID string    `json:"recipient_id,omitempty"` // a receipt without Key and RecipientID matches nothing
	Ref         string    `json:"ref,omitempty"`          // provider reference (an SMSC message id, a device id), for logs
	State       State     `json:"state"`
	Detail      string    `json:"detail,omitempty"` // "playing", "refused: bad signature", carrier error code …
	At          time.Time `json:"at"`
}

// Reporter receives asynchronous receipts. dispatch implements it; channels
// are given one at construction.
type Reporter interface {
	Report(ctx context.Context, r Receipt)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(ctx context.Context, r Receipt)

// Report calls f.
func (f ReporterFunc) Report(ctx context.Context, r Receipt) { f(ctx, r) }

// Discard is a Reporter that drops every receipt.
var Discard Reporter = ReporterFunc(func(context.Context, Receipt) {})
