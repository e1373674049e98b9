// Package store persists what must outlive the process: staff accounts,
// queues, interactions and their event log, conversations and their
// messages, left messages, staff sessions and shared secrets. Store is
// implemented by internal/store/postgres (pgx/v5) and internal/store/sqlite
// (embedded, pure Go); internal/store/storetest holds the conformance suite
// both pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/contactd/contactd/routing"
)

// Errors every implementation returns (wrapped) so callers can use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
	// ErrInvalid refuses a value the store could not keep exactly, such as
	// text holding a NUL byte or invalid UTF-8 (see ChatStore). Nothing of
	// the call is stored.
	ErrInvalid = errors.New("store: invalid value")
)

// Role is what a staff member may do. Visitors are not stored as staff.
type Role string

// Roles.
const (
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// Agent is a staff account: an agent, supervisor or administrator, with the
// routing part (skills, capacity) and the last presence they chose.
type Agent struct {
	ID              routing.AgentID         `json:"id"`
	DisplayName     string                  `json:"displayName"`
	PasswordHash    string                  `json:"-"`
	Roles           []Role                  `json:"roles"`
	Skills          map[routing.Skill]int   `json:"skills"`
	Capacity        map[routing.Channel]int `json:"capacity"`
	VoiceBlocksChat bool                    `json:"voiceBlocksChat"`
	Presence        routing.Presence        `json:"presence"`
	AwayReason      string                  `json:"awayReason,omitempty"`
	PresenceSince   time.Time               `json:"presenceSince"`
	CreatedAt       time.Time               `json:"createdAt"`
	UpdatedAt       time.Time               `json:"updatedAt"`
}

// Interaction status values.
const (
	StatusWaiting   = "waiting"   // in a queue, possibly offered
	StatusParked    = "parked"    // in the shared parked list
	StatusConnected = "connected" // with an agent
	StatusWrapUp    = "wrap_up"   // ended, the agent's slot in wrap-up
	StatusEnded     = "ended"
)

// Interaction is one chat or call, from entering a queue to its end.
type Interaction struct {
	ID             routing.InteractionID `json:"id"`
	Channel        routing.Channel       `json:"channel"`
	Queue          routing.QueueID       `json:"queue"`
	Skills         []routing.SkillReq    `json:"skills,omitempty"`
	PreferredAgent routing.AgentID       `json:"preferredAgent,omitempty"`
	Priority       int                   `json:"priority"`
	Status         string                `json:"status"`
	Agent          routing.AgentID       `json:"agent,omitempty"`
	// Attributes are context fields given by the edge (visitor name, page
	// URL, account id). Never used for routing decisions.
	Attributes map[string]string `json:"attributes,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
	EnqueuedAt time.Time         `json:"enqueuedAt"` // entered its current queue
	AcceptedAt time.Time         `json:"acceptedAt,omitzero"`
	EndedAt    time.Time         `json:"endedAt,omitzero"`
	EndReason  routing.Reason    `json:"endReason,omitempty"`
}

// Store is the persistence interface. Every method is safe for concurrent
// use. Methods that fail because the database is unreachable return an error
// and may be retried; once the database is back, calls succeed again without
// reopening the Store.
type Store interface {
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error

	// CountAgents counts staff accounts of any role.
	CountAgents(ctx context.Context) (int, error)
	// CreateAgent stores a new account; ErrConflict if the id is taken.
	CreateAgent(ctx context.Context, a Agent) error
	// UpdateAgent replaces everything but CreatedAt; ErrNotFound if absent.
	UpdateAgent(ctx context.Context, a Agent) error
	GetAgent(ctx context.Context, id routing.AgentID) (Agent, error)
	// ListAgents returns all accounts ordered by id.
	ListAgents(ctx context.Context) ([]Agent, error)
	// SetAgentPresence records the presence an agent chose.
	SetAgentPresence(ctx context.Context, id routing.AgentID, p routing.Presence, reason string, since time.Time) error

	// UpsertQueue creates or replaces a queue's configuration.
	UpsertQueue(ctx context.Context, q routing.QueueConfig) error
	GetQueue(ctx context.Context, id routing.QueueID) (routing.QueueConfig, error)
	// ListQueues returns all queues ordered by id.
	ListQueues(ctx context.Context) ([]routing.QueueConfig, error)

	// CreateInteraction stores a new interaction; ErrConflict if the id is
	// taken.
	CreateInteraction(ctx context.Context, in Interaction) error
	GetInteraction(ctx context.Context, id routing.InteractionID) (Interaction, error)
	// ListOpenInteractions returns every interaction whose status is not
	// ended, ordered by priority (highest first), then EnqueuedAt, then id.
	ListOpenInteractions(ctx context.Context) ([]Interaction, error)

	// AppendEvents stores events in one transaction. An event whose Seq is
	// already stored is skipped, so a retried call never duplicates.
	AppendEvents(ctx context.Context, evs []routing.Event) error
	// ListEvents returns one interaction's events in Seq order.
	ListEvents(ctx context.Context, id routing.InteractionID) ([]routing.Event, error)
	// ListEventsAfter returns up to limit events with Seq > after, in Seq
	// order.
	ListEventsAfter(ctx context.Context, after int64, limit int) ([]routing.Event, error)
	// MaxEventSeq is the highest stored Seq, 0 when there is none.
	MaxEventSeq(ctx context.Context) (int64, error)

	// WriteRouting stores what routing decided since the last call, in one
	// transaction (group commit): all of it or, with an error, nothing.
	// Running it again with the same batch is harmless, so a failed call
	// can be retried.
	WriteRouting(ctx context.Context, b RoutingBatch) error

	ChatStore
	CommandStore
}

// RoutingBatch is one group commit of the routing recorder.
type RoutingBatch struct {
	// Events are appended as AppendEvents does: one whose Seq is stored is
	// skipped.
	Events []routing.Event
	// Interactions are written whole, in order: one not stored yet is
	// created; a stored one is replaced but for its CreatedAt and
	// Attributes, which stay as first stored.
	Interactions []Interaction
	// Presence records the presence agents chose, as SetAgentPresence
	// does; an agent that does not exist is skipped.
	Presence []AgentPresence
}

// AgentPresence is the presence an agent chose, and since when.
type AgentPresence struct {
	Agent    routing.AgentID
	Presence routing.Presence
	Reason   string
	Since    time.Time
}
