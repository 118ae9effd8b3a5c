package cap

import (
	"fmt"
	"strings"
)

// The CAP code lists. Each is a string type whose zero value ("") means
// absent; Parse… accepts the exact CAP spelling and, for robustness on
// import, any letter case.

// Status is <status>.
type Status string

const (
	StatusActual   Status = "Actual"
	StatusExercise Status = "Exercise"
	StatusSystem   Status = "System"
	StatusTest     Status = "Test"
	StatusDraft    Status = "Draft"
)

// MsgType is <msgType>.
type MsgType string

const (
	MsgAlert  MsgType = "Alert"
	MsgUpdate MsgType = "Update"
	MsgCancel MsgType = "Cancel"
	MsgAck    MsgType = "Ack"
	MsgError  MsgType = "Error"
)

// Scope is <scope>.
type Scope string

const (
	ScopePublic     Scope = "Public"
	ScopeRestricted Scope = "Restricted"
	ScopePrivate    Scope = "Private"
)

// Category is <category>.
type Category string

const (
	CategoryGeo       Category = "Geo"
	CategoryMet       Category = "Met"
	CategorySafety    Category = "Safety"
	CategorySecurity  Category = "Security"
	CategoryRescue    Category = "Rescue"
	CategoryFire      Category = "Fire"
	CategoryHealth    Category = "Health"
	CategoryEnv       Category = "Env"
	CategoryTransport Category = "Transport"
	CategoryInfra     Category = "Infra"
	CategoryCBRNE     Category = "CBRNE"
	CategoryOther     Category = "Other"
)

// ResponseType is <responseType>. Avoid and AllClear are new in CAP 1.2.
type ResponseType string

const (
	ResponseShelter  ResponseType = "Shelter"
	ResponseEvacuate ResponseType = "Evacuate"
	ResponsePrepare  ResponseType = "Prepare"
	ResponseExecute  ResponseType = "Execute"
	ResponseAvoid    ResponseType = "Avoid"
	ResponseMonitor  ResponseType = "Monitor"
	ResponseAssess   ResponseType = "Assess"
	ResponseAllClear ResponseType = "AllClear"
	ResponseNone     ResponseType = "None"
)

// Urgency is <urgency>.
type Urgency string

const (
	UrgencyImmediate Urgency = "Immediate"
	UrgencyExpected  Urgency = "Expected"
	UrgencyFuture    Urgency = "Future"
	UrgencyPast      Urgency = "Past"
	UrgencyUnknown   Urgency = "Unknown"
)

// Severity is <severity>.
type Severity string

const (
	SeverityExtreme  Severity = "Extreme"
	SeveritySevere   Severity = "Severe"
	SeverityModerate Severity = "Moderate"
	SeverityMinor    Severity = "Minor"
	SeverityUnknown  Severity = "Unknown"
)

// Certainty is <certainty>. CAP 1.0's "Very Likely" is not accepted.
type Certainty string

const (
	CertaintyObserved Certainty = "Observed"
	CertaintyLikely   Certainty = "Likely"
	CertaintyPossible Certainty = "Possible"
	CertaintyUnlikely Certainty = "Unlikely"
	CertaintyUnknown  Certainty = "Unknown"
)

var (
	statuses      = []Status{StatusActual, StatusExercise, StatusSystem, StatusTest, StatusDraft}
	msgTypes      = []MsgType{MsgAlert, MsgUpdate, MsgCancel, MsgAck, MsgError}
	scopes        = []Scope{ScopePublic, ScopeRestricted, ScopePrivate}
	categories    = []Category{CategoryGeo, CategoryMet, CategorySafety, CategorySecurity, CategoryRescue, CategoryFire, CategoryHealth, CategoryEnv, CategoryTransport, CategoryInfra, CategoryCBRNE, CategoryOther}
	responseTypes = []ResponseType{ResponseShelter, ResponseEvacuate, ResponsePrepare, ResponseExecute, ResponseAvoid, ResponseMonitor, ResponseAssess, ResponseAllClear, ResponseNone}
	urgencies     = []Urgency{UrgencyImmediate, UrgencyExpected, UrgencyFuture, UrgencyPast, UrgencyUnknown}
	severities    = []Severity{SeverityExtreme, SeveritySevere, SeverityModerate, SeverityMinor, SeverityUnknown}
	certainties   = []Certainty{CertaintyObserved, CertaintyLikely, CertaintyPossible, CertaintyUnlikely, CertaintyUnknown}
)

func (v Status) String() string       { return string(v) }
func (v MsgType) String() string      { return string(v) }
func (v Scope) String() string        { return string(v) }
func (v Category) String() string     { return string(v) }
func (v ResponseType) String() string { return string(v) }
func (v Urgency) String() string      { return string(v) }
func (v Severity) String() string     { return string(v) }
func (v Certainty) String() string    { return string(v) }

// Valid reports whether v is one of CAP's values.
func (v Status) Valid() bool       { return oneOf(v, statuses) }
func (v MsgType) Valid() bool      { return oneOf(v, msgTypes) }
func (v Scope) Valid() bool        { return oneOf(v, scopes) }
func (v Category) Valid() bool     { return oneOf(v, categories) }
func (v ResponseType) Valid() bool { return oneOf(v, responseTypes) }
func (v Urgency) Valid() bool      { return oneOf(v, urgencies) }
func (v Severity) Valid() bool     { return oneOf(v, severities) }
func (v Certainty) Valid() bool    { return oneOf(v, certainties) }

func ParseStatus(s string) (Status, error)             { return parseEnum(s, statuses) }
func ParseMsgType(s string) (MsgType, error)           { return parseEnum(s, msgTypes) }
func ParseScope(s string) (Scope, error)               { return parseEnum(s, scopes) }
func ParseCategory(s string) (Category, error)         { return parseEnum(s, categories) }
func ParseResponseType(s string) (ResponseType, error) { return parseEnum(s, responseTypes) }
func ParseUrgency(s string) (Urgency, error)           { return parseEnum(s, urgencies) }
func ParseSeverity(s string) (Severity, error)         { return parseEnum(s, severities) }
func ParseCertainty(s string) (Certainty, error)       { return parseEnum(s, certainties) }

func oneOf[T ~string](v T, all []T) bool {
	for _, x := range all {
		if v == x {
			return true
		}
	}
	return false
}

func parseEnum[T ~string](s string, all []T) (T, error) {
	s = strings.TrimSpace(s)
	for _, x := range all {
		if strings.EqualFold(s, string(x)) {
			return x, nil
		}
	}
	names := make([]string, len(all))
	for i, x := range all {
		names[i] = string(x)
	}
	var zero T
	return zero, fmt.Errorf("%w: %q is not one of %s", ErrInvalid, s, strings.Join(names, ", "))
}
