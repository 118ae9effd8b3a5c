package websocket

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
)

const (
	maxBadFrames     = 5  // error frames before the connection is closed
	maxSubscribesMin = 30 // subscribe frames per minute before it is abuse
)

// admission is what is decided before a connection is accepted.
type admission struct {
	ip      string
	console bool
}

// admit checks closing, origin, token, per-address caps and the public rate.
// On refusal it has written the HTTP error.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (admission, bool) {
	a := admission{ip: clientIP(r, h.cfg.ClientIPHeader)}
	if h.closed.Load() {
		httpError(w, http.StatusServiceUnavailable, "closing", "server is restarting; reconnect with last_id")
		return a, false
	}
	if !h.checkOrigin(r) {
		h.met.rejected.WithLabelValues("origin").Inc()
		httpError(w, http.StatusForbidden, "origin", "origin not allowed")
		return a, false
	}
	if r.URL.Query().Has("token") {
		// A long-lived credential in a URL ends up in proxy and browser
		// history; refuse it rather than quietly accept it.
		h.met.rejected.WithLabelValues("token").Inc()
		httpError(w, http.StatusBadRequest, "token_in_url",
			"token: not accepted in the URL; send Authorization: Bearer, or a one-use ticket from POST /api/v1/tickets as ?ticket=")
		return a, false
	}
	if tok, isTicket := credential(r); tok != "" {
		role := ""
		ok := false
		switch {
		case isTicket && h.cfg.RedeemTicket != nil:
			role, ok = h.cfg.RedeemTicket(r.Context(), tok)
		case !isTicket && h.cfg.Authenticate != nil:
			role, ok = h.cfg.Authenticate(r.Context(), tok)
		}
		if !ok {
			h.met.rejected.WithLabelValues("token").Inc()
			httpError(w, http.StatusUnauthorized, "token", "invalid, used or expired token or ticket")
			return a, false
		}
		a.console = true
		h.log.Debug("console connecting", "role", role)
	} else if !h.ipl.allowNew(a.ip, time.Now()) {
		h.met.rejected.WithLabelValues("rate").Inc()
		w.Header().Set("Retry-After", "2")
		httpError(w, http.StatusTooManyRequests, "rate", "too many new connections from your address; retry shortly")
		return a, false
	}
	if !h.ipl.acquire(a.ip) {
		h.met.rejected.WithLabelValues("per_ip").Inc()
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusTooManyRequests, "per_ip", "too many connections from your address")
		return a, false
	}
	return a, true
}

// Handler is the WebSocket endpoint (mount at /ws). A subscription can be
// given as query parameters (region, repeatable or comma-separated; lang;
// min_level; last_id; for consoles also progress=1, alert=ID and all=1 for
// every region) or later as a subscribe frame; a console passes its token
// as "Authorization: Bearer …" or a one-use ?ticket=.
func (h *Hub) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := h.admit(w, r)
		if !ok {
			return
		}
		lim := limits{regions: h.cfg.Regions, maxRegions: h.cfg.MaxRegions, console: a.console}
		sub, lastID, given, err := parseSubscribeQuery(r.URL.Query(), "", lim)
		if err != nil {
			h.ipl.release(a.ip)
			h.met.rejected.WithLabelValues("bad_request").Inc()
			fieldHTTPError(w, err)
			return
		}
		conn, err := h.up.Upgrade(w, r, nil)
		if err != nil {
			h.ipl.release(a.ip) // Upgrade has answered the client
			return
		}
		s := newSubscriber(h, conn, a.ip)
		h.conns.Add(1)
		h.met.subscribers.WithLabelValues("websocket").Inc()
		var initial *subscription
		if given {
			initial = &sub
		}
		// The handler returns and the HTTP server's goroutine (with its grown
		// stack) ends; a fresh, small goroutine reads this connection.
		go h.readWS(s, a.console, initial, lastID)
	})
}

func (h *Hub) readWS(s *subscriber, console bool, initial *subscription, lastID string) {
	c := s.ws
	defer func() {
		s.kick(0, "")
		h.unregister(s)
		h.ipl.release(s.ip)
		h.conns.Done()
	}()
	if h.closed.Load() {
		return
	}
	idle := 2*h.cfg.PingInterval + h.cfg.WriteTimeout
	c.SetReadLimit(4 * h.cfg.MaxFrame)
	_ = c.SetReadDeadline(time.Now().Add(idle))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(idle)) })
	s.answerControl()
	if initial != nil {
		h.subscribe(s, *initial, lastID)
	}
	lim := limits{regions: h.cfg.Regions, maxRegions: h.cfg.MaxRegions, console: console}
	bad, subs := 0, 0
	window := time.Now()
	for {
		typ, rd, err := c.NextReader()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				h.met.disconnects.WithLabelValues("frame_too_big").Inc()
			}
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(idle))
		b, err := io.ReadAll(io.LimitReader(rd, h.cfg.MaxFrame+1))
		if err != nil {
			return
		}
		var ferr error
		switch {
		case typ != websocket.TextMessage:
			ferr = &warning.FieldError{Field: "frame", Rule: "text frames with JSON only"}
		case int64(len(b)) > h.cfg.MaxFrame:
			_, _ = io.Copy(io.Discard, rd)
			ferr = &warning.FieldError{Field: "frame", Rule: "at most " + itoa(int(h.cfg.MaxFrame)) + " bytes"}
		}
		var sub subscription
		var last string
		if ferr == nil {
			sub, last, ferr = parseSubscribeFrame(b, lim)
		}
		if ferr != nil {
			bad++
			s.push(errorFrame("bad_frame", ferr))
			if bad >= maxBadFrames {
				h.met.disconnects.WithLabelValues("abusive").Inc()
				s.kickAfter(CloseAbusive, "too many bad frames", true)
				return
			}
			continue
		}
		if time.Since(window) > time.Minute {
			window, subs = time.Now(), 0
		}
		if subs++; subs > maxSubscribesMin {
			h.met.disconnects.WithLabelValues("abusive").Inc()
			s.push(errorFrame("too_many_subscribes", &warning.FieldError{Field: "type", Rule: "at most 30 subscribe frames per minute"}))
			s.kickAfter(CloseAbusive, "too many subscribe frames", true)
			return
		}
		h.subscribe(s, sub, last)
	}
}

func errorFrame(code string, err error) *frame {
	v := map[string]string{"type": "error", "code": code, "message": err.Error()}
	var fe *warning.FieldError
	if errors.As(err, &fe) {
		v["field"] = fe.Field
	}
	return controlFrame("error", "", v)
}

func (h *Hub) checkOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser: nothing to forge
	}
	for _, a := range h.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), o) {
			return true
		}
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// credential returns the bearer token of the Authorization header, else the
// one-use ticket of the "ticket" query parameter (isTicket true).
func credential(r *http.Request) (cred string, isTicket bool) {
	if v := r.Header.Get("Authorization"); v != "" {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t), false
		}
	}
	if t := r.URL.Query().Get("ticket"); t != "" {
		return t, true
	}
	return "", false
}

func clientIP(r *http.Request, header string) string {
	if header != "" {
		if v := r.Header.Get(header); v != "" {
			if i := strings.LastIndexByte(v, ','); i >= 0 {
				v = v[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(v)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"type": "error", "code": code, "message": msg})
}

func fieldHTTPError(w http.ResponseWriter, err error) {
	v := map[string]string{"type": "error", "code": "bad_request", "message": err.Error()}
	var fe *warning.FieldError
	if errors.As(err, &fe) {
		v["field"] = fe.Field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(v)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
