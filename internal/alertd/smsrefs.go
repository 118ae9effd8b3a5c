package alertd

import (
	"context"

	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/dispatch"
)

// smsRefs serves the SMS channel's receipt lookups from delivery_refs, so
// receipts that arrive after a restart still find their record.
type smsRefs struct{ store *dispatch.Store }

func (r smsRefs) LookupRefs(ctx context.Context, refs []string) (map[string]sms.SentRef, error) {
	found, err := r.store.DeliveryRefs(ctx, sms.Name, refs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]sms.SentRef, len(found))
	for ref, d := range found {
		out[ref] = sms.SentRef{Key: d.Key(), RecipientID: d.Recipient}
	}
	return out, nil
}
