package signaling

import (
	"context"
	"errors"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/routing"
)

// Protocol error codes (docs/PROTOCOL.md, "Error codes").
const (
	CodeBadRequest      = "bad_request"
	CodeUnknownType     = "unknown_type"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeOnHold          = "on_hold"
	CodeEnded           = "ended"
	CodeTooLong         = "too_long"
	CodeInvalidText     = "invalid_text"
	CodeConflict        = "conflict"
	CodeRateLimited     = "rate_limited"
	CodeUnavailable     = "unavailable"
	CodeNotOffered      = "not_offered"
	CodeOfferExpired    = "offer_expired"
	CodeAlreadyAccepted = "already_accepted"
	CodeWrongState      = "wrong_state"
	CodeDraining        = "draining"
	CodeInternal        = "internal"
)

// Error is an error of the edges with its protocol code, set where it is
// made (like chat.Error and routing.Error).
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// badRequest is an error of the client's making, with its message.
func badRequest(msg string) error { return &Error{CodeBadRequest, msg} }

// forbidden is a command or call the sender's roles do not allow.
func forbidden(msg string) error { return &Error{CodeForbidden, msg} }

// ErrDraining is what the app's router returns for new work while the
// server shuts down; the wiring wraps it.
var ErrDraining = &Error{CodeDraining, "the server is shutting down; try again in a moment"}

// routingCodes translates routing's vocabulary into the protocol's.
var routingCodes = map[routing.Code]string{
	routing.CodeUnknownQueue:       CodeNotFound,
	routing.CodeUnknownAgent:       CodeNotFound,
	routing.CodeUnknownInteraction: CodeNotFound,
	routing.CodeUnknownSkill:       CodeNotFound,
	routing.CodeNotOffered:         CodeNotOffered,
	routing.CodeOfferExpired:       CodeOfferExpired,
	routing.CodeAlreadyAccepted:    CodeAlreadyAccepted,
	routing.CodeAgentUnavailable:   CodeUnavailable,
	routing.CodeNoCapacity:         CodeUnavailable,
	routing.CodeNotAssigned:        CodeForbidden,
	routing.CodeNotEligible:        CodeForbidden,
	routing.CodeWrongState:         CodeWrongState,
	routing.CodeDuplicate:          CodeWrongState,
	routing.CodeInvalid:            CodeBadRequest,
	routing.CodeClosed:             CodeUnavailable,
}

// codeOf reads the protocol code that err carries, and the message for the
// client. The edge's own errors are checked first: they may wrap another
// part's error with a more precise code. An error nobody classified is
// internal, except a timeout, which is worth retrying.
func codeOf(err error) (code, msg string) {
	var ee *Error
	var ce *chat.Error
	var re *routing.Error
	switch {
	case errors.As(err, &ee):
		if ee == ErrDraining {
			return ee.Code, ee.Msg // not the wiring's wording
		}
		return ee.Code, err.Error()
	case errors.As(err, &ce):
		return ce.Code, err.Error()
	case errors.As(err, &re):
		if c, ok := routingCodes[re.Code]; ok {
			return c, re.Msg
		}
	case errors.Is(err, context.DeadlineExceeded):
		return CodeUnavailable, chat.ErrNotCommitted.Msg
	}
	return CodeInternal, "something went wrong on the server"
}

// retryable errors are not remembered: sending the same id again may work.
func retryable(err error) bool {
	switch code, _ := codeOf(err); code {
	case CodeUnavailable, CodeInternal, CodeRateLimited, CodeDraining:
		return true
	}
	return false
}
