package dispatch

import (
	"context"
	"fmt"
)

// DeliveryRef is the delivery record a provider ref (an SMSC's message id)
// was recorded for.
type DeliveryRef struct {
	AlertID   string
	Version   int
	Recipient string
}

// Key is the message key the channel was sent the record's version under.
func (r DeliveryRef) Key() string { return fmt.Sprintf("%s/v%d", r.AlertID, r.Version) }

// DeliveryRefs finds the records of channel whose provider ref is one of
// refs (refs found nowhere are absent from the map). A channel uses it for
// receipts it cannot match from memory — after a restart, the SMS
// channel's message ids live only here.
//
// delivery_refs has no index on ref (it cost the writer as much as the
// table itself), so each chunk is one scan: chunks are large, and callers
// batch their misses.
func (s *Store) DeliveryRefs(ctx context.Context, channel string, refs []string) (map[string]DeliveryRef, error) {
	const chunk = 5000
	out := make(map[string]DeliveryRef, len(refs))
	for start := 0; start < len(refs); start += chunk {
		part := refs[start:min(start+chunk, len(refs))]
		args := make([]any, 0, len(part)+1)
		args = append(args, channel)
		for _, r := range part {
			args = append(args, r)
		}
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT ref, alert_id, version, recipient FROM delivery_refs WHERE channel = ? AND ref IN (`+inList(len(part))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("look up delivery refs: %w", err)
		}
		for rows.Next() {
			var ref string
			var d DeliveryRef
			if err := rows.Scan(&ref, &d.AlertID, &d.Version, &d.Recipient); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up delivery refs: %w", err)
			}
			out[ref] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up delivery refs: %w", err)
		}
	}
	return out, nil
}
