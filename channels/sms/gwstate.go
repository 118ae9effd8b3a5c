package sms

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// gwState is what the channel knows of a gateway's binds beyond "up": the
// last reason a bind failed or was lost, for logs, /readyz and the console.
type gwState struct {
	lastErr   error
	lastErrAt time.Time
}

// bindFailed records why a bind of g failed or was lost and reports
// whether the reason differs from the last one (log loudly only then: a
// refused bind is retried every few seconds for as long as it lasts).
func (g *gateway) bindFailed(err error) (changed bool) {
	g.stateMu.Lock()
	changed = g.state.lastErr == nil || g.state.lastErr.Error() != err.Error()
	g.state.lastErr, g.state.lastErrAt = err, time.Now()
	g.stateMu.Unlock()
	g.c.gatewaysChanged()
	return changed
}

// bindUp records that a bind of g is bound; the last error is kept for
// the record (Status shows it only while some bind is down).
func (g *gateway) bindUp() {
	g.c.gatewaysChanged()
	g.c.wake() // queued jobs go out now, not on the scheduler's next tick
}

// bindDown is called when a bind of g ends.
func (g *gateway) bindDown() {
	g.c.gatewaysChanged()
}

func (g *gateway) lastError() (error, time.Time) {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	return g.state.lastErr, g.state.lastErrAt
}

// gatewaysChanged wakes everything waiting in gatewayChange.
func (c *Channel) gatewaysChanged() {
	c.changeMu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.changeMu.Unlock()
}

// gatewayChange returns a channel closed at the next bind up or down. Take
// it before looking at the state, so no change between is missed.
func (c *Channel) gatewayChange() <-chan struct{} {
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	return c.changed
}

// noGatewayWait is how long Send keeps its recipients queued while no
// gateway is up: until shortly before ctx's deadline (a bind that comes
// back then sends at once, instead of after the task queue's retry
// backoff), or noGatewayGrace when ctx has no deadline.
func noGatewayWait(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return noGatewayGrace
	}
	left := time.Until(dl)
	// Leave time to return the results and the reason before the deadline.
	margin := min(2*time.Second, left/10)
	return max(0, left-margin)
}

// downReasons names each gateway that is down and why, e.g.
// "a: bind refused: ESME_RINVPASWD (0x0E): …".
func (c *Channel) downReasons() string {
	var out []string
	for _, g := range c.gateways {
		if g.impl.up() {
			continue
		}
		why := "no bind up yet"
		if err, _ := g.lastError(); err != nil {
			why = err.Error()
		}
		out = append(out, g.cfg.Name+": "+why)
	}
	return strings.Join(out, "; ")
}

// Readiness is Ready with detail for /readyz: err when no gateway can take
// traffic (naming every gateway's reason); otherwise "ok", or "degraded"
// naming the gateways that are down while another carries the traffic.
// One gateway down is not unready: warnings still go out.
func (c *Channel) Readiness() (detail string, err error) {
	if err := c.Ready(); err != nil {
		return "", err
	}
	if r := c.downReasons(); r != "" {
		return "degraded: " + r, nil
	}
	return "ok", nil
}

func errNoGateway(reasons string) error {
	if reasons == "" {
		return ErrNoGateway
	}
	return fmt.Errorf("%w: %s", ErrNoGateway, reasons)
}
