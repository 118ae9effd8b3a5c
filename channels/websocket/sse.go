package websocket

import (
	"bytes"
	"net/http"
	"time"
)

// SSEHandler is the Server-Sent Events fallback (mount at /sse) for
// networks that block WebSocket. The subscription is given as query
// parameters (region, lang, min_level, progress, alert; token for consoles);
// EventSource's automatic Last-Event-ID header resumes after a reconnect.
// Event names are the frame types: warning, snapshot, resumed, progress,
// subscribed, error.
func (h *Hub) SSEHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flusher, ok := w.(http.Flusher)
		if !ok {
			httpError(w, http.StatusInternalServerError, "streaming", "streaming not supported by this server")
			return
		}
		a, ok := h.admit(w, r)
		if !ok {
			return
		}
		defer h.ipl.release(a.ip)
		lim := limits{regions: h.cfg.Regions, maxRegions: h.cfg.MaxRegions, console: a.console}
		sub, lastID, given, err := parseSubscribeQuery(r.URL.Query(), r.Header.Get("Last-Event-ID"), lim)
		if err == nil && !given {
			err = parseErrNoRegion
		}
		if err != nil {
			h.met.rejected.WithLabelValues("bad_request").Inc()
			fieldHTTPError(w, err)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Vary", "Origin")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		// Reconnect quickly; tell the browser once.
		_, _ = w.Write([]byte("retry: 2000\n\n"))
		flusher.Flush()

		s := newSubscriber(h, nil, a.ip)
		h.conns.Add(1)
		defer h.conns.Done()
		h.met.subscribers.WithLabelValues("sse").Inc()
		defer func() {
			s.kick(0, "")
			h.unregister(s)
		}()
		h.subscribe(s, sub, lastID)
		rc := http.NewResponseController(w)
		var buf bytes.Buffer
		for {
			select {
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			case f := <-s.q:
				buf.Reset()
				writeSSE(&buf, f)
				// Coalesce what is already queued into one write.
				for more := true; more && buf.Len() < 64<<10; {
					select {
					case f := <-s.q:
						writeSSE(&buf, f)
					default:
						more = false
					}
				}
				_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
				if _, err := w.Write(buf.Bytes()); err != nil {
					h.met.disconnects.WithLabelValues("write_error").Inc()
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			}
		}
	})
}

func writeSSE(buf *bytes.Buffer, f *frame) {
	if f == pingFrame {
		buf.WriteString(": ping\n\n")
		return
	}
	buf.WriteString("event: ")
	buf.WriteString(f.typ)
	buf.WriteByte('\n')
	if f.id != "" {
		buf.WriteString("id: ")
		buf.WriteString(f.id)
		buf.WriteByte('\n')
	}
	// JSON from encoding/json has no raw newlines, so one data line.
	buf.WriteString("data: ")
	buf.Write(f.data)
	buf.WriteString("\n\n")
}
