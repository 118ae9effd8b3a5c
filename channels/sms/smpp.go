package sms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	smpperrors "github.com/linxGnu/gosmpp/errors"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/time/rate"
)

// smppGateway runs cfg.Binds transceiver binds to one SMSC.
type smppGateway struct {
	g     *gateway
	binds []*bind
	ctx   context.Context
	stopF context.CancelFunc
	wg    sync.WaitGroup
	bound atomic.Int32
}

func newSMPPGateway(g *gateway) *smppGateway {
	s := &smppGateway{g: g}
	s.ctx, s.stopF = context.WithCancel(context.Background())
	for i := range g.cfg.Binds {
		b := &bind{s: s, n: i, log: g.log.With("bind", i)}
		if g.cfg.TPS > 0 {
			b.lim = rate.NewLimiter(rate.Limit(g.cfg.TPS), max(1, int(g.cfg.TPS/20)))
		}
		s.binds = append(s.binds, b)
	}
	return s
}

func (s *smppGateway) start() {
	for _, b := range s.binds {
		s.wg.Add(1)
		go b.run()
	}
}

func (s *smppGateway) stop() {
	s.stopF()
	s.wg.Wait()
}

func (s *smppGateway) up() bool { return s.bound.Load() > 0 }

// bind is one SMPP transceiver session, reconnected with backoff.
type bind struct {
	s   *smppGateway
	n   int
	log *slog.Logger
	lim *rate.Limiter
}

// session is one TCP connection of a bind.
type session struct {
	b           *bind
	nc          net.Conn
	wmu         sync.Mutex
	w           *bufio.Writer
	deadlineSet time.Time // guarded by wmu
	dead        chan struct{}
	kill        sync.Once
	err         error

	mu       sync.Mutex
	inflight map[int32]*part
	slots    chan struct{} // window
	lastRead atomic.Int64
	unbound  chan struct{}
	tick     *time.Ticker // writer only
}

type part struct {
	j    *job
	i    int
	sent time.Time
}

func (b *bind) run() {
	defer b.s.wg.Done()
	g := b.s.g
	backoff := 100 * time.Millisecond
	for {
		if b.s.ctx.Err() != nil {
			return
		}
		ss, err := b.connect()
		if err != nil && b.s.ctx.Err() != nil {
			return // closing: a cancelled dial is not a gateway fault
		}
		if err != nil {
			if g.bindFailed(err) {
				b.log.Warn("sms bind failed", "addr", g.cfg.Addr, "err", err, "retry_in", backoff)
			} else {
				b.log.Debug("sms bind failed again", "addr", g.cfg.Addr, "err", err, "retry_in", backoff)
			}
			select {
			case <-b.s.ctx.Done():
				return
			case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/4)+1))):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		b.s.bound.Add(1)
		g.c.m.binds.WithLabelValues(g.cfg.Name).Inc()
		b.log.Info("sms bound", "addr", g.cfg.Addr)
		g.bindUp()
		ss.serve()
		b.s.bound.Add(-1)
		g.c.m.binds.WithLabelValues(g.cfg.Name).Dec()
		g.bindDown()
		g.c.wake() // the scheduler reclaims this gateway's inbox if it is now down
		if b.s.ctx.Err() == nil {
			g.bindFailed(fmt.Errorf("bind lost: %w", ss.err))
			b.log.Warn("sms bind lost", "addr", g.cfg.Addr, "err", ss.err)
		}
	}
}

func (b *bind) connect() (*session, error) {
	cfg := b.s.g.cfg
	d := net.Dialer{Timeout: cfg.ResponseTimeout}
	nc, err := d.DialContext(b.s.ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, connError(err)
	}
	req := pdu.NewBindRequest(pdu.Transceiver)
	req.SystemID, req.Password, req.SystemType = cfg.SystemID, cfg.Password, cfg.SystemType
	_ = nc.SetDeadline(time.Now().Add(cfg.ResponseTimeout))
	buf := pdu.NewBuffer(make([]byte, 0, 64))
	req.Marshal(buf)
	if _, err := nc.Write(buf.Bytes()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bind request: %w", connError(err))
	}
	r := bufio.NewReaderSize(nc, 64<<10)
	p, err := parsePDU(r)
	// A refusal is usually a header-only bind_resp, which gosmpp fails to
	// decode (it wants a system_id body): the status in the header is the
	// answer, whatever the body.
	if resp, ok := p.(*pdu.BindResp); ok && resp.CommandStatus != data.ESME_ROK {
		nc.Close()
		return nil, &BindRefusedError{Gateway: cfg.Name, Status: resp.CommandStatus}
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bind response: %w", err)
	}
	if _, ok := p.(*pdu.BindResp); !ok {
		nc.Close()
		return nil, fmt.Errorf("bind response: unexpected %T", p)
	}
	_ = nc.SetDeadline(time.Time{})
	ss := &session{b: b, nc: nc, w: bufio.NewWriterSize(nc, 64<<10), dead: make(chan struct{}),
		inflight: map[int32]*part{}, slots: make(chan struct{}, cfg.Window), unbound: make(chan struct{})}
	ss.lastRead.Store(time.Now().UnixNano())
	go ss.readLoop(r)
	return ss, nil
}

// parsePDU reads one PDU. Bytes that gosmpp cannot decode (or panics on)
// are a *malformedError that closes this bind only; p is then what was
// decoded (its header at least) when the whole PDU was read. Errors of the
// connection itself are named by connError: a reset is not a malformed PDU.
func parsePDU(r io.Reader) (p pdu.PDU, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, &malformedError{fmt.Errorf("%v", v)}
		}
	}()
	p, err = pdu.Parse(r)
	switch {
	case err == nil:
	case p != nil, errors.Is(err, smpperrors.ErrInvalidPDU), errors.Is(err, smpperrors.ErrUnknownCommandID):
		// The PDU was read in full (or its header is impossible): the
		// bytes are at fault, not the connection.
		err = &malformedError{err}
	default:
		err = connError(err)
	}
	return p, err
}

// malformedError is a PDU from the SMSC that is not valid SMPP.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return "malformed PDU: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (ss *session) close(err error) {
	ss.kill.Do(func() {
		ss.err = err
		close(ss.dead)
		ss.nc.Close()
	})
}

// marshalBufs recycles PDU encoding buffers: one per PDU adds up at
// tens of thousands of PDUs a second.
var marshalBufs = sync.Pool{New: func() any { return pdu.NewBuffer(make([]byte, 0, 512)) }}

func (ss *session) write(p pdu.PDU, flush bool) error {
	buf := marshalBufs.Get().(*pdu.ByteBuffer)
	buf.Reset()
	p.Marshal(buf)
	defer marshalBufs.Put(buf)
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	// Refresh the write deadline at most every 100 ms: it covers bufio's
	// own flushes too, and setting it per PDU costs.
	if now := time.Now(); now.Sub(ss.deadlineSet) > 100*time.Millisecond {
		ss.deadlineSet = now
		_ = ss.nc.SetWriteDeadline(now.Add(ss.b.s.g.cfg.ResponseTimeout))
	}
	if _, err := ss.w.Write(buf.Bytes()); err != nil {
		return connError(err)
	}
	if flush {
		return connError(ss.w.Flush())
	}
	return nil
}

func (ss *session) flush() error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	if ss.w.Buffered() == 0 {
		return nil
	}
	if now := time.Now(); now.Sub(ss.deadlineSet) > 100*time.Millisecond {
		ss.deadlineSet = now
		_ = ss.nc.SetWriteDeadline(now.Add(ss.b.s.g.cfg.ResponseTimeout))
	}
	return connError(ss.w.Flush())
}

// serve pulls jobs from the gateway inbox and writes their parts, window
// and rate permitting, until the connection dies or the channel closes.
func (ss *session) serve() {
	g := ss.b.s.g
	ctx := ss.b.s.ctx
	cfg := g.cfg
	tick := time.NewTicker(min(cfg.EnquireLink, time.Second))
	defer tick.Stop()
	ss.tick = tick
	lastWrite := time.Now()
	defer ss.lose()
	for {
		// Under steady load the idle branch below never runs: check for
		// unanswered submits and a silent SMSC here too.
		select {
		case <-tick.C:
			if err := ss.keepalive(&lastWrite); err != nil {
				ss.close(err)
				return
			}
		default:
		}
		// Honour a gateway-wide throttle before taking more work.
		if d := time.Until(g.pauseUntil()); d > 0 {
			_ = ss.flush()
			select {
			case <-time.After(d):
			case <-ss.dead:
				return
			case <-ctx.Done():
				ss.unbind()
				return
			}
		}
		var j *job
		select {
		case j = <-g.inbox:
		default:
			if err := ss.flush(); err != nil {
				ss.close(err)
				return
			}
			select {
			case j = <-g.inbox:
			case <-ss.dead:
				return
			case <-ctx.Done():
				ss.unbind()
				return
			case <-tick.C:
				if err := ss.keepalive(&lastWrite); err != nil {
					ss.close(err)
					return
				}
				continue
			}
		}
		g.c.wake() // room in the inbox
		if !j.b.begin(j) {
			continue // its Send is over: never send
		}
		j.gw = g
		if !ss.submitJob(j, &lastWrite) {
			return
		}
	}
}

// submitJob writes every part of j not acknowledged yet. It returns false
// when the session died; parts never written then go back to the queue.
func (ss *session) submitJob(j *job, lastWrite *time.Time) bool {
	g := ss.b.s.g
	var todo []int
	for i := range j.p.parts {
		if !j.ack.acked(i) {
			todo = append(todo, i)
		}
	}
	ss.mu.Lock()
	j.outstanding = len(todo)
	j.lost, j.throttled, j.permErr, j.tempErr = false, false, nil, nil
	ss.mu.Unlock()
	if len(todo) == 0 {
		g.c.complete(j)
		return true
	}
	for k, i := range todo {
		// window
		select {
		case ss.slots <- struct{}{}:
		default:
			if err := ss.flush(); err != nil {
				ss.close(err)
			}
		wait:
			for {
				select {
				case ss.slots <- struct{}{}:
					break wait
				case <-ss.dead:
					ss.unsent(j, len(todo)-k)
					return false
				case <-ss.tick.C:
					// A full window that never drains is a stalled SMSC.
					if err := ss.keepalive(lastWrite); err != nil {
						ss.close(err)
					}
				}
			}
		}
		// rate
		if ss.b.lim != nil {
			r := ss.b.lim.Reserve()
			if d := r.Delay(); d > 0 {
				_ = ss.flush()
				select {
				case <-time.After(d):
				case <-ss.dead:
					r.Cancel()
					<-ss.slots
					ss.unsent(j, len(todo)-k)
					return false
				}
			}
		}
		sm := ss.submitPDU(j, i)
		seq := sm.GetSequenceNumber()
		ss.mu.Lock()
		ss.inflight[seq] = &part{j: j, i: i, sent: time.Now()}
		ss.mu.Unlock()
		if err := ss.write(sm, false); err != nil {
			ss.close(err)
			// Written or not is unknown: this part stays in flight and is
			// settled as lost with the rest; later parts never left.
			if rest := len(todo) - k - 1; rest > 0 {
				ss.unsent(j, rest)
			}
			return false
		}
		*lastWrite = time.Now()
	}
	return true
}

// unsent settles n parts of j that never reached the wire.
func (ss *session) unsent(j *job, n int) {
	g := ss.b.s.g
	ss.mu.Lock()
	j.outstanding -= n
	left := j.outstanding
	failed := j.lost || j.throttled || j.permErr != nil || j.tempErr != nil
	ss.mu.Unlock()
	if left > 0 {
		return // parts on the wire are settled by lose()
	}
	if failed {
		g.c.complete(j)
		return
	}
	// Nothing unanswered of it is on this bind: hand it to another bind or
	// gateway without counting an attempt (acknowledged parts are kept).
	j.gw = nil
	j.b.end(j)
	g.c.requeue(j)
}

func (ss *session) submitPDU(j *job, i int) *pdu.SubmitSM {
	cfg := ss.b.s.g.cfg
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	sm.ServiceType = ""
	src := cfg.SourceAddr
	if isDigits(src) {
		sm.SourceAddr = pdu.NewAddressWithTonNpi(0, 1)
	} else {
		sm.SourceAddr = pdu.NewAddressWithTonNpi(5, 0) // alphanumeric
	}
	_ = sm.SourceAddr.SetAddress(src)
	sm.DestAddr = pdu.NewAddressWithTonNpi(1, 1) // international, ISDN
	_ = sm.DestAddr.SetAddress(j.rcpt.Address)
	sm.RegisteredDelivery = 1 // receipt on success and failure
	if exp := j.b.expires; time.Until(exp) > time.Minute {
		// The SMSC drops what it could not deliver before the warning
		// expires (absolute format, UTC): a stale warning is worse than none.
		sm.ValidityPeriod = exp.UTC().Format("060102150405") + "000+"
	}
	switch {
	case j.level >= 4:
		sm.PriorityFlag = 2
	case j.level == 3:
		sm.PriorityFlag = 1
	}
	enc := data.FromDataCoding(j.p.coding)
	_ = sm.Message.SetMessageDataWithEncoding(j.p.parts[i], enc)
	if n := len(j.p.parts); n > 1 {
		sm.Message.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(byte(n), byte(i+1), j.ref)})
		sm.EsmClass |= data.SM_UDH_GSM
	}
	return sm
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (ss *session) keepalive(lastWrite *time.Time) error {
	cfg := ss.b.s.g.cfg
	now := time.Now()
	ss.mu.Lock()
	for _, p := range ss.inflight {
		if now.Sub(p.sent) > cfg.ResponseTimeout {
			ss.mu.Unlock()
			return fmt.Errorf("no submit_sm_resp within %s", cfg.ResponseTimeout)
		}
	}
	ss.mu.Unlock()
	if now.Sub(time.Unix(0, ss.lastRead.Load())) > 2*cfg.EnquireLink+cfg.ResponseTimeout {
		return errors.New("SMSC silent: no PDU or enquire_link_resp")
	}
	if now.Sub(*lastWrite) >= cfg.EnquireLink {
		*lastWrite = now
		return ss.write(pdu.NewEnquireLink(), true)
	}
	return nil
}

// unbind ends the session gracefully: wait briefly for acknowledgements,
// send unbind, wait for unbind_resp, close.
func (ss *session) unbind() {
	_ = ss.flush()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		ss.mu.Lock()
		n := len(ss.inflight)
		ss.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ss.dead:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := ss.write(pdu.NewUnbind(), true); err == nil {
		select {
		case <-ss.unbound:
		case <-ss.dead:
		case <-time.After(time.Second):
		}
	}
	ss.close(errors.New("unbound"))
}

// lose settles every part still in flight when the session ends: the SMSC
// may or may not have taken them, so they are transient failures, never
// silently re-sent.
func (ss *session) lose() {
	<-ss.dead
	ss.mu.Lock()
	parts := ss.inflight
	ss.inflight = map[int32]*part{}
	ss.mu.Unlock()
	g := ss.b.s.g
	for _, p := range parts {
		g.c.m.submits.WithLabelValues(g.cfg.Name, "lost").Inc()
		ss.settle(p, func(j *job) { j.lost = true })
	}
}

// settle records one answered (or lost) part under the session lock (the
// reader and the writer both settle parts); the last completes the job.
func (ss *session) settle(p *part, mark func(j *job)) {
	ss.mu.Lock()
	if mark != nil {
		mark(p.j)
	}
	p.j.outstanding--
	left := p.j.outstanding
	ss.mu.Unlock()
	if left == 0 {
		ss.b.s.g.c.complete(p.j)
	}
}

func (ss *session) readLoop(r *bufio.Reader) {
	g := ss.b.s.g
	for {
		p, err := parsePDU(r)
		if err != nil {
			var bad *malformedError
			if errors.As(err, &bad) {
				ss.b.log.Error("sms malformed PDU from SMSC, closing this bind", "err", err)
			}
			ss.close(err)
			return
		}
		ss.lastRead.Store(time.Now().UnixNano())
		switch q := p.(type) {
		case *pdu.SubmitSMResp:
			ss.onSubmitResp(q.SequenceNumber, q.CommandStatus, q.MessageID)
		case *pdu.GenericNack:
			ss.onSubmitResp(q.SequenceNumber, q.CommandStatus, "")
		case *pdu.DeliverSM:
			// Flush only when no more input is waiting: receipts come in
			// bursts and each response need not be its own write.
			_ = ss.write(q.GetResponse(), r.Buffered() == 0)
			ss.onDeliver(q)
		case *pdu.EnquireLink:
			_ = ss.write(q.GetResponse(), true)
		case *pdu.EnquireLinkResp:
		case *pdu.Unbind:
			_ = ss.write(q.GetResponse(), true)
			ss.close(errors.New("SMSC unbound"))
			return
		case *pdu.UnbindResp:
			close(ss.unbound)
			ss.close(errors.New("unbound"))
			return
		default:
			if p.CanResponse() {
				resp := pdu.NewGenericNack()
				resp.SetSequenceNumber(p.GetSequenceNumber())
				_ = ss.write(resp, true)
			}
			_ = g
		}
	}
}

func (ss *session) onSubmitResp(seq int32, status data.CommandStatusType, msgID string) {
	g := ss.b.s.g
	ss.mu.Lock()
	p, ok := ss.inflight[seq]
	if ok {
		delete(ss.inflight, seq)
	}
	ss.mu.Unlock()
	if !ok {
		ss.b.log.Warn("sms response for unknown sequence", "seq", seq, "status", status.String())
		return
	}
	<-ss.slots
	var mark func(j *job)
	switch class := classify(status); {
	case status == data.ESME_ROK && msgID != "":
		g.c.m.submits.WithLabelValues(g.cfg.Name, "ok").Inc()
		p.j.ack.set(p.i, g.cfg.Name+":"+msgID)
		g.ok()
	case status == data.ESME_ROK:
		// Accepted, but receipts cannot be matched: never re-send it.
		g.c.m.submits.WithLabelValues(g.cfg.Name, "ok").Inc()
		ss.b.log.Warn("sms submit_sm_resp without message id; receipts for it cannot be matched", "seq", seq)
		p.j.ack.set(p.i, fmt.Sprintf("%s:no-id-%d", g.cfg.Name, seq))
	case class == classThrottle:
		g.c.m.submits.WithLabelValues(g.cfg.Name, "throttled").Inc()
		mark = func(j *job) { j.throttled = true }
		d := g.throttle()
		ss.b.log.Debug("sms throttled", "status", status.String(), "backoff", d)
	case class == classPermanent:
		g.c.m.submits.WithLabelValues(g.cfg.Name, "rejected").Inc()
		mark = func(j *job) { j.permErr = fmt.Errorf("%w: %s", ErrRejected, status) }
	default:
		g.c.m.submits.WithLabelValues(g.cfg.Name, "error").Inc()
		mark = func(j *job) { j.tempErr = fmt.Errorf("%w: %s", ErrRejected, status) }
	}
	ss.settle(p, mark)
}

type errClass int

const (
	classTransient errClass = iota
	classThrottle
	classPermanent
)

// classify maps SMPP command_status to what a retry can do about it.
func classify(s data.CommandStatusType) errClass {
	switch s {
	case data.ESME_RTHROTTLED, data.ESME_RMSGQFUL:
		return classThrottle
	case data.ESME_RINVDSTADR, data.ESME_RINVDSTTON, data.ESME_RINVDSTNPI, data.ESME_RINVNUMDESTS,
		data.ESME_RINVMSGLEN, data.ESME_RINVESMCLASS, data.ESME_RX_P_APPN, data.ESME_RINVSRCADR,
		data.ESME_RINVSRCTON, data.ESME_RINVSRCNPI, data.ESME_RINVREGDLVFLG, data.ESME_RPROVNOTALLWD:
		return classPermanent
	default:
		return classTransient
	}
}

func (ss *session) onDeliver(d *pdu.DeliverSM) {
	g := ss.b.s.g
	if d.EsmClass&0x3C != data.SM_SMSC_DLV_RCPT_TYPE {
		ss.b.log.Debug("sms mobile-originated message ignored")
		return
	}
	raw, _ := d.Message.GetMessageData()
	text := string(raw)
	if !plainReceipt(raw) {
		// Receipts are ASCII-safe in practice; decode only when not.
		if t, err := d.Message.GetMessageWithEncoding(data.FromDataCoding(d.Message.Encoding().DataCoding())); err == nil && t != "" {
			text = t
		}
	}
	dlr, err := ParseDLR(text)
	if err != nil {
		g.c.m.unknown.Inc()
		ss.b.log.Warn("sms unparseable receipt", "err", err)
		return
	}
	id := dlr.ID
	if f, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]; ok && len(f.Data) > 0 {
		id = f.String()
	}
	g.c.receipt(g.cfg.Name, id, dlr.State(), dlr.Detail())
}

// plainReceipt reports whether b holds only characters whose GSM 7-bit and
// ASCII codes agree (letters, digits, space, ':', '-', '.', '/'), so it can
// be read without decoding.
func plainReceipt(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == ' ', c == ':', c == '-', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}
