package sms_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

const testPassword = "pw8chars" // SMPP 3.4 passwords are at most 8 bytes

func startSim(t testing.TB, cfg smscsim.Config) *smscsim.Server {
	t.Helper()
	if cfg.SystemID == "" {
		cfg.SystemID, cfg.Password = "alertcast", testPassword
	}
	s, err := smscsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func smppGW(name, addr string, prio int) sms.GatewayConfig {
	return sms.GatewayConfig{Name: name, Type: "smpp", Addr: addr, SystemID: "alertcast", Password: testPassword,
		SourceAddr: "12379", Binds: 2, Window: 20, Priority: prio, ResponseTimeout: 3 * time.Second}
}

func newChannel(t testing.TB, cfg sms.Config, rep channels.Reporter, log *slog.Logger) *sms.Channel {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := sms.New(cfg, rep, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitBound waits until the simulator sees n binds.
func waitBound(t testing.TB, s *smscsim.Server, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d binds", n), func() bool { return s.Binds() >= n })
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testsvc.WaitFor(t, d, what, cond)
}

func recipients(from, n int, lang string) []channels.Recipient {
	out := make([]channels.Recipient, n)
	for i := range out {
		out[i] = channels.Recipient{ID: fmt.Sprintf("r%07d", from+i), Address: fmt.Sprintf("+86139%08d", from+i), Language: lang}
	}
	return out
}

func message(level int, drill bool) *channels.Message {
	m := channeltest.Sample()
	m.Level, m.Status = warning.Level(level), warning.StatusActual
	if drill {
		m.Status = warning.StatusExercise
	}
	m.Key = fmt.Sprintf("alert-%d-%v/v1", level, drill)
	return m
}

func send(t testing.TB, c *sms.Channel, m *channels.Message, to []channels.Recipient) map[string]channels.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Send(ctx, m, to)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return channeltest.CheckResults(t, to, res)
}

// recorder keeps receipts by ref.
type recorder struct{ channeltest.Recorder }

func (r *recorder) byRef() map[string]channels.Receipt {
	m := map[string]channels.Receipt{}
	for _, rc := range r.Receipts() {
		m[rc.Ref] = rc
	}
	return m
}

func (r *recorder) len() int { return len(r.Receipts()) }

// waitChannelBinds waits until the channel itself counts n binds on gateway.
func waitChannelBinds(t testing.TB, c *sms.Channel, gateway string, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d binds on %s", n, gateway), func() bool {
		for _, s := range c.Status() {
			if s.Name == gateway && s.Binds >= n && s.Healthy {
				return true
			}
		}
		return false
	})
}
