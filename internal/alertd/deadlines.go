package alertd

import (
	"crypto/subtle"
	"io"
	"net/http"
	"strings"
	"time"
)

// Timeouts of the HTTP server. A client that sends its request head or its
// body a byte at a time (slow loris) holds a goroutine and a socket; on the
// night of a county-wide warning those belong to residents and officers.
const (
	// readHeaderTimeout bounds the request line and headers.
	readHeaderTimeout = 5 * time.Second
	// bodyTimeout bounds a request body after its headers; bodies over
	// bodyTimeoutBytes get one more second per bodyMinRate bytes so that
	// a real CSV import over a slow link still arrives.
	bodyTimeout      = 5 * time.Second
	bodyTimeoutBytes = 64 << 10
	bodyMinRate      = 32 << 10 // bytes per second
	// writeTimeout bounds writing an ordinary response. Streams (WebSocket,
	// SSE) and audio downloads to loudspeakers on slow links manage their
	// own write deadlines per frame.
	writeTimeout = 60 * time.Second
	idleTimeout  = 120 * time.Second
)

// streaming reports whether r is a long-lived stream or a download whose
// handler manages its own deadlines.
func streaming(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return true
	}
	p := r.URL.Path
	return p == "/sse" || strings.HasPrefix(p, "/audio/") || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// withDeadlines sets per-request read and write deadlines on the
// connection: http.Server.ReadTimeout/WriteTimeout cannot be used as they
// would also cut WebSocket and SSE streams.
func withDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if streaming(r) {
			// A deadline left by an earlier request on this keep-alive
			// connection must not cut the stream.
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			d := bodyTimeout
			if r.ContentLength > bodyTimeoutBytes {
				d += time.Duration(r.ContentLength/bodyMinRate) * time.Second
			}
			_ = rc.SetReadDeadline(now.Add(d))
			// Once the body is in, lift the deadline: the server's
			// background read (which notices a client hanging up) must not
			// time out and cancel a long-running handler's context.
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		_ = rc.SetWriteDeadline(now.Add(writeTimeout))
		next.ServeHTTP(w, r)
	})
}

// metricsAuth requires "Authorization: Bearer token" when token is set.
func metricsAuth(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="alertcast-metrics"`)
			http.Error(w, "metrics: Authorization: Bearer METRICS_TOKEN required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the connection's read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
