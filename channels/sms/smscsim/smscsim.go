// Package smscsim is an SMPP 3.4 SMSC simulator for demos, tests and
// benchmarks, written on gosmpp's pdu package. It accepts binds, answers
// submit_sm after a configurable latency, caps throughput per bind
// (ESME_RTHROTTLED beyond it), injects throttling errors, drops binds on
// demand and sends deliver_sm delivery receipts with configurable outcomes.
//
// It is a test peer, not a product path: it keeps what it accepted in memory
// so tests can prove what reached the "carrier", and how often.
package smscsim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/time/rate"
)

// Config tunes the simulator. The zero value accepts everything at once,
// with any credentials, and sends no receipts.
type Config struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// SystemID and Password, when set, are required from binds.
	SystemID, Password string
	// Latency before each submit_sm_resp.
	Latency time.Duration
	// TPS caps submits per second per bind; beyond it submits are answered
	// ESME_RTHROTTLED. Zero means no cap.
	TPS float64
	// ThrottleEvery answers every Nth submit (simulator-wide) with
	// ESME_RTHROTTLED, whatever the rate. Zero disables it.
	ThrottleEvery int
	// Reject decides per destination address the submit_sm_resp status;
	// nil uses DefaultReject (invalid numbers get ESME_RINVDSTADR).
	Reject func(dest string) data.CommandStatusType
	// Receipts enables deliver_sm delivery receipts after ReceiptDelay.
	Receipts     bool
	ReceiptDelay time.Duration
	// Outcome gives the receipt stat and err for a destination; nil means
	// DELIVRD / 000.
	Outcome func(dest string) (stat, errCode string)
	// Keep records every accepted message (for tests); counts are kept always.
	Keep bool
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultReject refuses destinations that are not 5–15 digits with an
// optional leading '+' (ESME_RINVDSTADR), like a real SMSC's number check.
func DefaultReject(dest string) data.CommandStatusType {
	d := strings.TrimPrefix(dest, "+")
	if len(d) < 5 || len(d) > 15 {
		return data.ESME_RINVDSTADR
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return data.ESME_RINVDSTADR
		}
	}
	return data.ESME_ROK
}

// Message is one accepted submit_sm.
type Message struct {
	ID         string
	SystemID   string
	Source     string
	Dest       string
	DataCoding byte
	Text       string // decoded per data_coding (GSM 7-bit or UCS-2)
	Raw        []byte // short_message without UDH
	// Concatenation (UDH IE 0x00): reference, total and part number; zero
	// for single-part messages.
	Ref, Total, Part byte
	Registered       byte
	PriorityFlag     byte
	Validity         string // validity_period as sent
	At               time.Time
}

// Server is a running simulator.
type Server struct {
	cfg Config
	ln  net.Listener
	log *slog.Logger

	refuse  atomic.Uint32 // command_status for new binds; 0 accepts
	nextID  atomic.Uint64
	submits atomic.Int64 // every submit_sm seen (accepted or not)
	dropAt  atomic.Int64
	accept  atomic.Int64 // submit_sm answered ESME_ROK

	mu     sync.Mutex
	binds  []BindEvent
	conns  map[*conn]struct{}
	kept   []Message
	perDst map[string]int
	closed bool

	dlrq chan Message
	quit chan struct{}
	wg   sync.WaitGroup
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Reject == nil {
		cfg.Reject = DefaultReject
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smscsim: listen %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, log: log, conns: map[*conn]struct{}{}, perDst: map[string]int{},
		dlrq: make(chan Message, 1<<16), quit: make(chan struct{})}
	s.wg.Add(2)
	go s.serve()
	go s.receipts()
	return s, nil
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Submits counts every submit_sm received, accepted or refused.
func (s *Server) Submits() int { return int(s.submits.Load()) }

// Accepted counts submit_sm answered with ESME_ROK.
func (s *Server) Accepted() int { return int(s.accept.Load()) }

// PerDest returns how many parts were accepted per destination.
func (s *Server) PerDest() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perDst))
	for k, v := range s.perDst {
		out[k] = v
	}
	return out
}

// Messages returns the accepted messages (Config.Keep).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.kept...)
}

// Binds is the number of currently bound connections.
func (s *Server) Binds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.bound.Load() {
			n++
		}
	}
	return n
}

// RefuseBinds makes new binds fail (ESME_RBINDFAIL), like an SMSC in
// maintenance. Existing binds stay.
func (s *Server) RefuseBinds(v bool) {
	if v {
		s.RefuseBindsWith(data.ESME_RBINDFAIL)
	} else {
		s.RefuseBindsWith(data.ESME_ROK)
	}
}

// RefuseBindsWith makes new binds fail with status (ESME_RINVPASWD …), or
// accepts them again with ESME_ROK. Like most SMSCs, a refusal is a
// header-only bind_resp (no system_id body). Existing binds stay.
func (s *Server) RefuseBindsWith(status data.CommandStatusType) { s.refuse.Store(uint32(status)) }

// BindEvent is one bind request the simulator answered.
type BindEvent struct {
	At     time.Time // when the bind was answered (just before bind_resp was written)
	Status data.CommandStatusType
}

// BindLog returns every bind request answered so far, in order.
func (s *Server) BindLog() []BindEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]BindEvent(nil), s.binds...)
}

// ResetBinds aborts every connection with a TCP reset (RST), like an SMSC
// that crashed or a firewall that dropped the session.
func (s *Server) ResetBinds() { s.eachConn((*conn).reset) }

// DropBinds closes every connection at once without answering the submits
// it has read: those were never accepted (not counted, no receipt).
func (s *Server) DropBinds() { s.eachConn((*conn).drop) }

// eachConn calls fn for every open connection, outside the server's lock.
func (s *Server) eachConn(fn func(*conn)) {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		fn(c)
	}
}

// DropAfter arranges for every bind to be dropped, as DropBinds, when the
// simulator has received n more submits.
func (s *Server) DropAfter(n int) {
	s.dropAt.Store(s.submits.Load() + int64(n))
}

// SendGarbage writes bytes that are not a valid PDU to one bound
// connection (a malformed PDU from the SMSC) and reports whether it found one.
func (s *Server) SendGarbage() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.bound.Load() {
			// A full header whose command_length 8 (< 16) is invalid by definition.
			c.writeRaw([]byte{0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1})
			return true
		}
	}
	return false
}

// SendReceipt sends a delivery receipt for m (one of Messages) now, on a
// live bind of the system id that submitted it, whatever Config.Receipts
// says: tests use it for receipts that come late (after a restart). It
// reports whether a bind took it.
func (s *Server) SendReceipt(m Message) bool {
	c := s.receipt(m)
	if c == nil {
		return false
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush() == nil
}

// Close stops listening and closes every connection; safe twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	close(s.quit)
	s.mu.Lock()
	for c := range s.conns {
		c.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{s: s, nc: nc, w: bufio.NewWriterSize(nc, 64<<10), out: make(chan pending, 4096), quit: make(chan struct{})}
		if s.cfg.TPS > 0 {
			c.lim = rate.NewLimiter(rate.Limit(s.cfg.TPS), max(1, int(s.cfg.TPS/10)))
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go c.readLoop()
		go c.writeLoop()
	}
}

type pending struct {
	due  time.Time
	p    pdu.PDU
	msg  *Message // accepted on write: counted only when the response leaves
	dlr  bool
	dest string
}

type conn struct {
	s     *Server
	nc    net.Conn
	lim   *rate.Limiter
	bound atomic.Bool
	sysID string

	wmu  sync.Mutex
	shut bool // guarded by wmu: no more writes
	w    *bufio.Writer
	out  chan pending
	quit chan struct{}
	once sync.Once
}

// drop ends the connection the way a failing SMSC does, but cleanly enough
// for a test oracle: responses already written are flushed and followed by
// FIN; queued, unwritten responses are discarded (those submits were never
// accepted); input is drained until the client closes, so no RST destroys
// responses in flight.
func (c *conn) drop() {
	c.once.Do(func() {
		close(c.quit)
		c.wmu.Lock()
		c.shut = true
		_ = c.w.Flush()
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			_ = c.nc.Close()
		}
		c.wmu.Unlock()
		// Do not wait for a client that never closes.
		time.AfterFunc(2*time.Second, func() { c.nc.Close() })
	})
}

// reset aborts the connection: SO_LINGER 0 makes close send RST.
func (c *conn) reset() {
	c.once.Do(func() {
		close(c.quit)
		c.wmu.Lock()
		c.shut = true
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.nc.Close()
		c.wmu.Unlock()
	})
}

func (c *conn) kill() {
	c.drop()
	c.nc.Close()
}

func (c *conn) writeRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.shut {
		return
	}
	_, _ = c.w.Write(b)
	_ = c.w.Flush()
}

var errShut = errors.New("connection dropped")

// write sends p; accepted, when set, is counted under the same lock, so a
// submit counts as accepted exactly when its response is on its way.
var marshalBufs = sync.Pool{New: func() any { return pdu.NewBuffer(make([]byte, 0, 512)) }}

func (c *conn) write(p pdu.PDU, flush bool, accepted *Message) error {
	buf := marshalBufs.Get().(*pdu.ByteBuffer)
	buf.Reset()
	p.Marshal(buf)
	defer marshalBufs.Put(buf)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.shut {
		return errShut
	}
	if accepted != nil {
		c.s.accepted(accepted)
	}
	if _, err := c.w.Write(buf.Bytes()); err != nil {
		return err
	}
	if flush {
		return c.w.Flush()
	}
	return nil
}

// respond queues p for the write loop, after the configured latency.
func (c *conn) respond(p pending) {
	select {
	case c.out <- p:
	case <-c.quit:
	}
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer func() {
		c.kill()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		p, err := pdu.Parse(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.s.log.Debug("smscsim: read", "err", err)
			}
			return
		}
		select {
		case <-c.quit:
			continue // dropped: drain until the client closes
		default:
		}
		switch q := p.(type) {
		case *pdu.BindRequest:
			resp := pdu.NewBindResp(*q)
			resp.SystemID = "smscsim"
			switch {
			case c.s.refuse.Load() != 0:
				resp.CommandStatus = data.CommandStatusType(c.s.refuse.Load())
			case c.s.cfg.SystemID != "" && q.SystemID != c.s.cfg.SystemID:
				resp.CommandStatus = data.ESME_RINVSYSID
			case c.s.cfg.Password != "" && q.Password != c.s.cfg.Password:
				resp.CommandStatus = data.ESME_RINVPASWD
			default:
				c.sysID = q.SystemID
				c.bound.Store(true)
			}
			// Logged before the answer leaves: nothing the client does
			// after it can carry an earlier time.
			c.s.mu.Lock()
			c.s.binds = append(c.s.binds, BindEvent{At: time.Now(), Status: resp.CommandStatus})
			c.s.mu.Unlock()
			if resp.CommandStatus != data.ESME_ROK {
				c.writeRaw(headerOnly(resp))
			} else {
				_ = c.write(resp, true, nil)
			}
			if resp.CommandStatus != data.ESME_ROK {
				return
			}
		case *pdu.SubmitSM:
			if !c.bound.Load() {
				resp := q.GetResponse()
				resp.(*pdu.SubmitSMResp).CommandStatus = data.ESME_RINVBNDSTS
				_ = c.write(resp, true, nil)
				continue
			}
			c.submit(q)
		case *pdu.EnquireLink:
			_ = c.write(q.GetResponse(), true, nil)
		case *pdu.Unbind:
			_ = c.write(q.GetResponse(), true, nil)
			return
		case *pdu.DeliverSMResp, *pdu.EnquireLinkResp, *pdu.UnbindResp, *pdu.GenericNack:
		default:
			nack := pdu.NewGenericNack()
			nack.SetSequenceNumber(p.GetSequenceNumber())
			nack.(*pdu.GenericNack).CommandStatus = data.ESME_RINVCMDID
			_ = c.write(nack, true, nil)
		}
	}
}

func (c *conn) submit(q *pdu.SubmitSM) {
	s := c.s
	n := s.submits.Add(1)
	if at := s.dropAt.Load(); at > 0 && n >= at && s.dropAt.CompareAndSwap(at, 0) {
		go s.DropBinds()
		c.drop()
		return
	}
	resp := q.GetResponse().(*pdu.SubmitSMResp)
	dest := q.DestAddr.Address()
	status := data.ESME_ROK
	switch {
	case s.cfg.ThrottleEvery > 0 && n%int64(s.cfg.ThrottleEvery) == 0:
		status = data.ESME_RTHROTTLED
	case c.lim != nil && !c.lim.Allow():
		status = data.ESME_RTHROTTLED
	default:
		status = s.cfg.Reject(dest)
	}
	if status != data.ESME_ROK {
		resp.CommandStatus = status
		c.respond(pending{due: time.Now().Add(s.cfg.Latency), p: resp})
		return
	}
	id := strconv.FormatUint(s.nextID.Add(1), 16)
	resp.MessageID = id
	m := &Message{ID: id, SystemID: c.sysID, Source: q.SourceAddr.Address(), Dest: dest,
		DataCoding: q.Message.Encoding().DataCoding(), Registered: q.RegisteredDelivery, PriorityFlag: q.PriorityFlag, Validity: q.ValidityPeriod, At: time.Now()}
	m.Raw, _ = q.Message.GetMessageData()
	if udh := q.Message.UDH(); udh != nil {
		m.Total, m.Part, m.Ref, _ = udh.GetConcatInfo()
	}
	if s.cfg.Keep {
		m.Text, _ = q.Message.GetMessage()
	}
	c.respond(pending{due: time.Now().Add(s.cfg.Latency), p: resp, msg: m, dlr: s.cfg.Receipts && q.RegisteredDelivery&1 == 1, dest: dest})
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	var timer *time.Timer
	for {
		var p pending
		select {
		case p = <-c.out:
		case <-c.quit:
			return
		}
		if d := time.Until(p.due); d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-timer.C:
			case <-c.quit:
				return
			}
		}
		if err := c.write(p.p, len(c.out) == 0, p.msg); err != nil {
			c.drop()
			return
		}
		if p.dlr {
			select {
			case c.s.dlrq <- *p.msg:
			case <-c.quit:
				return
			}
		}
	}
}

func (s *Server) accepted(m *Message) {
	s.accept.Add(1)
	s.mu.Lock()
	s.perDst[m.Dest]++
	if s.cfg.Keep {
		s.kept = append(s.kept, *m)
	}
	s.mu.Unlock()
}

// receipts sends queued delivery receipts, each ReceiptDelay after its
// submit was accepted (one goroutine: the queue is in time order).
func (s *Server) receipts() {
	defer s.wg.Done()
	dirty := map[*conn]bool{}
	flush := func() {
		for c := range dirty {
			c.wmu.Lock()
			_ = c.w.Flush()
			c.wmu.Unlock()
		}
		clear(dirty)
	}
	for {
		var m Message
		select {
		case m = <-s.dlrq:
		case <-s.quit:
			return
		}
		if d := time.Until(m.At.Add(s.cfg.ReceiptDelay)); d > 0 {
			flush()
			select {
			case <-time.After(d):
			case <-s.quit:
				return
			}
		}
		if c := s.receipt(m); c != nil {
			dirty[c] = true
		}
		if len(s.dlrq) == 0 || len(dirty) > 0 && len(s.dlrq)%64 == 0 {
			flush()
		}
	}
}

// receipt sends a deliver_sm receipt for m on a live bind of the same
// system id (the one that submitted, if still up).
func (s *Server) receipt(m Message) *conn {
	stat, errCode := "DELIVRD", "000"
	if s.cfg.Outcome != nil {
		stat, errCode = s.cfg.Outcome(m.Dest)
	}
	dlvrd := "001"
	if stat != "DELIVRD" {
		dlvrd = "000"
	}
	now := time.Now().UTC().Format("0601021504")
	text := fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:", m.ID, dlvrd, m.At.UTC().Format("0601021504"), now, stat, errCode)
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = d.SourceAddr.SetAddress(m.Dest)
	_ = d.DestAddr.SetAddress(m.Source)
	d.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	// The text is letters, digits, spaces and colons: the same bytes in
	// GSM 7-bit (unpacked) and ASCII.
	_ = d.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT)
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: append([]byte(m.ID), 0)})
	s.mu.Lock()
	var target *conn
	for c := range s.conns {
		if c.bound.Load() && c.sysID == m.SystemID {
			target = c
			break
		}
	}
	s.mu.Unlock()
	if target == nil {
		s.log.Debug("smscsim: receipt dropped, no bind", "id", m.ID)
		return nil
	}
	_ = target.write(d, false, nil)
	return target
}

// headerOnly is p's 16-byte header with command_length 16: how SMSCs
// answer a refused bind (SMPP 3.4 §4.1.2: the body is not returned on error).
func headerOnly(p pdu.PDU) []byte {
	buf := pdu.NewBuffer(make([]byte, 0, 64))
	p.Marshal(buf)
	b := append([]byte(nil), buf.Bytes()[:16]...)
	b[0], b[1], b[2], b[3] = 0, 0, 0, 16
	return b
}
