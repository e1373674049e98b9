package store

import (
	"context"
	"time"
)

// Command is a client command remembered under its id, so that the same
// id sent again (after a reconnect, or a restart) answers the first result
// without acting twice, and cannot be reused for another command.
type Command struct {
	// Principal is who sent it: "agent:<id>" or "visitor:<conversation>".
	Principal string `json:"principal"`
	// ID is the client's id; (Principal, ID) is unique.
	ID string `json:"id"`
	// Type and Target (the conversation or interaction it names) bind the
	// id to the command.
	Type   string `json:"type"`
	Target string `json:"target"`
	// Reply is the reply sent, as the client received it; nil while the
	// command has not finished (a crash may leave it so).
	Reply     []byte    `json:"reply,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// CommandStore remembers client commands. Text fields follow the chat
// rules (ErrInvalid for NUL bytes or invalid UTF-8; nothing stored).
type CommandStore interface {
	// StartCommand records c without its Reply unless (Principal, ID) is
	// stored already. It returns the stored command (c as recorded, or the
	// earlier one, Reply included) and whether c was recorded now. Running
	// it again is harmless.
	StartCommand(ctx context.Context, c Command) (stored Command, created bool, err error)
	// FinishCommand sets the reply of a started command. A reply set
	// before stays (the first result wins). ErrNotFound if the command is
	// not stored, ErrInvalid for an empty reply.
	FinishCommand(ctx context.Context, principal, id string, reply []byte) error
	// DeleteCommandsBefore removes the commands created before t and says
	// how many.
	DeleteCommandsBefore(ctx context.Context, t time.Time) (int, error)
}
