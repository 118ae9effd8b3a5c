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
	"strconv"
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

// Message is one version of a warning as every channel sees it. Its
// vocabulary is typed (package warning) and dispatch builds it from a
// validated warning, so a channel never re-derives a rule: whether it is a
// drill is Status.Drill(), the level is always blue..red. A channel's Send
// refuses, permanently, a Message that fails Validate.
type Message struct {
	// Key names the warning version ("<alert id>/v<version>"). A channel may use
	// it to make a send idempotent: (Key, Recipient.ID) is delivered once.
	Key     string
	AlertID string
	Version int
	Kind    warning.Kind
	// Level is blue (IV) .. red (I). A higher level preempts a lower one.
	Level warning.Level
	// Event is the hazard; Event.Chinese() is its display name (沙尘暴).
	Event warning.Event
	// Status is actual, exercise or test. Status.Drill() is true for
	// exercises and tests: every rendering must say so.
	Status  warning.Status
	Sent    time.Time
	Expires time.Time
	Area    []string // administrative codes aimed at
	Texts   map[string]Text
	Audio   *Audio
	Attrs   map[string]string
	// Reason is the officer's reason for a cancel or all-clear: every
	// channel says it (see package wording).
	Reason string
	// Changes lists how an update differs from the version before, as
	// dispatch names them ("raise", "widen", "text", "extend", …).
	Changes []string
	// Guidance is the recipients' own guidance (their village's shelter,
	// or which way to leave); nil when the warning asks for no action.
	Guidance *Guidance
}

// Drill reports whether m is an exercise or a test (not a real warning).
func (m *Message) Drill() bool { return m.Status.Drill() }

// Validate reports the first thing that makes m unfit for any channel, as
// a *warning.FieldError naming the field ("message.level", …). dispatch
// builds valid messages; every channel calls Validate at the top of Send and
// refuses an invalid message with channels.Permanent, so no channel guesses
// a missing level or status.
func (m *Message) Validate() error {
	fe := func(field, rule, value string) error {
		return &warning.FieldError{Field: "message." + field, Rule: rule, Value: value}
	}
	switch {
	case m == nil:
		return &warning.FieldError{Field: "message", Rule: "required"}
	case m.Key == "":
		return fe("key", "required (\"<alert id>/v<version>\")", "")
	case m.AlertID == "":
		return fe("alert_id", "required", "")
	case m.Version < 0:
		return fe("version", ">= 0", strconv.Itoa(m.Version))
	case m.Kind <= warning.KindUnknown || m.Kind > warning.KindAllClear:
		return fe("kind", "one of alert, update, cancel, allclear", strconv.Itoa(int(m.Kind)))
	case m.Level < warning.LevelBlue || m.Level > warning.LevelRed:
		return fe("level", "1 (blue) .. 4 (red)", strconv.Itoa(int(m.Level)))
	case m.Status < warning.StatusActual || m.Status > warning.StatusTest:
		return fe("status", "one of actual, exercise, test", strconv.Itoa(int(m.Status)))
	case m.Event.String() == warning.EventUnknown.String():
		return fe("event", "a known event code", strconv.Itoa(int(m.Event)))
	}
	return nil
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
	// "websocket", "voice". A dry run (package dryrun) takes the name of
	// the channel it stands in for.
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
