package chat

// Error is an error of the chat service that the edges pass on: Code is
// the protocol's error code (docs/PROTOCOL.md), decided here, where the
// error is made, so no edge has to map errors to codes. Each is returned
// as is or wrapped, so compare with errors.Is and read the code with
// errors.As.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errors the edges turn into clear replies.
var (
	ErrUnknownConversation = &Error{"not_found", "unknown conversation"}
	ErrNotParticipant      = &Error{"forbidden", "not a participant of this conversation"}
	ErrWrongRole           = &Error{"forbidden", "not allowed for this participant"}
	ErrOnHold              = &Error{"on_hold", "the operator has put the chat on hold"}
	ErrEnded               = &Error{"ended", "the conversation has ended"}
	ErrEmpty               = &Error{"bad_request", "the message is empty"}
	ErrTooLong             = &Error{"too_long", "the message is too long"}
	ErrInvalidText         = &Error{"invalid_text", "the message is not valid UTF-8 text"}
	ErrBadClientID         = &Error{"bad_request", "the client id is invalid"}
	ErrConflict            = &Error{"conflict", "the client id was already used for a different message"}
	ErrNotCommitted        = &Error{"unavailable", "not stored in time; send again with the same id"}
)
