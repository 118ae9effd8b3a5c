package sms

import (
	"testing"
	"time"
)

// SetNoGatewayGrace shortens how long Send waits for a gateway, for tests.
func SetNoGatewayGrace(t testing.TB, d time.Duration) {
	old := noGatewayGrace
	noGatewayGrace = d
	t.Cleanup(func() { noGatewayGrace = old })
}

// MaxHeldSends is how many Sends wait out an outage to their deadline.
const MaxHeldSends = maxHeldSends
