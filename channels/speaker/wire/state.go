package wire

import "github.com/alertcast/alertcast/warning"

// DeviceState is a loudspeaker terminal's state as emergency-broadcast
// platforms report it.
type DeviceState int

const (
	StateUnknown      DeviceState = iota
	StateNormal                   // idle and healthy (正常)
	StateBroadcasting             // playing a programme or a live announcement (播出)
	StateStopped                  // the platform stopped the last programme; nothing plays (停播)
	StateFault                    // the last download or playback failed (故障)
	StateRecovered                // first healthy report after a fault (恢复)
)

var deviceStateNames = [...]string{"unknown", "normal", "broadcasting", "stopped", "fault", "recovered"}

func (s DeviceState) String() string {
	if s < 0 || int(s) >= len(deviceStateNames) {
		return "unknown"
	}
	return deviceStateNames[s]
}

// ParseDeviceState is the inverse of DeviceState.String.
func ParseDeviceState(s string) (DeviceState, error) {
	for i, n := range deviceStateNames {
		if i > 0 && n == s {
			return DeviceState(i), nil
		}
	}
	return StateUnknown, &warning.FieldError{Field: "state", Rule: "one of normal, broadcasting, stopped, fault, recovered", Value: Trunc(s)}
}

// MarshalText encodes the state as its name.
func (s DeviceState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *DeviceState) UnmarshalText(b []byte) error {
	v, err := ParseDeviceState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
