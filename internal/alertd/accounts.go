package alertd

import (
	"context"
	"time"
)

// accountsLoop writes the audit summaries of failed-login windows that
// have ended and deletes expired sessions; at shutdown (HTTP already
// closed, the database still open) it summarises every open window so no
// failure goes unrecorded.
func (s *Server) accountsLoop() {
	defer s.bg.Done()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		final := false
		select {
		case <-s.stopBG:
			final = true
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.api.FlushLoginAudit(ctx, final); err != nil {
			s.log.Error("audit of failed logins", "err", err)
		}
		if !final {
			if _, err := s.store.PurgeSessions(ctx, time.Now()); err != nil {
				s.log.Error("purge expired sessions", "err", err)
			}
		}
		cancel()
		if final {
			return
		}
	}
}
