package store

import (
	"context"
	"slices"
	"time"

	"github.com/contactd/contactd/routing"
)

// ConversationID names a conversation: one visitor's contact from the
// widget's first message to the end, text and voice together.
type ConversationID string

// Conversation statuses.
const (
	ConvQueued = "queued" // waiting for an agent
	ConvActive = "active" // with an agent
	ConvHeld   = "held"   // the agent put it on hold
	ConvEnded  = "ended"
)

// Conversation is the lasting record of a conversation.
type Conversation struct {
	ID ConversationID `json:"id"`
	// Interaction is the routing interaction of its text channel.
	Interaction routing.InteractionID `json:"interaction"`
	Queue       routing.QueueID       `json:"queue"`
	VisitorName string                `json:"visitorName,omitempty"`
	// Attributes are the context fields the embedding page passed
	// (account id, page URL, phone, location).
	Attributes map[string]string `json:"attributes,omitempty"`
	Status     string            `json:"status"`
	// LastSeq is the sequence of the newest stored message.
	LastSeq   int64     `json:"lastSeq"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	EndReason string    `json:"endReason,omitempty"`
}

// Message kinds.
const (
	MsgText  = "text"  // typed by a participant
	MsgEvent = "event" // something happened: joined, left, hold, resume, transfer
	MsgNote  = "note"  // a private note among agents (transfer notes), never shown to the visitor
)

// Message is one entry of a conversation's log. Seq runs from 1 without
// gaps per conversation; (Conversation, Sender, ClientID) is unique when
// ClientID is set, so a retried send is stored once.
type Message struct {
	Conversation ConversationID `json:"conversation"`
	Seq          int64          `json:"seq"`
	ClientID     string         `json:"clientId,omitempty"`
	// Sender is "visitor", "agent:<id>" or "system".
	Sender string `json:"sender"`
	Kind   string `json:"kind"`
	// Text is stored exactly as sent: any valid UTF-8 without NUL bytes,
	// up to the size limit (see ChatStore).
	Text string `json:"text"`
	// Event names what happened for MsgEvent (joined, left, hold, resume,
	// transferred, ended), with Data for details.
	Event     string            `json:"event,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}

// LeftMessage is what a visitor leaves instead of waiting.
type LeftMessage struct {
	ID         string            `json:"id"`
	Queue      routing.QueueID   `json:"queue"`
	Name       string            `json:"name"`
	Email      string            `json:"email"`
	Text       string            `json:"text"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Conversation is set when the visitor left it from a conversation.
	Conversation ConversationID `json:"conversation,omitempty"`
	CreatedAt    time.Time      `json:"createdAt"`
	// HandledBy is the agent who marked it handled, empty while open.
	HandledBy routing.AgentID `json:"handledBy,omitempty"`
	HandledAt time.Time       `json:"handledAt,omitzero"`
	// Audio is a recorded voice message (a caller's voicemail), a WAV
	// file of at most MaxLeftMessageAudio bytes; nil for none.
	// CreateLeftMessage stores it with the message; ListLeftMessages leaves
	// it nil (and sets HasAudio); GetLeftMessage reads it.
	Audio []byte `json:"-"`
	// HasAudio says Audio is stored. The stores set it when they read a
	// message; CreateLeftMessage ignores it.
	HasAudio bool `json:"hasAudio,omitempty"`
	// AudioMillis is how long Audio plays, as the one who recorded it said;
	// 0 without Audio.
	AudioMillis int64 `json:"audioMs,omitempty"`
}

// MaxLeftMessageAudio is the largest LeftMessage.Audio the stores keep:
// 2 MiB, a little over two minutes of 8 kHz 16-bit mono.
const MaxLeftMessageAudio = 2 << 20

// LeftMessageFilter says which left messages ListLeftMessages returns. The
// zero filter returns every one.
type LeftMessageFilter struct {
	ID          string // only the one of this id; "" for any
	OnlyOpen    bool   // only those nobody marked handled
	OnlyHandled bool   // only those marked handled
	// Queues, when not nil, keeps only the messages of these queues, and
	// of any queue not in Known when Known is not nil (a queue removed
	// from the configuration: its messages are nobody's in particular).
	Queues, Known []routing.QueueID
}

// Match says whether m passes f: what the stores decide in SQL.
func (f LeftMessageFilter) Match(m LeftMessage) bool {
	switch {
	case f.ID != "" && m.ID != f.ID,
		f.OnlyOpen && m.HandledBy != "",
		f.OnlyHandled && m.HandledBy == "":
		return false
	case f.Queues == nil:
		return true
	}
	return slices.Contains(f.Queues, m.Queue) || (f.Known != nil && !slices.Contains(f.Known, m.Queue))
}

// Session is a staff login. Only a hash of the cookie's token is stored.
type Session struct {
	TokenHash string          `json:"-"`
	Agent     routing.AgentID `json:"agent"`
	CreatedAt time.Time       `json:"createdAt"`
	ExpiresAt time.Time       `json:"expiresAt"`
}

// ChatStore persists conversations. It is implemented by both stores and
// checked by the same conformance suite.
//
// Text comes back byte for byte as stored. Text that holds a NUL byte or is
// not valid UTF-8 is refused with an error wrapping ErrInvalid, by every
// store alike (PostgreSQL cannot store either), and nothing of the call is
// stored: any string field of a Conversation, Message or LeftMessage, map
// keys and values included.
type ChatStore interface {
	// CreateConversation stores a new conversation; ErrConflict if the id
	// is taken. LastSeq starts at 0 whatever c holds.
	CreateConversation(ctx context.Context, c Conversation) error
	GetConversation(ctx context.Context, id ConversationID) (Conversation, error)
	// ListOpenConversations returns those not ended, oldest first.
	ListOpenConversations(ctx context.Context) ([]Conversation, error)

	// AppendMessages stores messages of any number of conversations in one
	// transaction (group commit) and moves each conversation's LastSeq to
	// its highest stored Seq. A message whose (Conversation, Sender,
	// ClientID) or (Conversation, Seq) is already stored is skipped, so a
	// retried batch never duplicates. ErrNotFound if a conversation does
	// not exist, ErrInvalid for a Seq below 1 or text the store refuses;
	// either way nothing of the batch is stored.
	AppendMessages(ctx context.Context, msgs []Message) error
	// CommitChat stores a batch of the chat service's writes in one
	// transaction (group commit): the new conversations first, then the
	// messages (as AppendMessages), then the conversation updates in order
	// (each replaces everything of the stored conversation but its ID,
	// CreatedAt and LastSeq, which moves only with messages; an absent
	// conversation is skipped). A conversation of Create whose id is
	// already stored with another CreatedAt (before, or by an earlier entry
	// of Create) is not stored and its id is returned in taken, once per
	// refused entry, in Create order; stored with the same CreatedAt, it is
	// taken to be this batch's, written by an earlier attempt. So running a
	// batch again is harmless. On an error nothing of the batch is stored:
	// ErrNotFound when a message's conversation does not exist (nor is
	// created by the batch), ErrInvalid for text the store refuses in any
	// part of the batch.
	CommitChat(ctx context.Context, b ChatBatch) (taken []ConversationID, err error)
	// ListMessages returns up to limit messages with Seq > after, in order;
	// those of an unknown conversation are an empty list. A limit below 1
	// is an error.
	ListMessages(ctx context.Context, id ConversationID, after int64, limit int) ([]Message, error)
	// ListMessageEvents is ListMessages of the messages of kind MsgEvent
	// only: what a conversation's state (participants, hold, end) is made
	// of, without its text.
	ListMessageEvents(ctx context.Context, id ConversationID, after int64, limit int) ([]Message, error)
	// FindMessageByClientID returns the stored message a sender sent with
	// that client id; ErrNotFound if none.
	FindMessageByClientID(ctx context.Context, id ConversationID, sender, clientID string) (Message, error)

	// CreateLeftMessage stores a left message with its Audio, if any;
	// ErrConflict if the id is taken, ErrInvalid for Audio larger than
	// MaxLeftMessageAudio, a negative AudioMillis or one without Audio.
	CreateLeftMessage(ctx context.Context, m LeftMessage) error
	// GetLeftMessage returns a left message with its Audio (nil if none);
	// ErrNotFound if absent.
	GetLeftMessage(ctx context.Context, id string) (LeftMessage, error)
	// ListLeftMessages returns those f matches, newest first (by
	// CreatedAt, then id), up to limit; the filter is applied before the
	// limit. A limit below 1 is an error.
	ListLeftMessages(ctx context.Context, f LeftMessageFilter, limit int) ([]LeftMessage, error)
	// MarkLeftMessageHandled records who handled it, replacing an earlier
	// mark; ErrNotFound if absent.
	MarkLeftMessageHandled(ctx context.Context, id string, by routing.AgentID, at time.Time) error

	// CreateSession stores a staff session; ErrConflict on the same hash,
	// ErrNotFound if the agent does not exist.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with that token hash; ErrNotFound if
	// absent or expired at now (ExpiresAt <= now; a session without
	// ExpiresAt is always expired).
	GetSession(ctx context.Context, tokenHash string, now time.Time) (Session, error)
	// DeleteSession removes a session; removing an absent one is not an
	// error, so logging out twice is harmless.
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteExpiredSessions removes sessions expired at now and says how
	// many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// Secret returns the named secret, creating it with value when absent
	// (the first writer wins; every node then reads the same value). An
	// empty value is ErrInvalid.
	Secret(ctx context.Context, name string, value []byte) ([]byte, error)
}

// ChatBatch is one group commit of the chat service: see
// ChatStore.CommitChat.
type ChatBatch struct {
	Create   []Conversation
	Messages []Message
	Update   []Conversation
}
