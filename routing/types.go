// Package routing is the automatic call distributor (ACD): queues, agents,
// skills with levels, per-channel capacity, strategies, offers, timeouts,
// overflow, transfer, queue position and estimated wait.
//
// The package is pure logic. It never touches the network, the database or
// the wall clock: time is passed in with every input, and decisions leave as
// effects that the edges carry out. Engine holds the state and is not safe for
// concurrent use; Loop owns one Engine on a single goroutine behind a mailbox
// that never blocks the caller.
package routing

import "time"

// Typed identifiers.
type (
	// AgentID names a staff member (their login name).
	AgentID string
	// QueueID names a queue ("sales", "support").
	QueueID string
	// InteractionID names one interaction (a chat or a call) for its whole life.
	InteractionID string
	// Skill names a skill ("english", "billing").
	Skill string
	// Channel is the medium of an interaction. Chat and Voice are built in;
	// any other name works as long as agents are given capacity for it.
	Channel string
)

// Built-in channels.
const (
	ChannelChat  Channel = "chat"
	ChannelVoice Channel = "voice"
)

// Skill levels run from 1 (basic) to 10 (expert). A requirement with
// MinLevel 0 or 1 is met by any level of the skill; a level of 0 means the
// agent does not have the skill.
const (
	MinSkillLevel = 1
	MaxSkillLevel = 10
)

// SkillReq is one required skill with a minimum level.
type SkillReq struct {
	Skill    Skill `json:"skill" yaml:"skill"`
	MinLevel int   `json:"minLevel" yaml:"min_level"`
}

// Presence is what an agent chose: offline, available or away.
type Presence string

// Presences.
const (
	PresenceOffline   Presence = "offline"
	PresenceAvailable Presence = "available"
	PresenceAway      Presence = "away"
)

// AgentState is what an agent is doing, derived from presence, capacity and
// wrap-up. It is what supervisors see.
type AgentState string

// Agent states. Busy means no free capacity on any channel the agent has;
// WrapUp means at least one ended interaction is still in wrap-up.
const (
	StateOffline   AgentState = "offline"
	StateAvailable AgentState = "available"
	StateAway      AgentState = "away"
	StateBusy      AgentState = "busy"
	StateWrapUp    AgentState = "wrap_up"
)

// Strategy picks an agent among the eligible free ones.
type Strategy string

// Strategies.
const (
	// LongestIdle offers to the agent who has been without an interaction
	// (of any channel) for the longest time. The default.
	StrategyLongestIdle Strategy = "longest_idle"
	// LeastOccupied offers to the agent with the fewest interactions in
	// progress, ties by idle time.
	StrategyLeastOccupied Strategy = "least_occupied"
	// RoundRobin offers in turn, to the agent this queue offered to least
	// recently.
	StrategyRoundRobin Strategy = "round_robin"
	// BestSkill offers to the agent with the highest level in the required
	// skills (summed), ties by idle time.
	StrategyBestSkill Strategy = "best_skill"
	// RingAll offers to every eligible free agent at once; the first accept
	// wins and the other offers are withdrawn.
	StrategyRingAll Strategy = "ring_all"
)

// NoAgentsPolicy says what happens to an interaction when no agent who could
// take it is logged in.
type NoAgentsPolicy string

// No-agents policies.
const (
	NoAgentsWait  NoAgentsPolicy = "wait"
	NoAgentsLeave NoAgentsPolicy = "leave"
)

// Reason says why an interaction left routing or why an offer ended.
type Reason string

// Reasons.
const (
	ReasonEnded     Reason = "ended"     // handled and ended normally
	ReasonAbandoned Reason = "abandoned" // the customer left while waiting
	ReasonTimeout   Reason = "timeout"   // waited longer than the queue's maximum
	ReasonNoAgents  Reason = "no_agents" // nobody logged in who could take it
	ReasonRestart   Reason = "restart"   // closed while restoring after a restart
	ReasonDeclined  Reason = "declined"
	ReasonParked    Reason = "parked" // the agent put it in the communication queue
	ReasonExpired   Reason = "offer_timeout"
	ReasonTaken     Reason = "taken"         // ring-all: another agent accepted first
	ReasonWithdrawn Reason = "withdrawn"     // the agent went away or offline, or the interaction left
	ReasonMissed    Reason = "missed offers" // away reason after consecutive missed offers
)

// EventType names an entry of the per-interaction event log, in the spirit
// of Asterisk's queue_log.
type EventType string

// Event types. Every statistic in Stats can be recomputed from these.
const (
	EvEntered        EventType = "entered"         // entered a queue (Queue, Priority)
	EvOffered        EventType = "offered"         // offered to Agent
	EvAccepted       EventType = "accepted"        // Agent accepted; Wait is time since entering the queue
	EvDeclined       EventType = "declined"        // Agent declined
	EvOfferTimeout   EventType = "offer_timeout"   // Agent let the offer lapse
	EvOfferWithdrawn EventType = "offer_withdrawn" // offer to Agent withdrawn (Reason)
	EvParked         EventType = "parked"          // Agent parked it in the shared list
	EvTaken          EventType = "taken"           // Agent took it from the parked list; Wait as for accepted
	EvRelaxed        EventType = "relaxed"         // requirement relaxed by a queue step (Step)
	EvOverflowed     EventType = "overflowed"      // also offered through Target queue
	EvTransferred    EventType = "transferred"     // from Agent to Target (an agent or a queue), Mode
	EvConsultStarted EventType = "consult_started" // warm transfer: Target agent joined
	EvConsultEnded   EventType = "consult_ended"   // warm transfer cancelled: Target left, Agent keeps it
	EvTransferFailed EventType = "transfer_failed" // the target declined or let the offer lapse; Agent keeps it
	EvAbandoned      EventType = "abandoned"       // left while waiting; Wait
	EvTimedOut       EventType = "timed_out"       // left after the queue's maximum wait; Wait
	EvNoAgents       EventType = "no_agents"       // left because nobody could take it; Wait
	EvEnded          EventType = "ended"           // handled and ended; Handle is time since accepted
	EvClosed         EventType = "closed"          // closed for Reason (restart)
	EvWrapUpDone     EventType = "wrapup_done"     // Agent finished wrap-up
	EvAgentState     EventType = "agent_state"     // Agent changed presence to State (Reason)
	EvChannelChanged EventType = "channel_changed" // the interaction's medium became Channel (voice added to a chat, or removed); Agent holds it
)

// Event is one entry of the event log. Interaction events carry
// Interaction and Queue; agent events carry Agent and State.
type Event struct {
	// Seq orders the whole log; the engine numbers events from 1 and goes on
	// from the highest stored number after a restart. Stores treat it as a
	// unique key, so writing the same event twice keeps one copy.
	Seq         int64         `json:"seq"`
	Time        time.Time     `json:"time"`
	Type        EventType     `json:"type"`
	Interaction InteractionID `json:"interaction,omitempty"`
	Queue       QueueID       `json:"queue,omitempty"`
	Agent       AgentID       `json:"agent,omitempty"`
	Channel     Channel       `json:"channel,omitempty"`
	Target      string        `json:"target,omitempty"` // transfer or overflow target
	Mode        string        `json:"mode,omitempty"`   // transfer mode: blind, warm
	Reason      Reason        `json:"reason,omitempty"`
	State       Presence      `json:"state,omitempty"`
	Priority    int           `json:"priority,omitempty"`
	Step        int           `json:"step,omitempty"`
	Wait        time.Duration `json:"wait,omitempty"`   // time in queue, on accepted/taken/abandoned/timed_out/no_agents
	Handle      time.Duration `json:"handle,omitempty"` // time connected, on ended
}
