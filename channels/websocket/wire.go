package websocket

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"syscall"
)

// The hub writes WebSocket frames itself (RFC 6455 §5.2, server to client:
// never masked, never fragmented, no extensions) and leaves only the
// handshake and reading to gorilla. That lets the fan-out put one warning on
// thousands of sockets from one goroutine with one non-blocking write(2)
// each — no goroutine started, no channel, no timer per subscriber — and
// hand only the sockets that are full to a writer goroutine.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// wireHeader returns the header of an unmasked, final frame of op carrying
// n payload bytes.
func wireHeader(op byte, n int) []byte {
	var b []byte
	switch {
	case n < 126:
		b = []byte{0, byte(n)}
	case n <= 0xFFFF:
		b = make([]byte, 4)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x80 | op
	return b
}

// wireFrame returns a whole frame: header and payload in one slice.
func wireFrame(op byte, payload []byte) []byte {
	h := wireHeader(op, len(payload))
	return append(h[:len(h):len(h)], payload...)
}

// pingWire is the keep-alive ping frame (empty payload).
var pingWire = wireFrame(opPing, nil)

// errWouldBlock: the socket takes nothing now; the frame goes to the queue.
var errWouldBlock = errors.New("socket send buffer full")

// writeNonBlocking makes one write(2) attempt of b on the socket and never
// waits: it returns how much the kernel took (possibly 0 with
// errWouldBlock). An expired write deadline left by an earlier blocking
// write also reports errWouldBlock: the writer goroutine sets a new one.
func writeNonBlocking(rc syscall.RawConn, b []byte) (int, error) {
	w := attempts.Get().(*attempt)
	w.b = b
	err := rc.Write(w.fn)
	n, werr := w.n, w.err
	*w = attempt{fn: w.fn}
	attempts.Put(w)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, errWouldBlock
	case werr != nil:
		return 0, werr
	case n <= 0:
		return 0, errWouldBlock
	}
	return n, nil
}

// attempt is one write(2) try, with its callback made once: a closure per
// call would cost the fan-out an allocation per subscriber.
type attempt struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var attempts = sync.Pool{New: func() any {
	w := &attempt{}
	w.fn = func(fd uintptr) bool {
		for {
			w.n, w.err = syscall.Write(int(fd), w.b)
			if w.err != syscall.EINTR {
				return true // never wait for the socket
			}
		}
	}
	return w
}}
