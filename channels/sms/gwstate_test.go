package sms_test

import (
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

// alertcast_sms_gateway_up{gateway} is 0 while the SMSC refuses every bind
// and 1 once one is accepted; Status drops the error once all binds are up.
func TestGatewayUpGauge(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	sim.RefuseBindsWith(data.ESME_RINVPASWD)
	reg := prometheus.NewRegistry()
	c, err := sms.New(sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	up := func() float64 {
		n, err := testutil.GatherAndCount(reg, "alertcast_sms_gateway_up")
		if err != nil || n != 1 {
			t.Fatalf("alertcast_sms_gateway_up series: %d, %v", n, err)
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "alertcast_sms_gateway_up" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	waitFor(t, 5*time.Second, "a refused bind", func() bool { return c.Status()[0].Error != "" })
	if v := up(); v != 0 {
		t.Fatalf("gateway_up = %v while binds are refused", v)
	}
	sim.RefuseBindsWith(data.ESME_ROK)
	waitChannelBinds(t, c, "a", 2)
	if v := up(); v != 1 {
		t.Fatalf("gateway_up = %v with binds up", v)
	}
	if st := c.Status()[0]; st.Error != "" {
		t.Errorf("Status error %q with every bind up", st.Error)
	}
}
