package sms

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/linxGnu/gosmpp/data"
)

// BindRefusedError is an SMSC's refusal of a bind: the command_status of
// its bind_resp. The message names the status and what to check in the
// configuration; it never carries the password.
type BindRefusedError struct {
	Gateway string
	Status  data.CommandStatusType
}

func (e *BindRefusedError) Error() string {
	return fmt.Sprintf("bind refused: %s: %s", StatusName(e.Status), bindHint(e.Gateway, e.Status))
}

// StatusName is an SMPP command_status by name and number, e.g.
// "ESME_RINVPASWD (0x0E)".
func StatusName(s data.CommandStatusType) string {
	name := s.String()
	if strings.HasPrefix(name, "CommandStatusType(") { // gosmpp's "CommandStatusType(n)" for codes it does not know
		name = "unknown status"
	}
	return fmt.Sprintf("%s (0x%02X)", name, uint32(s))
}

// bindHint says what an operator should check for a refused bind.
func bindHint(gw string, s data.CommandStatusType) string {
	field := func(f string) string { return fmt.Sprintf("sms.gateways[%s].%s", gw, f) }
	switch s {
	case data.ESME_RINVPASWD:
		return "the SMSC refused the password — check " + field("password")
	case data.ESME_RINVSYSID:
		return "the SMSC does not know this system_id — check " + field("system_id")
	case data.ESME_RINVSYSTYP:
		return "the SMSC refused the system_type — check " + field("system_type")
	case data.ESME_RALYBND:
		return "the SMSC says this account is already bound — another alertd (or an old session) holds the binds; check " + field("binds") + " against the sessions the operator allows"
	case data.ESME_RBINDFAIL:
		return "the SMSC refused the bind without saying why (maintenance, too many sessions, source IP not allowed) — check " + field("binds") + " and the account with the SMSC operator"
	case data.ESME_RINVBNDSTS:
		return "the SMSC refused the bind type — it may not allow transceiver binds for this account; ask the SMSC operator"
	case data.ESME_RTHROTTLED, data.ESME_RMSGQFUL:
		return "the SMSC is overloaded; binding is retried with backoff"
	default:
		return "check " + field("system_id") + ", " + field("password") + " and the account with the SMSC operator"
	}
}

// connError names how a connection to the SMSC ended, in words an
// operator can act on: a reset is a reset, an orderly close is a close,
// and only bytes that are not SMPP are a malformed PDU.
func connError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("connection reset by SMSC: %w", err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("connection closed by SMSC: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("connection closed by SMSC in the middle of a PDU: %w", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused (nothing listening at the SMSC address): %w", err)
	case errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("connection closed by SMSC (broken pipe): %w", err)
	case isTimeout(err):
		return fmt.Errorf("SMSC did not answer in time: %w", err)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Errorf("SMSC address does not resolve: %w", err)
	}
	return err
}
