package sms

// SubmitRate is how many submits per second the channel's gateways accept
// together (TPS × binds for SMPP, TPS for HTTP, summed); 0 when a gateway
// has no cap. Dispatch uses it to hand the channel no more recipients at a
// time than it can submit soon: a recipient handed over but not yet
// submitted when its worker dies is "possibly sent" to whoever resumes the
// batch, so the fewer of those the better.
func (c *Channel) SubmitRate() float64 {
	total := 0.0
	for _, g := range c.gateways {
		if g.cfg.TPS <= 0 {
			return 0
		}
		n := 1
		if g.cfg.Type == "smpp" {
			n = max(g.cfg.Binds, 1)
		}
		total += g.cfg.TPS * float64(n)
	}
	return total
}
