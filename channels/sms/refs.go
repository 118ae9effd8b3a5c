package sms

import (
	"context"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// RefLookup finds which message and recipient an SMSC message id was
// submitted for, from where dispatch recorded each Result.Ref (its
// delivery_refs table). The channel asks it for receipts it cannot match
// from memory: after a restart its in-memory map is empty, but SMSCs send
// receipts for hours.
type RefLookup interface {
	// LookupRefs returns, for each ref found (a Result.Ref such as
	// "carrier-a:4f2a"), the message key and recipient id it was sent
	// for; refs found nowhere are absent.
	LookupRefs(ctx context.Context, refs []string) (map[string]SentRef, error)
}

// SentRef is what a Result.Ref was recorded for.
type SentRef struct {
	Key, RecipientID string
}

// refLookupTimeout bounds one lookup of a janitor round's misses.
const refLookupTimeout = 10 * time.Second

// lookupOrphans resolves receipts that matched nothing in memory (for
// orphanWait, so not ones that overtook their submit_sm_resp) from the
// RefLookup, and counts the rest as unknown. Only the first part's id of
// a multi-part message is recorded, so a receipt for a later part of one
// sent before a restart stays unknown.
func (c *Channel) lookupOrphans(ctx context.Context, os []orphan) {
	if len(os) == 0 {
		return
	}
	if c.cfg.Refs == nil {
		for _, o := range os {
			c.unknownReceipt(o)
		}
		return
	}
	refs := make([]string, len(os))
	for i, o := range os {
		refs[i] = o.qid()
	}
	lctx, cancel := context.WithTimeout(ctx, refLookupTimeout)
	found, err := c.cfg.Refs.LookupRefs(lctx, refs)
	cancel()
	if err != nil && ctx.Err() == nil {
		c.log.Error("sms receipts: looking up message ids failed; counted unknown", "count", len(os), "err", err)
	}
	for _, o := range os {
		s, ok := found[o.qid()]
		if !ok {
			c.unknownReceipt(o)
			continue
		}
		c.m.receipts.WithLabelValues(o.st.String()).Inc()
		c.rep.Report(context.Background(), channels.Receipt{Channel: Name, Key: s.Key, RecipientID: s.RecipientID,
			Ref: o.qid(), State: o.st, Detail: o.detail, At: o.at})
	}
}
