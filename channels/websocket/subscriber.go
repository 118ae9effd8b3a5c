package websocket

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// subscriber is one connection, WebSocket or SSE.
//
// A WebSocket frame reaches the socket one of two ways. The fan-out writes a
// broadcast frame directly, with one non-blocking write, when nothing is
// queued for the connection (writeNow): the usual case, costing no goroutine,
// channel or timer. Otherwise, or when the socket is full, frames go through
// a bounded queue drained by a writer goroutine that exists only while there
// is something to write, so an idle connection costs one goroutine (its
// reader). Whoever writes holds wlock, so frames never interleave.
type subscriber struct {
	h    *Hub
	q    chan *frame
	ws   *websocket.Conn // nil for SSE
	nc   net.Conn        // ws's connection; every frame is written here (wire.go)
	raw  syscall.RawConn // nc's socket for non-blocking writes; nil under TLS
	done chan struct{}   // closed when the hub drops the subscriber
	ip   string

	wlock       chan struct{} // one token: held while writing to nc
	rest        []byte        // the unwritten end of a frame writeNow began; under wlock
	restPending atomic.Bool   // rest is set: the writer must finish it first
	deadline    time.Time     // nc's write deadline; under wlock

	writing  atomic.Bool // a writer goroutine runs
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
	s := &subscriber{h: h, q: make(chan *frame, h.cfg.SendQueue), ws: ws, done: make(chan struct{}), ip: ip}
	if ws != nil {
		s.nc = ws.NetConn()
		s.wlock = make(chan struct{}, 1)
		if sc, ok := s.nc.(syscall.Conn); ok { // a TCP socket; not TLS
			s.raw, _ = sc.SyscallConn()
		}
	}
	return s
}

func (s *subscriber) transport() string {
	if s.ws == nil {
		return "sse"
	}
	return "websocket"
}

// push hands f to the connection without ever blocking; a full queue means
// the client cannot keep up, and it is told to reconnect and resume.
func (s *subscriber) push(f *frame) bool {
	if s.dead.Load() {
		return false
	}
	if f.wire != nil && s.raw != nil {
		if done, ok := s.writeNow(f); done {
			return ok
		}
	}
	select {
	case s.q <- f:
	default:
		s.h.met.disconnects.WithLabelValues("slow").Inc()
		s.kick(CloseSlow, "too slow: reconnect with last_id")
		return false
	}
	s.startWriter()
	return true
}

// writeNow writes f at once when nothing is queued or being written and the
// socket takes at least part of it; what the socket does not take the writer
// goroutine finishes before anything else. done false: f was not touched,
// queue it.
func (s *subscriber) writeNow(f *frame) (done, ok bool) {
	if s.writing.Load() || len(s.q) > 0 {
		return false, false
	}
	select {
	case s.wlock <- struct{}{}:
	default:
		return false, false
	}
	if s.rest != nil || s.closing.Load() || s.writing.Load() || len(s.q) > 0 {
		<-s.wlock
		return false, false
	}
	n, err := writeNonBlocking(s.raw, f.wire)
	switch {
	case errors.Is(err, errWouldBlock):
		<-s.wlock
		return false, false
	case err != nil:
		<-s.wlock
		s.h.met.disconnects.WithLabelValues("write_error").Inc()
		s.kick(0, "")
		return true, false
	}
	s.h.met.frames.Inc()
	if n < len(f.wire) {
		s.rest = f.wire[n:]
		s.restPending.Store(true)
		s.h.partialWrites.Add(1)
	}
	<-s.wlock
	if n < len(f.wire) {
		s.startWriter()
	}
	return true, true
}

// startWriter starts the writer goroutine unless one runs (WebSocket only:
// an SSE stream's handler is its writer).
func (s *subscriber) startWriter() {
	if s.ws != nil && s.writing.CompareAndSwap(false, true) {
		go s.drain()
	}
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
	s.startWriter()
}

// maxBatch bounds the frames one write(2) carries.
const maxBatch = 16

// drain writes what is queued, several frames per write, and exits when
// nothing is left.
func (s *subscriber) drain() {
	var batch [maxBatch]*frame
	for {
		select {
		case f := <-s.q:
			n := 1
			batch[0] = f
			for more := true; more && n < maxBatch; {
				select {
				case f := <-s.q:
					batch[n] = f
					n++
				default:
					more = false
				}
			}
			err := s.write(batch[:n])
			clear(batch[:n])
			if err != nil {
				s.writing.Store(false)
				return
			}
		default:
			if s.restPending.Load() {
				if err := s.write(nil); err != nil {
					s.writing.Store(false)
					return
				}
			}
			s.writing.Store(false)
			if (len(s.q) == 0 && !s.restPending.Load()) || !s.writing.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// write writes the rest of a frame begun by writeNow, then frames, in one
// blocking write bounded by Config.WriteTimeout. A failed write drops the
// subscriber.
func (s *subscriber) write(frames []*frame) error {
	if s.closing.Load() {
		return errClosing
	}
	s.wlock <- struct{}{}
	defer func() { <-s.wlock }()
	if s.closing.Load() {
		return errClosing
	}
	bufs := make(net.Buffers, 0, 1+2*len(frames))
	if s.rest != nil {
		bufs = append(bufs, s.rest)
	}
	sent := 0
	for _, f := range frames {
		switch {
		case f == pingFrame:
			bufs = append(bufs, pingWire)
		case f.wire != nil:
			bufs = append(bufs, f.wire)
			sent++
		default:
			bufs = append(bufs, wireHeader(opText, len(f.data)), f.data)
			sent++
		}
	}
	// Moving the deadline costs a timer update; only move it when less
	// than half remains.
	now := time.Now()
	if wt := s.h.cfg.WriteTimeout; s.deadline.Sub(now) < wt/2 {
		s.deadline = now.Add(wt)
		_ = s.nc.SetWriteDeadline(s.deadline)
	}
	if s.raw == nil && len(bufs) > 1 {
		// TLS: one record rather than one per buffer.
		bufs = net.Buffers{joinBuffers(bufs)}
	}
	_, err := bufs.WriteTo(s.nc)
	s.rest = nil
	s.restPending.Store(false)
	if err != nil {
		s.h.met.disconnects.WithLabelValues("write_error").Inc()
		s.kick(0, "")
		return err
	}
	s.h.met.frames.Add(float64(sent))
	return nil
}

var errClosing = errors.New("connection closing")

func joinBuffers(bufs net.Buffers) []byte {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	out := make([]byte, 0, n)
	for _, b := range bufs {
		out = append(out, b...)
	}
	return out
}

// writeControl writes one control frame (close, pong) within deadline,
// after any frame already begun; it never waits past deadline for the
// writer.
func (s *subscriber) writeControl(op byte, payload []byte, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case s.wlock <- struct{}{}:
	case <-t.C:
		return errWouldBlock
	}
	defer func() { <-s.wlock }()
	s.deadline = deadline
	_ = s.nc.SetWriteDeadline(deadline)
	bufs := net.Buffers{}
	if s.rest != nil {
		bufs = append(bufs, s.rest)
	}
	bufs = append(bufs, wireFrame(op, payload))
	_, err := bufs.WriteTo(s.nc)
	s.rest = nil
	s.restPending.Store(false)
	return err
}

// answerControl replaces gorilla's ping and close handlers, which would
// write on their own and could interleave with the hub's frames.
func (s *subscriber) answerControl() {
	s.ws.SetPingHandler(func(data string) error {
		_ = s.writeControl(opPong, []byte(data), time.Now().Add(time.Second))
		return nil
	})
	s.ws.SetCloseHandler(func(code int, _ string) error {
		s.closing.Store(true)
		_ = s.writeControl(opClose, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
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
				_ = s.writeControl(opClose, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			}
			_ = s.ws.Close()
		}()
	})
}
