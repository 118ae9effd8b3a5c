package sms

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/linxGnu/gosmpp/data"
)

// How a connection ended is named for the operator, and the cause stays
// reachable with errors.Is.
func TestConnErrorNames(t *testing.T) {
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: &os.SyscallError{Syscall: op, Err: err}}
	}
	for _, tc := range []struct {
		in   error
		want string
	}{
		{opErr("read", syscall.ECONNRESET), "connection reset by SMSC"},
		{io.EOF, "connection closed by SMSC"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "connection closed by SMSC in the middle of a PDU"},
		{opErr("dial", syscall.ECONNREFUSED), "connection refused (nothing listening at the SMSC address)"},
		{opErr("write", syscall.EPIPE), "connection closed by SMSC (broken pipe)"},
		{&net.DNSError{Err: "no such host", Name: "smsc.invalid", IsNotFound: true}, "SMSC address does not resolve"},
	} {
		got := connError(tc.in)
		if !strings.HasPrefix(got.Error(), tc.want) || !errors.Is(got, tc.in) {
			t.Errorf("connError(%v) = %q, want prefix %q wrapping the cause", tc.in, got, tc.want)
		}
	}
	if connError(nil) != nil {
		t.Error("connError(nil) != nil")
	}
}

func TestStatusName(t *testing.T) {
	for s, want := range map[data.CommandStatusType]string{
		data.ESME_RINVPASWD:          "ESME_RINVPASWD (0x0E)",
		data.ESME_RBINDFAIL:          "ESME_RBINDFAIL (0x0D)",
		data.CommandStatusType(0x4F): "unknown status (0x4F)",
	} {
		if got := StatusName(s); got != want {
			t.Errorf("StatusName(%d) = %q, want %q", s, got, want)
		}
	}
}
