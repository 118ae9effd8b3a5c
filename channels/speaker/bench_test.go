package speaker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// BenchmarkSendHold5000 measures Send's own cost for a county-wide batch:
// holding the command for 5,000 speakers in Redis and announcing it
// (nobody connected, so no signing or writing is included).
func BenchmarkSendHold5000(b *testing.B) {
	r := newRigB(b)
	n := r.nodeB(b)
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = fmt.Sprintf("b-%05d", i)
		r.devs.Enroll(ids[i], "v")
	}
	rcpt := to(ids...)
	b.ResetTimer()
	for i := range b.N {
		m := r.msg(fmt.Sprintf("bench-%d/v1", i), 4)
		start := time.Now()
		res, err := n.Send(context.Background(), m, rcpt)
		if err != nil || len(res) != len(ids) || res[0].State != channels.StateSent {
			b.Fatalf("Send: %v %d", err, len(res))
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/send")
	}
}
