package dispatch

import "fmt"

// Role is what a user may do.
type Role int

const (
	RoleUnknown  Role = iota
	RoleViewer        // read everything
	RoleOperator      // compose and issue; cancel
	RoleApprover      // operator + approve others' orange/red warnings
	RoleAdmin         // everything, users and devices
)

var roleNames = [...]string{"unknown", "viewer", "operator", "approver", "admin"}

func (r Role) String() string {
	if r <= RoleUnknown || r > RoleAdmin {
		return "unknown"
	}
	return roleNames[r]
}

// ParseRole is the inverse of Role.String.
func ParseRole(s string) (Role, error) {
	for i := 1; i < len(roleNames); i++ {
		if roleNames[i] == s {
			return Role(i), nil
		}
	}
	return RoleUnknown, fmt.Errorf("unknown role %q: want viewer, operator, approver or admin", s)
}

// Can reports whether the role includes at least the powers of want.
func (r Role) Can(want Role) bool { return r >= want }

func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	*r = v
	return err
}
