package signaling

import (
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Messages from the server (docs/PROTOCOL.md, "Messages from the
// server"), one type each. Fields are in the order encoding/json gives a
// map's keys, as the protocol always had them; a field without omitempty
// is always sent, as before.

type helloStaffOut struct {
	Agent account `json:"agent"`
	Role  string  `json:"role"` // "agent", or "staff" for an account without the agent role
	Type  string  `json:"type"`
	V     int     `json:"v"`
}

type helloVisitorOut struct {
	Conversation string `json:"conversation"`
	LastSeq      int64  `json:"lastSeq"`
	Role         string `json:"role"`
	Status       string `json:"status"`
	Type         string `json:"type"`
	V            int    `json:"v"`
}

type stateOut struct {
	Presence routing.Presence `json:"presence"`
	Reason   string           `json:"reason"`
	State    string           `json:"state"`
	Type     string           `json:"type"`
}

func stateMsg(st routing.AgentInfo) stateOut {
	return stateOut{Presence: st.Presence, Reason: st.AwayReason, State: string(st.State), Type: "state"}
}

type typingOut struct {
	Conversation store.ConversationID `json:"conversation"`
	On           bool                 `json:"on"`
	Sender       chat.Sender          `json:"sender"`
	Type         string               `json:"type"`
}

// visitorOut is what an agent sees of a visitor.
type visitorOut struct {
	Attributes map[string]string `json:"attributes"`
	Name       string            `json:"name"`
}

type transferOut struct {
	From routing.AgentID      `json:"from"`
	Mode routing.TransferMode `json:"mode"`
	Note string               `json:"note"`
}

type offerOut struct {
	Channel      routing.Channel       `json:"channel"`
	Conversation store.ConversationID  `json:"conversation"`
	Deadline     string                `json:"deadline"`
	Interaction  routing.InteractionID `json:"interaction"`
	Queue        routing.QueueID       `json:"queue"`
	Transfer     *transferOut          `json:"transfer,omitempty"`
	Type         string                `json:"type"`
	Visitor      visitorOut            `json:"visitor"`
	Waited       int                   `json:"waited"`
}

type offerEndedOut struct {
	Interaction routing.InteractionID `json:"interaction"`
	Reason      routing.Reason        `json:"reason"`
	Type        string                `json:"type"`
}

type assignedOut struct {
	Conversation store.ConversationID `json:"conversation"`
	From         routing.AgentID      `json:"from"`
	Queue        routing.QueueID      `json:"queue"`
	Role         chat.Role            `json:"role"`
	Type         string               `json:"type"`
	Visitor      visitorOut           `json:"visitor"`
}

type unassignedOut struct {
	Conversation store.ConversationID `json:"conversation"`
	Reason       string               `json:"reason"`
	Type         string               `json:"type"`
}

type positionOut struct {
	EstimatedWait int    `json:"estimatedWait"`
	Position      int    `json:"position"`
	Type          string `json:"type"`
}

// reasonOut is a message with only a reason: left (to a visitor).
type reasonOut struct {
	Reason routing.Reason `json:"reason"`
	Type   string         `json:"type"`
}

// typeOut is a message that says all with its type: busy.
type typeOut struct {
	Type string `json:"type"`
}

type wrapupOut struct {
	Conversation store.ConversationID `json:"conversation"`
	Deadline     string               `json:"deadline"`
	Type         string               `json:"type"`
}

type parkedItem struct {
	Conversation routing.InteractionID `json:"conversation"`
	Interaction  routing.InteractionID `json:"interaction"`
	Queue        routing.QueueID       `json:"queue"`
	Since        string                `json:"since"`
	Visitor      visitorOut            `json:"visitor"`
	// WaitingSince is when the visitor began to wait: the wait goes on through the park.
	WaitingSince string `json:"waitingSince,omitempty"`
}

type parkedOut struct {
	Items []parkedItem `json:"items"`
	Type  string       `json:"type"`
}

type operatorItem struct {
	DisplayName string           `json:"displayName"`
	ID          routing.AgentID  `json:"id"`
	Presence    routing.Presence `json:"presence"`
	State       routing.Presence `json:"state"`
}

type operatorsOut struct {
	Items []operatorItem `json:"items"`
	Type  string         `json:"type"`
}

// callOut is a call's state as one participant sees it.
type callOut struct {
	Cause        string               `json:"cause,omitempty"`
	Conversation store.ConversationID `json:"conversation"`
	NeedLeg      *bool                `json:"needLeg,omitempty"` // agents only
	Since        string               `json:"since,omitempty"`
	State        string               `json:"state"`
	Type         string               `json:"type"`
}

// iceOut is one of the server's ICE candidates for a leg.
type iceOut struct {
	Candidate    any                  `json:"candidate"`
	Conversation store.ConversationID `json:"conversation"`
	Type         string               `json:"type"`
}

// syncedOut ends a replay: the last seq sent of each conversation.
type syncedOut struct {
	Conversations map[string]int64 `json:"conversations"`
	Type          string           `json:"type"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
