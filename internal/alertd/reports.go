package alertd

import (
	"context"
	"net/http"

	"github.com/alertcast/alertcast/console"
	"github.com/alertcast/alertcast/dispatch/api"
)

// publishReport tells every open console, on every API node, of a field
// report change: the WebSocket hub's progress feed (Redis pub/sub) carries
// {"type":"progress","alert_id":…,"progress":{"report":{id, change, kind, at}}}.
// The frame holds no report content: consoles fetch it through the API,
// which checks that they are officers.
func (s *Server) publishReport(ctx context.Context, alertID string, ev api.ReportEvent) error {
	if s.ws == nil {
		return nil
	}
	return s.ws.PublishProgress(ctx, alertID, map[string]any{"report": ev})
}

// mountField serves the field teams' reporting page at /field/.
func (s *Server) mountField(mux api.Router) {
	mux.Handle("GET /field/", console.FieldHandler())
	mux.Handle("GET /field", http.RedirectHandler("/field/", http.StatusFound))
}
