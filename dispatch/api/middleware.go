package api

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// This file holds the HTTP middleware every alertd request passes through,
// outermost first: Forwarded (who the client really is, over which scheme),
// then RequestID. The API, the channels' endpoints and the audit all read the
// client address through RemoteAddr, so there is one answer to "who asked".

type mwKey int

const (
	requestIDKey mwKey = iota + 1
	httpsKey
)

// RequestIDFrom returns the request id set by RequestID ("" outside it).
func RequestIDFrom(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey).(string)
	return v
}

// RequestID gives every request an id, answered in X-Request-Id and logged
// with any internal error, so an officer can quote it and an operator can
// find the real cause. A client-sent id is never trusted (it would let a
// caller forge log lines).
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// TrustedProxies is the set of peer addresses whose X-Forwarded-For and
// X-Forwarded-Proto headers are believed. From anyone else the headers are
// ignored: they are trivially forged.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses CIDRs or bare addresses ("10.0.0.0/8",
// "127.0.0.1"); the error names the entry at fault.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var out TrustedProxies
	for i, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is not a CIDR or IP address", i, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Contains reports whether addr (an IP, with or without port) is trusted.
func (t TrustedProxies) Contains(addr string) bool {
	if len(t) == 0 {
		return false
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientOf walks X-Forwarded-For from the right, skipping trusted proxies:
// the first untrusted hop is the client (left-most entries are whatever the
// client chose to send).
func (t TrustedProxies) clientOf(peer string, xff []string) string {
	var hops []string
	for _, v := range xff {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // garbage: stop at the last hop we could trust
		}
		client = a.Unmap().String()
		if !t.Contains(client) {
			break
		}
	}
	return client
}

// Forwarded resolves the real client behind trusted proxies: it rewrites
// r.RemoteAddr to the client's address (so RemoteAddr, the audit, rate
// limits and the channels' per-address caps see the client, not the proxy)
// and notes whether the client's connection was HTTPS. Responses to HTTPS
// clients get Strict-Transport-Security and every Set-Cookie gets Secure.
func Forwarded(trusted TrustedProxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		https := r.TLS != nil
		if trusted.Contains(r.RemoteAddr) {
			peer, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				peer = r.RemoteAddr
			}
			if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
				r.RemoteAddr = net.JoinHostPort(trusted.clientOf(peer, xff), "0")
			}
			if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
				// The proxy nearest to us speaks last.
				if i := strings.LastIndexByte(p, ','); i >= 0 {
					p = p[i+1:]
				}
				https = strings.EqualFold(strings.TrimSpace(p), "https")
			}
		} else {
			// Nobody downstream may believe what an untrusted peer claims.
			r.Header.Del("X-Forwarded-For")
			r.Header.Del("X-Forwarded-Proto")
		}
		if https {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
			w = &secureCookies{ResponseWriter: w}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), httpsKey, https)))
	})
}

// IsHTTPS reports whether the client reached us over HTTPS, directly or
// through a trusted TLS-terminating proxy.
func IsHTTPS(r *http.Request) bool {
	if v, ok := r.Context().Value(httpsKey).(bool); ok {
		return v
	}
	return r.TLS != nil
}

// secureCookies adds the Secure attribute to every cookie set on an HTTPS
// response, whichever handler set it.
type secureCookies struct {
	http.ResponseWriter
	done bool
}

func (s *secureCookies) fix() {
	if s.done {
		return
	}
	s.done = true
	h := s.ResponseWriter.Header()
	cs := h.Values("Set-Cookie")
	for i, c := range cs {
		if !hasAttr(c, "secure") {
			cs[i] = c + "; Secure"
		}
	}
}

func hasAttr(cookie, name string) bool {
	for _, part := range strings.Split(cookie, ";")[1:] {
		k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func (s *secureCookies) WriteHeader(code int) {
	s.fix()
	s.ResponseWriter.WriteHeader(code)
}

func (s *secureCookies) Write(b []byte) (int, error) {
	s.fix()
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (deadlines, flush, hijack for
// WebSocket upgrades) reach the connection.
func (s *secureCookies) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush keeps streaming responses (SSE) streaming.
func (s *secureCookies) Flush() {
	s.fix()
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack keeps WebSocket upgrades working (gorilla asserts http.Hijacker).
func (s *secureCookies) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// capContentType reports whether ct names an XML media type CAP may come
// in (parameters such as charset are allowed).
func capContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/cap+xml", "application/xml", "text/xml":
		return true
	}
	return false
}
