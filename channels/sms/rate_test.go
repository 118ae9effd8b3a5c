package sms

import "testing"

func TestSubmitRate(t *testing.T) {
	gw := func(typ string, tps float64, binds int) *gateway {
		return &gateway{cfg: GatewayConfig{Type: typ, TPS: tps, Binds: binds}}
	}
	for _, tc := range []struct {
		name string
		gws  []*gateway
		want float64
	}{
		{"smpp binds multiply", []*gateway{gw("smpp", 500, 4)}, 2000},
		{"http gateways count once", []*gateway{gw("smpp", 500, 2), gw("kannel", 100, 3), gw("webhook", 50, 0)}, 1150},
		{"an uncapped gateway makes the rate unknown", []*gateway{gw("smpp", 500, 2), gw("kannel", 0, 1)}, 0},
	} {
		if got := (&Channel{gateways: tc.gws}).SubmitRate(); got != tc.want {
			t.Errorf("%s: SubmitRate = %v, want %v", tc.name, got, tc.want)
		}
	}
}
