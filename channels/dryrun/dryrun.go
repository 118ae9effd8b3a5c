// Package dryrun is the channel used when a real channel is not configured:
// a dry run of it. It records what would have been sent, visibly (the
// records are listed by GET /api/v1/outbox), so a warning is never silently
// dropped, and sends nothing: every result is channels.StateNotSent — never
// sent, never delivered — with the detail "outbox: not sent", the words the
// console and the API show for such records.
//
// A dry run must be exact: given the real channel's renderer (WithRender;
// SMS and Speaker in render.go), each record holds the very text, encoding
// and parts the real channel would have put on the wire for that recipient.
//
// Not to be confused with dispatch's transactional outbox (the
// dispatch_outbox table that relays tasks to the queue): that one leads to
// sending; this channel never sends.
package dryrun

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// DetailNotSent is the Result detail of every dry-run record. Its wording is
// what operators already see in delivery records; it is kept.
const DetailNotSent = "outbox: not sent"

// Record is one message that would have been sent.
type Record struct {
	Key       string
	Channel   string
	Recipient string
	Address   string
	Language  string
	// Body is the whole text the recipient would have got (for SMS: with
	// the signature and drill marker, before it is cut into Parts).
	Body string
	// Encoding and Parts are what the real channel would have submitted:
	// for SMS "GSM7" or "UCS2" and one string per concatenated part.
	// Empty when the channel has no such notion.
	Encoding string
	Parts    []string
	At       time.Time
}

// Recorder stores records. Storing a record whose (Key, Channel, Recipient)
// is already stored must keep the first: a dry run records nothing twice.
type Recorder interface {
	Record(ctx context.Context, recs []Record) error
}

// Rendering is what a channel would put on the wire for one recipient.
type Rendering struct {
	Body     string
	Encoding string
	Parts    []string
}

// RenderFunc renders m for recipient r exactly as the real channel would. An
// error is what the real channel would refuse the message for: the recipient
// fails permanently, as it would on the air.
type RenderFunc func(m *channels.Message, r channels.Recipient) (Rendering, error)

// Option configures a Channel.
type Option func(*Channel)

// WithRender makes the dry run record what render returns instead of the
// plain summary of Body.
func WithRender(render RenderFunc) Option { return func(c *Channel) { c.render = render } }

// Channel records messages for the channel it stands in for.
type Channel struct {
	name   string
	rec    Recorder
	render RenderFunc
	now    func() time.Time
}

var _ channels.Channel = (*Channel)(nil)

// New returns a dry run standing in for the channel called name.
func New(name string, rec Recorder, opts ...Option) *Channel {
	c := &Channel{name: name, rec: rec, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.render == nil {
		c.render = func(m *channels.Message, r channels.Recipient) (Rendering, error) {
			return Rendering{Body: Body(m, r.Language)}, nil
		}
	}
	return c
}

// Name is the name of the channel the dry run stands in for.
func (c *Channel) Name() string { return c.name }

// ReplaySafe is true: the Recorder keeps the first record of a (Key,
// Channel, Recipient), so a batch re-run after a crash records nothing twice
// and dispatch may simply send it again.
func (c *Channel) ReplaySafe() bool { return true }

// Send records one rendering per recipient and reports each as
// StateNotSent. A recipient the real channel would refuse (no text to
// render) fails permanently, and nothing is recorded for it.
func (c *Channel) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, channels.Permanent(err)
	}
	now := c.now()
	recs := make([]Record, 0, len(to))
	res := make([]channels.Result, 0, len(to))
	for _, r := range to {
		out, err := c.render(m, r)
		if err != nil {
			res = append(res, channels.Result{RecipientID: r.ID, State: channels.StateFailed,
				Err: channels.Permanent(fmt.Errorf("dry run %s: recipient %s: %w", c.name, r.ID, err))})
			continue
		}
		recs = append(recs, Record{Key: m.Key, Channel: c.name, Recipient: r.ID, Address: r.Address, Language: r.Language,
			Body: out.Body, Encoding: out.Encoding, Parts: out.Parts, At: now})
		detail := DetailNotSent
		if len(out.Parts) > 0 {
			detail = fmt.Sprintf("%s (%d %s parts)", DetailNotSent, len(out.Parts), out.Encoding)
		}
		res = append(res, channels.Result{RecipientID: r.ID, State: channels.StateNotSent, Detail: detail})
	}
	if len(recs) > 0 {
		if err := c.rec.Record(ctx, recs); err != nil {
			return nil, fmt.Errorf("dry run %s: %w", c.name, err)
		}
	}
	return res, nil
}

// Body is the plain text a dry run records for a channel without a
// renderer of its own: a drill marker, the kind, the headline and the
// instruction in the recipient's language (zh by default).
func Body(m *channels.Message, lang string) string {
	t, ok := m.Texts[lang]
	if !ok {
		t = m.Texts["zh"]
	}
	var b strings.Builder
	if m.Drill() {
		b.WriteString("[演练 DRILL] ")
	}
	if m.Kind != warning.KindAlert {
		b.WriteString("[" + m.Kind.String() + "] ")
	}
	b.WriteString(t.Headline)
	if t.Instruction != "" {
		b.WriteString(" — " + t.Instruction)
	}
	return b.String()
}
