package routing

import "time"

// Effect is a decision of the engine for the edges to carry out. The
// concrete types are *Event, Offer, OfferEnded, Assigned, Unassigned,
// Position, Left, *InteractionInfo and AgentInfo. The two most frequent come
// as pointers, carved from blocks the engine allocates in bulk; they must
// be treated as read-only.
type Effect interface{ isEffect() }

// Offer asks Agent to take Interaction before Deadline. Transfer says the
// offer is a transfer from From; Consult that accepting starts a warm
// transfer consultation rather than taking the interaction over.
type Offer struct {
	Interaction InteractionID
	Agent       AgentID
	Queue       QueueID
	Channel     Channel
	Deadline    time.Time
	From        AgentID
	Transfer    bool
	Consult     bool
}

// OfferEnded says an offer is over without having been accepted: it was
// withdrawn, lapsed or was answered by declining or parking it (Reason
// withdrawn, taken, offer_timeout, declined, parked), so that every desk of
// the agent clears it.
type OfferEnded struct {
	Interaction InteractionID
	Agent       AgentID
	Reason      Reason
}

// Assigned joins Agent to Interaction. Consult is set while a warm transfer
// target talks with the first agent; From names the agent it came from on a
// transfer.
type Assigned struct {
	Interaction InteractionID
	Agent       AgentID
	Channel     Channel
	From        AgentID
	Consult     bool
}

// Unassigned removes Agent from Interaction, which goes on with somebody
// else (transfer completed, consult cancelled) or back into a queue.
type Unassigned struct {
	Interaction InteractionID
	Agent       AgentID
	Reason      string // "transferred", "consult_cancelled"
}

// Position tells a waiting customer where they are. EstimatedWait is -1 when
// no estimate can be made (nobody logged in).
type Position struct {
	Interaction   InteractionID
	Queue         QueueID
	Position      int
	EstimatedWait time.Duration
}

// Left says Interaction left routing without being handled (timeout,
// no_agents, abandoned, restart).
type Left struct {
	Interaction InteractionID
	Queue       QueueID
	Reason      Reason
}

// Interaction statuses, as in InteractionInfo.Status.
const (
	StatusWaiting   = "waiting"
	StatusParked    = "parked"
	StatusConnected = "connected"
	StatusWrapUp    = "wrap_up"
	StatusEnded     = "ended"
)

// InteractionInfo is the persistent state of an interaction after a change;
// it is what a store keeps and what Restore takes back.
type InteractionInfo struct {
	ID             InteractionID
	Channel        Channel
	Queue          QueueID
	Skills         []SkillReq
	PreferredAgent AgentID
	Priority       int
	Status         string
	Agent          AgentID
	EnqueuedAt     time.Time
	AcceptedAt     time.Time
	EndedAt        time.Time
	EndReason      Reason
}

// AgentInfo is an agent's routing state after a change. It is pushed when
// what a supervisor sees changes: presence, state, the number of
// interactions held or the pending offer (not on the handled count alone).
type AgentInfo struct {
	ID         AgentID
	Presence   Presence
	AwayReason string
	// PresenceSince is when the agent chose Presence.
	PresenceSince time.Time
	State         AgentState
	// StateSince is when State last changed.
	StateSince time.Time
	// Active counts interactions in progress per channel (wrap-up included).
	// Infos with the same counts share one map: read it, never change it.
	Active  map[Channel]int
	Offered InteractionID
	Handled int
}

func (*Event) isEffect()           {}
func (Offer) isEffect()            {}
func (OfferEnded) isEffect()       {}
func (Assigned) isEffect()         {}
func (Unassigned) isEffect()       {}
func (Position) isEffect()         {}
func (Left) isEffect()             {}
func (*InteractionInfo) isEffect() {}
func (AgentInfo) isEffect()        {}
