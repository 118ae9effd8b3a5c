package alertd

import (
	"context"
	"net/http"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/outbox"
	"github.com/alertcast/alertcast/console"
	"github.com/alertcast/alertcast/dispatch"
)

// wireChannels builds every channel. A channel that is not configured is
// replaced by the outbox, and the log says so loudly.
func (s *Server) wireChannels(ctx context.Context) (map[string]channels.Channel, dispatch.Previewer, error) {
	out := map[string]channels.Channel{}
	var preview dispatch.Previewer
	rec := outboxRecorder{s.store}
	for _, name := range dispatch.ChannelNames {
		if out[name] == nil {
			out[name] = outbox.New(name, rec)
			s.log.Warn("channel not configured: messages are recorded in the outbox (GET /api/v1/outbox), NOT SENT", "channel", name)
		}
	}
	return out, preview, nil
}

// audioRenderer returns the programme renderer (nil: none).
func (s *Server) audioRenderer() dispatch.AudioRenderer { return nil }

// onAlertChange is called after every stored change of a warning.
func (s *Server) onAlertChange(a *dispatch.Alert) {}

// mountChannels adds the channels' HTTP endpoints.
func (s *Server) mountChannels(mux *http.ServeMux) {}

// mountConsole serves the duty officer console at / (assets under /console/).
// Only GET patterns, so the API keeps its own 404 and 405 answers.
func (s *Server) mountConsole(mux *http.ServeMux) {
	h := console.Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /console/", h)
}
