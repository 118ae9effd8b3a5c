package alertd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/dispatch"
)

// A ticket is how a browser authenticates a WebSocket (/ws, /voice/ws)
// without putting its session in a URL or in JavaScript-readable storage:
// the page, logged in by its HttpOnly cookie, asks POST /api/v1/tickets for
// a ticket and presents it once, within ticketTTL, on the upgrade. Tickets
// live in Redis (any node may redeem) under their SHA-256, and GETDEL makes
// the first use the only one.
const (
	ticketTTL       = 30 * time.Second
	ticketPrefix    = "tkt_"
	ticketKeyPrefix = "alertcast:ticket:"
)

type ticketStore struct{ rdb redis.UniversalClient }

func ticketKey(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return ticketKeyPrefix + hex.EncodeToString(sum[:])
}

// Issue mints a ticket for the user.
func (t ticketStore) Issue(ctx context.Context, name string, role dispatch.Role) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tk := ticketPrefix + base64.RawURLEncoding.EncodeToString(b)
	if err := t.rdb.Set(ctx, ticketKey(tk), role.String()+"|"+name, ticketTTL).Err(); err != nil {
		return "", err
	}
	return tk, nil
}

// Redeem consumes a ticket: the first call returns its user and role, every
// later one (and one after ticketTTL) fails.
func (t ticketStore) Redeem(ctx context.Context, ticket string) (string, dispatch.Role, bool) {
	if !strings.HasPrefix(ticket, ticketPrefix) || len(ticket) > 100 {
		return "", dispatch.RoleUnknown, false
	}
	v, err := t.rdb.GetDel(ctx, ticketKey(ticket)).Result()
	if err != nil {
		return "", dispatch.RoleUnknown, false
	}
	rs, name, ok := strings.Cut(v, "|")
	role, err := dispatch.ParseRole(rs)
	if !ok || err != nil || name == "" {
		return "", dispatch.RoleUnknown, false
	}
	return name, role, true
}

// isTicket reports whether a credential is shaped like a ticket (tickets
// are only ever redeemed, never looked up as API tokens).
func isTicket(s string) bool { return strings.HasPrefix(s, ticketPrefix) }

// ticketsHandler serves POST /api/v1/tickets for an authenticated user
// (bearer token, or session cookie with its CSRF header).
func (s *Server) ticketsHandler() http.Handler {
	store := ticketStore{rdb: s.redis.Client}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		by, err := s.api.Authenticate(r)
		if err != nil {
			status, code, msg := http.StatusUnauthorized, "unauthorized", "authentication required: log in, or Authorization: Bearer TOKEN"
			if errors.Is(err, dispatch.ErrForbidden) {
				status, code, msg = http.StatusForbidden, "forbidden", err.Error()
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="alertcast"`)
			}
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
			return
		}
		tk, err := store.Issue(r.Context(), by.Name, by.Role)
		if err != nil {
			id := dispatch.RequestIDFrom(r.Context())
			s.log.Error("issue ticket", "request_id", id, "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "unavailable",
				"message": "cannot issue a ticket now (request id " + id + ")"}})
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"ticket": tk, "expires_in": int(ticketTTL / time.Second)})
	})
}

// credentials tells the channels' own endpoints (console WebSocket, voice
// page) who holds a token or ticket. It is made before the channels, from
// the store and Redis: tokens is used only for its token lookup, the same
// one the HTTP API makes (dispatch.API.TokenRole).
type credentials struct {
	tokens  *dispatch.API
	tickets ticketStore
}

// voice authenticates the voice page's "auth" frame: a one-use ticket, or
// an API token typed by the user.
func (c credentials) voice(ctx context.Context, token string) (string, dispatch.Role, bool) {
	if isTicket(token) {
		return c.tickets.Redeem(ctx, token)
	}
	return c.tokens.TokenRole(ctx, token)
}
