// Package warning is the vocabulary of a graded warning that every part of
// Alertcast shares: levels, statuses, lifecycle states, event codes, message
// kinds and field errors. It is a leaf: it imports only the standard library
// and must never import another Alertcast package.
package warning

import (
	"fmt"
	"strings"
)

// Level is a warning's grade. Blue (IV) < yellow (III) < orange (II) < red (I).
// It sets queue priority, loudspeaker preemption and approval policy.
type Level int

const (
	LevelUnknown Level = iota
	LevelBlue          // IV 一般, CAP Minor
	LevelYellow        // III 较重, CAP Moderate
	LevelOrange        // II 严重, CAP Severe
	LevelRed           // I 特别严重, CAP Extreme
)

var levelInfo = [...]struct{ name, roman, zh, severity string }{
	{"unknown", "", "", "Unknown"},
	{"blue", "IV", "蓝色", "Minor"},
	{"yellow", "III", "黄色", "Moderate"},
	{"orange", "II", "橙色", "Severe"},
	{"red", "I", "红色", "Extreme"},
}

func (l Level) valid() bool { return l > LevelUnknown && l <= LevelRed }

// String is the colour name used in the API: "blue" … "red".
func (l Level) String() string {
	if !l.valid() {
		return "unknown"
	}
	return levelInfo[l].name
}

// Roman is the grade in the Chinese system: "IV" … "I".
func (l Level) Roman() string {
	if !l.valid() {
		return ""
	}
	return levelInfo[l].roman
}

// Chinese is the colour in Chinese: "蓝色" … "红色".
func (l Level) Chinese() string {
	if !l.valid() {
		return ""
	}
	return levelInfo[l].zh
}

// CAPSeverity maps the level to CAP 1.2 severity.
func (l Level) CAPSeverity() string {
	if !l.valid() {
		return "Unknown"
	}
	return levelInfo[l].severity
}

// ParseLevel accepts the colour ("orange"), the grade ("II") or the Chinese colour ("橙色").
func ParseLevel(s string) (Level, error) {
	t := strings.TrimSpace(s)
	for i := 1; i < len(levelInfo); i++ {
		li := levelInfo[i]
		if strings.EqualFold(t, li.name) || t == li.roman || t == li.zh {
			return Level(i), nil
		}
	}
	return LevelUnknown, fmt.Errorf("unknown level %q: want blue, yellow, orange or red (IV..I)", s)
}

// LevelFromCAPSeverity is the inverse of CAPSeverity.
func LevelFromCAPSeverity(s string) Level {
	for i := 1; i < len(levelInfo); i++ {
		if levelInfo[i].severity == s {
			return Level(i)
		}
	}
	return LevelUnknown
}

func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	*l = v
	return err
}

// Status says whether a warning is real. Exercises (drills, 演练) and tests
// are marked as such on every channel.
type Status int

const (
	StatusUnknown Status = iota
	StatusActual
	StatusExercise
	StatusTest
)

var statusNames = [...]string{"unknown", "actual", "exercise", "test"}

func (s Status) String() string {
	if s <= StatusUnknown || s > StatusTest {
		return "unknown"
	}
	return statusNames[s]
}

// Drill reports whether the warning is not real.
func (s Status) Drill() bool { return s == StatusExercise || s == StatusTest }

// ParseStatus accepts actual, exercise (or drill) and test.
func ParseStatus(s string) (Status, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "actual":
		return StatusActual, nil
	case "exercise", "drill":
		return StatusExercise, nil
	case "test":
		return StatusTest, nil
	}
	return StatusUnknown, fmt.Errorf("unknown status %q: want actual, exercise (drill) or test", s)
}

func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	*s = v
	return err
}

// State is where a warning is in its lifecycle.
type State int

const (
	StateUnknown   State = iota
	StatePending         // waiting for a second officer's approval
	StateIssued          // being (or been) delivered
	StateRejected        // an approver refused it
	StateCancelled       // withdrawn
	StateAllClear        // lifted: the danger is over
	StateExpired         // past its expiry
)

var stateNames = [...]string{"unknown", "pending", "issued", "rejected", "cancelled", "allclear", "expired"}

func (s State) String() string {
	if s <= StateUnknown || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// Active reports whether the warning is in force.
func (s State) Active() bool { return s == StateIssued }

// Ended reports whether no further change is possible.
func (s State) Ended() bool {
	return s == StateRejected || s == StateCancelled || s == StateAllClear || s == StateExpired
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) {
	for i := 1; i < len(stateNames); i++ {
		if stateNames[i] == s {
			return State(i), nil
		}
	}
	return StateUnknown, fmt.Errorf("unknown state %q", s)
}

func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	*s = v
	return err
}
