// Package outbox is the channel used when a real channel is not configured:
// it records what would have been sent, visibly (GET /api/v1/outbox), so a
// warning is never silently dropped. It is labelled as an outbox everywhere:
// its results carry the detail "outbox: not sent".
package outbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// Record is one message that would have been sent.
type Record struct {
	Key       string
	Channel   string
	Recipient string
	Address   string
	Language  string
	Body      string
	At        time.Time
}

// Recorder stores records. Storing a record whose (Key, Channel, Recipient)
// is already stored must keep the first: the outbox records nothing twice.
type Recorder interface {
	Record(ctx context.Context, recs []Record) error
}

// Channel records messages for the channel it stands in for.
type Channel struct {
	name string
	rec  Recorder
}

// New returns an outbox standing in for the channel called name.
func New(name string, rec Recorder) *Channel { return &Channel{name: name, rec: rec} }

// Name is the name of the channel the outbox stands in for.
func (c *Channel) Name() string { return c.name }

// Send records one line per recipient and reports each as delivered to the
// outbox.
func (c *Channel) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	recs := make([]Record, len(to))
	for i, r := range to {
		recs[i] = Record{Key: m.Key, Channel: c.name, Recipient: r.ID, Address: r.Address, Language: r.Language,
			Body: Body(m, r.Language), At: now}
	}
	if err := c.rec.Record(ctx, recs); err != nil {
		return nil, fmt.Errorf("outbox %s: %w", c.name, err)
	}
	res := make([]channels.Result, len(to))
	for i, r := range to {
		res[i] = channels.Result{RecipientID: r.ID, State: channels.StateDelivered, Detail: "outbox: not sent"}
	}
	return res, nil
}

// Body is the plain text the outbox records: a drill marker, the kind, the
// headline and the instruction in the recipient's language (zh by default).
func Body(m *channels.Message, lang string) string {
	t, ok := m.Texts[lang]
	if !ok {
		t = m.Texts["zh"]
	}
	var b strings.Builder
	if m.Drill {
		b.WriteString("[演练 DRILL] ")
	}
	if m.Kind != channels.KindAlert {
		b.WriteString("[" + m.Kind.String() + "] ")
	}
	b.WriteString(t.Headline)
	if t.Instruction != "" {
		b.WriteString(" — " + t.Instruction)
	}
	return b.String()
}
