package chat

import "errors"

// Errors the edges turn into clear replies. Each is returned wrapped, so
// use errors.Is.
var (
	ErrUnknownConversation = errors.New("unknown conversation")
	ErrNotParticipant      = errors.New("not a participant of this conversation")
	ErrWrongRole           = errors.New("not allowed for this participant")
	ErrOnHold              = errors.New("the conversation is on hold")
	ErrWrongState          = errors.New("not possible in the conversation's state")
	ErrEnded               = errors.New("the conversation has ended")
	ErrEmpty               = errors.New("the message is empty")
	ErrTooLong             = errors.New("the message is too long")
	ErrInvalidText         = errors.New("the message is not valid UTF-8 text")
	ErrBadClientID         = errors.New("the client id is invalid")
	ErrConflict            = errors.New("the client id was already used for a different message")
	ErrNotCommitted        = errors.New("not yet committed")
)
