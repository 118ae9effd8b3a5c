package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// httpGateway runs Workers goroutines that each submit one recipient's
// whole message per request (the gateway splits it into parts).
type httpGateway struct {
	g      *gateway
	client *http.Client
	lim    *rate.Limiter
	ctx    context.Context
	stopF  context.CancelFunc
	wg     sync.WaitGroup
	fails  atomic.Int32
	seq    atomic.Uint64
	submit func(ctx context.Context, j *job, id string) (ref string, err error)
}

func newHTTPGateway(g *gateway) *httpGateway {
	h := &httpGateway{g: g, client: &http.Client{Timeout: g.cfg.ResponseTimeout}}
	h.ctx, h.stopF = context.WithCancel(context.Background())
	if g.cfg.TPS > 0 {
		h.lim = rate.NewLimiter(rate.Limit(g.cfg.TPS), max(1, int(g.cfg.TPS/20)))
	}
	return h
}

func (h *httpGateway) start() {
	for range h.g.cfg.Workers {
		h.wg.Add(1)
		go h.work()
	}
}

func (h *httpGateway) stop() { h.stopF(); h.wg.Wait() }

// up is always true: an HTTP gateway's health is its failure backoff.
func (h *httpGateway) up() bool { return true }

func (h *httpGateway) work() {
	defer h.wg.Done()
	g := h.g
	for {
		var j *job
		select {
		case <-h.ctx.Done():
			return
		case j = <-g.inbox:
			g.c.wake()
		}
		if d := time.Until(g.pauseUntil()); d > 0 {
			// Failing or throttled: give the job back for failover.
			g.c.requeue(j)
			select {
			case <-time.After(d):
			case <-h.ctx.Done():
				return
			}
			continue
		}
		if !j.b.begin(j) {
			continue
		}
		if h.lim != nil && h.lim.Wait(h.ctx) != nil {
			j.b.end(j)
			g.c.requeue(j)
			return
		}
		j.gw = g
		id := fmt.Sprintf("%x-%d", time.Now().UnixNano()&0xffffffffff, h.seq.Add(1))
		ctx, cancel := context.WithTimeout(h.ctx, g.cfg.ResponseTimeout)
		ref, err := h.submit(ctx, j, id)
		cancel()
		j.outstanding = 0
		var st *statusError
		switch {
		case err == nil:
			h.fails.Store(0)
			g.ok()
			g.c.m.submits.WithLabelValues(g.cfg.Name, "ok").Inc()
			for i := range j.p.parts {
				j.ack.set(i, g.cfg.Name+":"+ref)
			}
		case errors.As(err, &st) && st.code == http.StatusTooManyRequests:
			g.c.m.submits.WithLabelValues(g.cfg.Name, "throttled").Inc()
			j.throttled = true
			g.throttle()
		case channels.IsPermanent(err):
			g.c.m.submits.WithLabelValues(g.cfg.Name, "rejected").Inc()
			j.permErr = err
		default:
			g.c.m.submits.WithLabelValues(g.cfg.Name, "error").Inc()
			// A connection error leaves unknown whether the gateway took
			// it; an HTTP error status is a definite no.
			j.lost = !errors.As(err, &st)
			j.tempErr = err
			if h.fails.Add(1) >= 3 {
				g.throttle() // fail over while this gateway is sick
			}
		}
		g.c.complete(j)
	}
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// classifyHTTP: 2xx ok, 429 and 5xx transient, other 4xx permanent.
func classifyHTTP(resp *http.Response) ([]byte, error) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, nil
	}
	err := &statusError{code: resp.StatusCode, body: short(strings.TrimSpace(string(body)))}
	if resp.StatusCode == 429 || resp.StatusCode >= 500 || resp.StatusCode == 401 || resp.StatusCode == 403 {
		// Auth failures are our configuration, not the recipient: transient.
		return nil, err
	}
	return nil, channels.Permanent(err)
}

// newKannelGateway talks to Kannel smsbox's sendsms interface. Kannel does
// the splitting (coding=2 is UCS-2) and calls DLRURL back with %d (type) and
// %A (the SMSC's receipt text).
func newKannelGateway(g *gateway) *httpGateway {
	h := newHTTPGateway(g)
	h.submit = func(ctx context.Context, j *job, id string) (string, error) {
		cfg := g.cfg
		q := url.Values{}
		q.Set("username", cfg.Username)
		q.Set("password", cfg.Password)
		q.Set("from", cfg.SourceAddr)
		q.Set("to", "+"+j.rcpt.Address)
		q.Set("text", j.p.r.Text)
		q.Set("charset", "UTF-8")
		if j.p.r.Encoding == UCS2 {
			q.Set("coding", "2")
		} else {
			q.Set("coding", "0")
		}
		q.Set("max-messages", strconv.Itoa(len(j.p.parts)))
		if j.level >= 3 {
			q.Set("priority", "1")
		}
		if cfg.DLRURL != "" {
			sep := "?"
			if strings.Contains(cfg.DLRURL, "?") {
				sep = "&"
			}
			// Kannel substitutes %d and %A when it calls back.
			q.Set("dlr-url", cfg.DLRURL+sep+"gw="+url.QueryEscape(cfg.Name)+"&id="+url.QueryEscape(id)+
				"&sig="+g.c.dlrSig(cfg.Name, id)+"&type=%d&reply=%A")
			q.Set("dlr-mask", "27") // delivered, undelivered, SMSC ack (intermediate), SMSC reject
		}
		u := cfg.URL
		if strings.Contains(u, "?") {
			u += "&" + q.Encode()
		} else {
			u += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", channels.Permanent(fmt.Errorf("kannel request: %w", err))
		}
		resp, err := h.client.Do(req)
		if err != nil {
			return "", redactURLError(err)
		}
		defer resp.Body.Close()
		if _, err := classifyHTTP(resp); err != nil {
			return "", err
		}
		return id, nil
	}
	return h
}

// redactURLError drops the request URL (it carries the password) from err.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s gateway: %w", ue.Op, ue.Err)
	}
	return err
}

// WebhookRequest is the JSON body posted to a webhook gateway.
type WebhookRequest struct {
	ID       string `json:"id"`
	To       string `json:"to"`
	Text     string `json:"text"`
	Encoding string `json:"encoding"`
	Parts    int    `json:"parts"`
	Priority int    `json:"priority"`
}

// WebhookResponse is what a webhook gateway may answer with (2xx); its
// message_id, when given, is what its callbacks will name.
type WebhookResponse struct {
	MessageID string `json:"message_id"`
}

// WebhookReceipt is the JSON a webhook provider posts to the DLR handler
// (with ?gw=<gateway name>), signed like requests.
type WebhookReceipt struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status"` // delivered, failed, expired (or a DLR stat such as DELIVRD)
	ErrorCode string `json:"error_code"`
}

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
const SignatureHeader = "X-Alertcast-Signature"

// Sign returns the SignatureHeader value for body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func verify(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

func newWebhookGateway(g *gateway) *httpGateway {
	h := newHTTPGateway(g)
	h.submit = func(ctx context.Context, j *job, id string) (string, error) {
		body, _ := json.Marshal(WebhookRequest{ID: id, To: "+" + j.rcpt.Address, Text: j.p.r.Text,
			Encoding: j.p.r.Encoding, Parts: len(j.p.parts), Priority: j.level})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.URL, bytes.NewReader(body))
		if err != nil {
			return "", channels.Permanent(fmt.Errorf("webhook request: %w", err))
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(g.cfg.HMACSecret, body))
		resp, err := h.client.Do(req)
		if err != nil {
			return "", redactURLError(err)
		}
		defer resp.Body.Close()
		rb, err := classifyHTTP(resp)
		if err != nil {
			return "", err
		}
		var wr WebhookResponse
		if json.Unmarshal(rb, &wr) == nil && wr.MessageID != "" {
			return wr.MessageID, nil
		}
		return id, nil
	}
	return h
}

// KannelDLR is a parsed Kannel dlr-url callback.
type KannelDLR struct {
	Gateway string
	ID      string
	Type    int // Kannel DLR type: 1 delivered, 2 undelivered, 4 queued, 8 SMSC ack, 16 SMSC reject
	Reply   string
}

// ParseKannelDLR validates the query of a Kannel DLR callback.
func ParseKannelDLR(q url.Values) (KannelDLR, error) {
	d := KannelDLR{Gateway: q.Get("gw"), ID: q.Get("id"), Reply: q.Get("reply")}
	if d.Gateway == "" || len(d.Gateway) > 64 {
		return d, &warning.FieldError{Field: "gw", Rule: "gateway name, 1–64 bytes", Value: short(d.Gateway)}
	}
	if d.ID == "" || len(d.ID) > 64 {
		return d, &warning.FieldError{Field: "id", Rule: "message id, 1–64 bytes", Value: short(d.ID)}
	}
	t, err := strconv.Atoi(q.Get("type"))
	if err != nil {
		return d, &warning.FieldError{Field: "type", Rule: "Kannel DLR type 1, 2, 4, 8 or 16", Value: short(q.Get("type"))}
	}
	switch t {
	case 1, 2, 4, 8, 16:
	default:
		return d, &warning.FieldError{Field: "type", Rule: "Kannel DLR type 1, 2, 4, 8 or 16", Value: short(q.Get("type"))}
	}
	d.Type = t
	return d, nil
}

// State maps the Kannel DLR type; StateSent means not final.
func (d KannelDLR) State() (channels.State, string) {
	detail := ""
	if r, err := ParseDLR(d.Reply); err == nil {
		detail = r.Detail()
		if st := r.State(); st != channels.StateSent && (d.Type == 1 || d.Type == 2) {
			return st, detail
		}
	}
	switch d.Type {
	case 1:
		return channels.StateDelivered, firstNonEmpty(detail, "DELIVRD")
	case 2:
		return channels.StateFailed, firstNonEmpty(detail, "UNDELIV")
	case 16:
		return channels.StateFailed, firstNonEmpty(detail, "SMSC reject")
	default:
		return channels.StateSent, detail
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (c *Channel) gatewayByName(name string) *gateway {
	for _, g := range c.gateways {
		if g.cfg.Name == name {
			return g
		}
	}
	return nil
}

// serveDLR: GET = Kannel callback, POST = signed webhook receipt.
func (c *Channel) serveDLR(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		d, err := ParseKannelDLR(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if g := c.gatewayByName(d.Gateway); g == nil || g.cfg.Type != "kannel" {
			http.Error(w, (&warning.FieldError{Field: "gw", Rule: "a configured kannel gateway", Value: short(d.Gateway)}).Error(), http.StatusBadRequest)
			return
		}
		// Only Kannel knows the sig we put in its dlr-url: nobody else can
		// forge delivery states.
		if !hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(c.dlrSig(d.Gateway, d.ID))) {
			http.Error(w, "sig: does not match this gateway and id", http.StatusUnauthorized)
			return
		}
		st, detail := d.State()
		c.receipt(d.Gateway, d.ID, st, detail)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		name := r.URL.Query().Get("gw")
		g := c.gatewayByName(name)
		if g == nil || g.cfg.Type != "webhook" {
			http.Error(w, (&warning.FieldError{Field: "gw", Rule: "a configured webhook gateway", Value: short(name)}).Error(), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
		if err != nil {
			http.Error(w, "body: at most 16 KiB", http.StatusRequestEntityTooLarge)
			return
		}
		if !verify(g.cfg.HMACSecret, body, r.Header.Get(SignatureHeader)) {
			http.Error(w, SignatureHeader+": invalid signature", http.StatusUnauthorized)
			return
		}
		st, detail, id, err := parseWebhookReceipt(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.receipt(name, id, st, detail)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func parseWebhookReceipt(body []byte) (channels.State, string, string, error) {
	var wr WebhookReceipt
	if err := json.Unmarshal(body, &wr); err != nil {
		return 0, "", "", &warning.FieldError{Field: "body", Rule: "JSON receipt object", Value: short(err.Error())}
	}
	if wr.MessageID == "" || len(wr.MessageID) > 64 {
		return 0, "", "", &warning.FieldError{Field: "message_id", Rule: "1–64 bytes", Value: short(wr.MessageID)}
	}
	var st channels.State
	switch strings.ToLower(wr.Status) {
	case "delivered", "delivrd":
		st = channels.StateDelivered
	case "failed", "undeliv", "rejectd", "deleted", "unknown":
		st = channels.StateFailed
	case "expired":
		st = channels.StateExpired
	case "accepted", "acceptd", "enroute", "sent":
		st = channels.StateSent
	default:
		return 0, "", "", &warning.FieldError{Field: "status", Rule: "delivered, failed or expired", Value: short(wr.Status)}
	}
	detail := strings.ToUpper(wr.Status)
	if wr.ErrorCode != "" {
		detail += " err:" + short(wr.ErrorCode)
	}
	return st, detail, wr.MessageID, nil
}

// dlrSig authenticates a Kannel DLR callback URL: HMAC-SHA256 over gateway
// and id with the gateway's hmac_secret, or a per-process random key when
// none is configured (callbacks then do not survive a restart).
func (c *Channel) dlrSig(gw, id string) string {
	key := c.dlrKey
	if g := c.gatewayByName(gw); g != nil && g.cfg.HMACSecret != "" {
		key = []byte(g.cfg.HMACSecret)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(gw))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))[:32]
}
