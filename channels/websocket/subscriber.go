package websocket

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// subscriber is one connection, WebSocket or SSE. Frames go through a
// bounded queue; a WebSocket's writer goroutine exists only while there is
// something to write, so an idle connection costs one goroutine (its reader).
type subscriber struct {
	h    *Hub
	q    chan *frame
	ws   *websocket.Conn // nil for SSE
	done chan struct{}   // closed when the hub drops the subscriber
	ip   string

	deadline time.Time // current write deadline; only the writer touches it
	writing  atomic.Bool
	dead     atomic.Bool // takes no more frames
	closing  atomic.Bool // writes no more frames
	kickOnce sync.Once

	// guarded by h.mu
	sub             subscription
	live            bool     // receives live events
	skipUpTo        streamID // events up to here were already seen by the client
	pendingSnapshot bool     // connected before the hub had loaded its state
	scope           *scope   // in h.scopes while subscribed
	scopeAt         int      // index in scope.subs
}

func newSubscriber(h *Hub, ws *websocket.Conn, ip string) *subscriber {
	return &subscriber{h: h, q: make(chan *frame, h.cfg.SendQueue), ws: ws, done: make(chan struct{}), ip: ip}
}

func (s *subscriber) transport() string {
	if s.ws == nil {
		return "sse"
	}
	return "websocket"
}

// push queues f without ever blocking; a full queue means the client cannot
// keep up, and it is told to reconnect and resume.
func (s *subscriber) push(f *frame) bool {
	if s.dead.Load() {
		return false
	}
	select {
	case s.q <- f:
	default:
		s.h.met.disconnects.WithLabelValues("slow").Inc()
		s.kick(CloseSlow, "too slow: reconnect with last_id")
		return false
	}
	if s.ws != nil && s.writing.CompareAndSwap(false, true) {
		go s.drain()
	}
	return true
}

// ping queues a keep-alive unless the queue is already busy (then the
// pending frames keep the connection alive anyway).
func (s *subscriber) ping() {
	if s.dead.Load() || len(s.q) > 0 {
		return
	}
	select {
	case s.q <- pingFrame:
	default:
		return
	}
	if s.ws != nil && s.writing.CompareAndSwap(false, true) {
		go s.drain()
	}
}

// drain writes queued frames and exits when the queue is empty.
func (s *subscriber) drain() {
	for {
		select {
		case f := <-s.q:
			if s.closing.Load() {
				s.writing.Store(false)
				return
			}
			if err := s.writeWS(f); err != nil {
				s.h.met.disconnects.WithLabelValues("write_error").Inc()
				s.kick(0, "")
				s.writing.Store(false)
				return
			}
		default:
			s.writing.Store(false)
			if len(s.q) == 0 || !s.writing.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

func (s *subscriber) writeWS(f *frame) error {
	// Moving the deadline costs a timer update per write; with thousands of
	// connections per event only move it when less than half remains.
	now := time.Now()
	if wt := s.h.cfg.WriteTimeout; s.deadline.Sub(now) < wt/2 {
		s.deadline = now.Add(wt)
		_ = s.ws.SetWriteDeadline(s.deadline)
	}
	if f == pingFrame {
		return s.ws.WriteMessage(websocket.PingMessage, nil)
	}
	s.h.met.frames.Inc()
	if f.pm != nil {
		return s.ws.WritePreparedMessage(f.pm)
	}
	return s.ws.WriteMessage(websocket.TextMessage, f.data)
}

// kick drops the subscriber: a WebSocket gets a close frame with code (0:
// none) and its connection closed, which ends its reader; an SSE stream
// ends. Safe from any goroutine, any number of times.
func (s *subscriber) kick(code int, reason string) { s.kickAfter(code, reason, false) }

// kickAfter is kick; with flush it first lets the writer send what is
// queued (an error frame explaining the close), for at most half a second.
func (s *subscriber) kickAfter(code int, reason string, flush bool) {
	s.kickOnce.Do(func() {
		s.dead.Store(true)
		close(s.done)
		if s.ws == nil {
			return
		}
		go func() {
			if flush {
				for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
					if len(s.q) == 0 && !s.writing.Load() {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			s.closing.Store(true)
			if code != 0 {
				_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			}
			_ = s.ws.Close()
		}()
	})
}
