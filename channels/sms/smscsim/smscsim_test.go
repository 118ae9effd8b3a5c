package smscsim_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// client is a minimal raw SMPP client for poking the simulator.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, addr, sysID, pw string) (*client, data.CommandStatusType) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
	b := pdu.NewBindRequest(pdu.Transceiver)
	b.SystemID, b.Password = sysID, pw
	c.send(b)
	// A refusal is header-only, as from real SMSCs: read the header
	// ourselves (gosmpp wants a body on every bind_resp).
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [16]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		t.Fatalf("bind_resp: %v", err)
	}
	length, status := binary.BigEndian.Uint32(h[0:]), data.CommandStatusType(binary.BigEndian.Uint32(h[8:]))
	if cmd := binary.BigEndian.Uint32(h[4:]); data.CommandIDType(cmd) != data.BIND_TRANSCEIVER_RESP {
		t.Fatalf("bind answered with command 0x%08x", cmd)
	}
	if status != data.ESME_ROK && length != 16 {
		t.Errorf("refused bind_resp is %d bytes, want a header-only 16", length)
	}
	if length > 16 {
		if _, err := io.ReadFull(c.r, make([]byte, length-16)); err != nil {
			t.Fatalf("bind_resp body: %v", err)
		}
	}
	return c, status
}

func (c *client) send(p pdu.PDU) {
	buf := pdu.NewBuffer(nil)
	p.Marshal(buf)
	if _, err := c.nc.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() pdu.PDU {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := pdu.Parse(c.r)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *client) submit(dest, text string) *pdu.SubmitSM {
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	_ = sm.SourceAddr.SetAddress("12379")
	_ = sm.DestAddr.SetAddress(dest)
	sm.RegisteredDelivery = 1
	_ = sm.Message.SetMessageWithEncoding(text, data.UCS2)
	c.send(sm)
	return sm
}

func TestBindAuth(t *testing.T) {
	s, err := smscsim.Start(smscsim.Config{SystemID: "alertcast", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, st := dial(t, s.Addr(), "alertcast", "wrong"); st != data.ESME_RINVPASWD {
		t.Errorf("wrong password: %s", st)
	}
	if _, st := dial(t, s.Addr(), "other", "pw"); st != data.ESME_RINVSYSID {
		t.Errorf("wrong system id: %s", st)
	}
	s.RefuseBinds(true)
	if _, st := dial(t, s.Addr(), "alertcast", "pw"); st != data.ESME_RBINDFAIL {
		t.Errorf("refused: %s", st)
	}
	s.RefuseBinds(false)
	if _, st := dial(t, s.Addr(), "alertcast", "pw"); st != data.ESME_ROK {
		t.Errorf("good bind: %s", st)
	}
}

func TestSubmitReceiptAndReject(t *testing.T) {
	s, err := smscsim.Start(smscsim.Config{Receipts: true, Keep: true, Outcome: func(string) (string, string) { return "UNDELIV", "012" }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := dial(t, s.Addr(), "x", "")
	sm := c.submit("8613900000001", "沙尘暴")
	resp := c.read().(*pdu.SubmitSMResp)
	if resp.CommandStatus != data.ESME_ROK || resp.SequenceNumber != sm.SequenceNumber || resp.MessageID == "" {
		t.Fatalf("resp %+v", resp)
	}
	d := c.read().(*pdu.DeliverSM)
	text, _ := d.Message.GetMessage()
	dlr, err := sms.ParseDLR(text)
	if err != nil || dlr.ID != resp.MessageID || dlr.Stat != "UNDELIV" || dlr.Err != "012" {
		t.Fatalf("receipt %q: %+v %v", text, dlr, err)
	}
	if d.EsmClass != data.SM_SMSC_DLV_RCPT_TYPE {
		t.Errorf("esm_class %x", d.EsmClass)
	}
	if got := s.Messages(); len(got) != 1 || got[0].Text != "沙尘暴" || got[0].DataCoding != 8 {
		t.Errorf("kept %+v", got)
	}
	c.submit("not-a-number", "x")
	if r := c.read().(*pdu.SubmitSMResp); r.CommandStatus != data.ESME_RINVDSTADR {
		t.Errorf("invalid destination: %s", r.CommandStatus)
	}
}

func TestTPSCapThrottles(t *testing.T) {
	s, err := smscsim.Start(smscsim.Config{TPS: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := dial(t, s.Addr(), "x", "")
	for range 100 {
		c.submit("8613900000001", "x")
	}
	throttled := 0
	for range 100 {
		if c.read().(*pdu.SubmitSMResp).CommandStatus == data.ESME_RTHROTTLED {
			throttled++
		}
	}
	// A burst of 100 against 50/s with a burst of 5 allows only a few.
	if throttled < 80 {
		t.Errorf("only %d of 100 burst submits throttled", throttled)
	}
}

func TestDropBindsDiscardsUnanswered(t *testing.T) {
	s, err := smscsim.Start(smscsim.Config{Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := dial(t, s.Addr(), "x", "")
	c.submit("8613900000001", "x")
	deadline := time.Now().Add(5 * time.Second)
	for s.Submits() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s.DropBinds()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := pdu.Parse(c.r); err == nil {
		t.Fatal("got a PDU after the drop")
	}
	if s.Accepted() != 0 {
		t.Fatalf("accepted %d unanswered submits", s.Accepted())
	}
}

// The simulator leaves no goroutine behind after Close.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := smscsim.Start(smscsim.Config{Receipts: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, _ := dial(t, s.Addr(), "x", "")
		c.submit("8613900000001", "x")
		c.read()
	}
	s.Close()
	s.Close() // safe twice
	testsvc.NoGoroutinesLeft(t, before, 5*time.Second)
}
