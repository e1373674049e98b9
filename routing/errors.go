package routing

import "fmt"

// Code classifies a routing error so the edges can turn it into a clear
// message, an HTTP status or a close code.
type Code string

// Error codes.
const (
	CodeInvalid            Code = "invalid"             // malformed input (bad config, empty id)
	CodeUnknownQueue       Code = "unknown_queue"       // no such queue
	CodeUnknownAgent       Code = "unknown_agent"       // no such agent
	CodeUnknownSkill       Code = "unknown_skill"       // no agent or queue knows the skill
	CodeUnknownInteraction Code = "unknown_interaction" // no such interaction in routing
	CodeDuplicate          Code = "duplicate"           // the interaction id is already routed
	CodeNotOffered         Code = "not_offered"         // the agent holds no offer for it
	CodeOfferExpired       Code = "offer_expired"       // the offer timed out before the answer
	CodeAlreadyAccepted    Code = "already_accepted"    // it is already connected (to this or another agent)
	CodeNotAssigned        Code = "not_assigned"        // the agent does not hold the interaction
	CodeWrongState         Code = "wrong_state"         // not possible in the interaction's current state
	CodeAgentUnavailable   Code = "agent_unavailable"   // target agent offline or away
	CodeNoCapacity         Code = "no_capacity"         // target agent has no free capacity
	CodeNotEligible        Code = "not_eligible"        // the agent lacks the skills or channel
	CodeClosed             Code = "closed"              // the loop has stopped
)

// Error is the error type returned by every routing operation.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return "routing: " + e.Msg }

// Is makes errors.Is(err, &Error{Code: c}) match any error with code c, so
// the sentinels below work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Msg == "" || t.Msg == e.Msg)
}

// Sentinels for errors.Is.
var (
	ErrInvalid            = &Error{Code: CodeInvalid}
	ErrUnknownQueue       = &Error{Code: CodeUnknownQueue}
	ErrUnknownAgent       = &Error{Code: CodeUnknownAgent}
	ErrUnknownSkill       = &Error{Code: CodeUnknownSkill}
	ErrUnknownInteraction = &Error{Code: CodeUnknownInteraction}
	ErrDuplicate          = &Error{Code: CodeDuplicate}
	ErrNotOffered         = &Error{Code: CodeNotOffered}
	ErrOfferExpired       = &Error{Code: CodeOfferExpired}
	ErrAlreadyAccepted    = &Error{Code: CodeAlreadyAccepted}
	ErrNotAssigned        = &Error{Code: CodeNotAssigned}
	ErrWrongState         = &Error{Code: CodeWrongState}
	ErrAgentUnavailable   = &Error{Code: CodeAgentUnavailable}
	ErrNoCapacity         = &Error{Code: CodeNoCapacity}
	ErrNotEligible        = &Error{Code: CodeNotEligible}
	ErrClosed             = &Error{Code: CodeClosed}
)

func errf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

func invalid(msg string) *Error { return &Error{Code: CodeInvalid, Msg: msg} }
