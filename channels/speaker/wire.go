package speaker

import (
	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// The protocol lives in package wire so the agent binary does not link the
// hub's server dependencies. These aliases keep the hub's API in one place.
type (
	LiveRoom      = wire.LiveRoom
	DeviceState   = wire.DeviceState
	Command       = wire.Command
	Play          = wire.Play
	Stop          = wire.Stop
	SignedCommand = wire.SignedCommand
	AgentFrame    = wire.AgentFrame
	HubFrame      = wire.HubFrame
)

// Device states (see wire.DeviceState).
const (
	StateUnknown      = wire.StateUnknown
	StateNormal       = wire.StateNormal
	StateBroadcasting = wire.StateBroadcasting
	StateStopped      = wire.StateStopped
	StateFault        = wire.StateFault
	StateRecovered    = wire.StateRecovered
)

// Protocol constants (see package wire).
const (
	HeaderDevice    = wire.HeaderDevice
	HeaderVersion   = wire.HeaderVersion
	ProtocolVersion = wire.ProtocolVersion
	DefaultMaxFrame = wire.DefaultMaxFrame
)

// ParseDeviceState is wire.ParseDeviceState.
func ParseDeviceState(s string) (DeviceState, error) { return wire.ParseDeviceState(s) }

const maxIDLen = 128

func checkID(field, s string) error { return wire.CheckID(field, s) }

func trunc(s string) string { return wire.Trunc(s) }
