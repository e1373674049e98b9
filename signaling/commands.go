package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// ErrDraining is what the app's router returns for new work while the
// server shuts down; set by the wiring so classify can recognise it.
var ErrDraining = errors.New("draining")

// command is every field a client command may carry. Decoding fails on a
// field of the wrong type, which the client hears about.
type command struct {
	Type          string           `json:"type"`
	ID            string           `json:"id"`
	Text          *string          `json:"text"`
	On            *bool            `json:"on"`
	After         *int64           `json:"after"`
	Conversation  string           `json:"conversation"`
	Conversations map[string]int64 `json:"conversations"`
	Interaction   string           `json:"interaction"`
	Presence      string           `json:"presence"`
	Reason        string           `json:"reason"`
	Note          json.RawMessage  `json:"note"`
	ToAgent       string           `json:"toAgent"`
	ToQueue       string           `json:"toQueue"`
	Mode          string           `json:"mode"`
	Agent         string           `json:"agent"`
	SDP           string           `json:"sdp"`
	Candidate     json.RawMessage  `json:"candidate"`
	Renew         bool             `json:"renew"`
	Gain          *float64         `json:"gain"`
}

func peekID(data []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &v) != nil || len(v.ID) > 64 {
		return ""
	}
	return v.ID
}

func errorReply(id, code, msg string) payload {
	p := payload{"type": "error", "code": code, "message": msg}
	if id != "" {
		p["id"] = id
	}
	return p
}

// badRequest is an error of the client's making, with its message.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// classify turns an error into a protocol error code and message.
func classify(err error) (string, string) {
	var br badRequest
	var re *routing.Error
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		return ce.code, ce.msg
	case errors.As(err, &br):
		return "bad_request", string(br)
	case errors.Is(err, ErrDraining):
		return "draining", "the server is shutting down; try again in a moment"
	case errors.Is(err, chat.ErrUnknownConversation):
		return "not_found", err.Error()
	case errors.Is(err, chat.ErrNotParticipant), errors.Is(err, chat.ErrWrongRole):
		return "forbidden", err.Error()
	case errors.Is(err, chat.ErrWrongState):
		return "wrong_state", err.Error()
	case errors.Is(err, chat.ErrOnHold):
		return "on_hold", "the operator has put the chat on hold"
	case errors.Is(err, chat.ErrEnded):
		return "ended", "the conversation has ended"
	case errors.Is(err, chat.ErrTooLong):
		return "too_long", err.Error()
	case errors.Is(err, chat.ErrEmpty), errors.Is(err, chat.ErrBadClientID):
		return "bad_request", err.Error()
	case errors.Is(err, chat.ErrInvalidText):
		return "invalid_text", err.Error()
	case errors.Is(err, chat.ErrConflict):
		return "conflict", err.Error()
	case errors.Is(err, ErrNoVoice):
		return "unavailable", err.Error()
	case errors.Is(err, errNoCall):
		return "not_found", err.Error()
	case errors.Is(err, errWrongCallState):
		return "wrong_state", err.Error()
	case errors.As(err, &re):
		switch re.Code {
		case routing.CodeUnknownQueue, routing.CodeUnknownAgent, routing.CodeUnknownInteraction, routing.CodeUnknownSkill:
			return "not_found", re.Msg
		case routing.CodeNotOffered:
			return "not_offered", re.Msg
		case routing.CodeOfferExpired:
			return "offer_expired", re.Msg
		case routing.CodeAlreadyAccepted:
			return "already_accepted", re.Msg
		case routing.CodeAgentUnavailable, routing.CodeNoCapacity:
			return "unavailable", re.Msg
		case routing.CodeNotAssigned, routing.CodeNotEligible:
			return "forbidden", re.Msg
		case routing.CodeWrongState, routing.CodeDuplicate:
			return "wrong_state", re.Msg
		case routing.CodeInvalid:
			return "bad_request", re.Msg
		case routing.CodeClosed:
			return "unavailable", re.Msg
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, chat.ErrNotCommitted):
		return "unavailable", "not stored in time; send again with the same id"
	}
	return "internal", "something went wrong on the server"
}

// CommandTimeout bounds one command, store included.
const CommandTimeout = 15 * time.Second

func (s *Server) handle(c *conn, data []byte) {
	if !validText(data) {
		c.send(errorReply(peekID(data), "invalid_text", "the command is not valid UTF-8 text (or escapes half of a surrogate pair); nothing was done"))
		return
	}
	var cmd command
	if err := json.Unmarshal(data, &cmd); err != nil {
		c.send(errorReply(peekID(data), "bad_request", "not a valid command: "+err.Error()))
		return
	}
	switch {
	case cmd.Type == "":
		c.send(errorReply(cmd.ID, "bad_request", "the field type is missing"))
		return
	case len(cmd.ID) > 64:
		c.send(errorReply("", "bad_request", "the id is longer than 64 bytes"))
		return
	case cmd.ID == "" && cmd.Type != "typing" && cmd.Type != "ice":
		c.send(errorReply("", "bad_request", "the field id is missing"))
		return
	}
	who := principal(c)
	// Reads run again; commands that change something answer a repeated id
	// from the cache (send is deduplicated by the chat service itself).
	// A call_offer is not remembered either: its answer is large, and an
	// offer sent again makes a new leg that replaces the first.
	readOnly := cmd.Type == "resume" || cmd.Type == "history" || cmd.Type == "typing" || cmd.Type == "ice" || cmd.Type == "call_offer"
	if !readOnly && cmd.Type != "send" {
		if b, ok := s.hub.cachedReply(who, cmd.ID); ok {
			c.sendRaw(b)
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, CommandTimeout)
	defer cancel()
	var result payload
	var err error
	if c.agent != "" {
		result, err = s.agentCommand(ctx, c, cmd)
	} else {
		result, err = s.visitorCommand(ctx, c, cmd)
	}
	if (cmd.Type == "typing" || cmd.Type == "ice") && err == nil || errors.Is(err, errReplyLater) {
		return
	}
	var reply payload
	if err != nil {
		code, msg := classify(err)
		if code == "internal" {
			c.log.Error("command failed", "type", cmd.Type, "err", err)
		}
		reply = errorReply(cmd.ID, code, msg)
	} else {
		if result == nil {
			result = payload{}
		}
		reply = payload{"type": "ack", "id": cmd.ID, "result": result}
	}
	b, _ := json.Marshal(reply)
	if !readOnly && cmd.Type != "send" && (err == nil || !retryable(err)) {
		s.hub.remember(who, cmd.ID, b)
	}
	c.sendRaw(b)
}

// retryable errors are not remembered: sending the same id again may work.
func retryable(err error) bool {
	code, _ := classify(err)
	switch code {
	case "unavailable", "internal", "rate_limited", "draining":
		return true
	}
	return false
}

func needText(cmd command) (string, error) {
	if cmd.Text == nil {
		return "", badRequest("the field text is missing")
	}
	return *cmd.Text, nil
}

func needConversation(cmd command) (store.ConversationID, error) {
	if cmd.Conversation == "" || len(cmd.Conversation) > 128 {
		return "", badRequest("the field conversation is missing")
	}
	return store.ConversationID(cmd.Conversation), nil
}

func needInteraction(cmd command) (routing.InteractionID, error) {
	if cmd.Interaction == "" || len(cmd.Interaction) > 128 {
		return "", badRequest("the field interaction is missing")
	}
	return routing.InteractionID(cmd.Interaction), nil
}

func (s *Server) visitorCommand(ctx context.Context, c *conn, cmd command) (payload, error) {
	id := store.ConversationID(c.conversation)
	if cmd.Conversation != "" && cmd.Conversation != c.conversation {
		return nil, chat.ErrNotParticipant
	}
	switch cmd.Type {
	case "send":
		text, err := needText(cmd)
		if err != nil {
			return nil, err
		}
		m, _, err := s.chat.Send(ctx, id, chat.SenderVisitor, cmd.ID, store.MsgText, text)
		if err != nil {
			return nil, err
		}
		return payload{"seq": m.Seq}, nil
	case "typing":
		s.typing(ctx, id, chat.SenderVisitor, cmd.On != nil && *cmd.On)
		return nil, nil
	case "end":
		// The call ends first, so its end is in the log before the chat's.
		s.calls.endWith(ctx, id, "visitor_ended")
		m, err := s.coord.EndByVisitor(ctx, id)
		if err != nil {
			return nil, err
		}
		return payload{"seq": m.Seq}, nil
	case "call_offer":
		ans, err := s.calls.offer(ctx, id, chat.SenderVisitor, cmd.SDP, cmd.Renew)
		if err != nil {
			return nil, err
		}
		return payload{"sdp": ans}, nil
	case "ice":
		return nil, s.calls.candidate(id, chat.SenderVisitor, cmd.Candidate)
	case "call_hangup":
		return nil, s.calls.hangup(ctx, id, chat.SenderVisitor)
	case "call_decline":
		return nil, s.calls.decline(ctx, id)
	case "resume":
		var after int64
		if cmd.After != nil {
			after = *cmd.After
		} else if v, ok := cmd.Conversations[c.conversation]; ok {
			after = v
		}
		return nil, s.startReplay(ctx, c, cmd.ID, chat.SenderVisitor, map[string]int64{c.conversation: after})
	}
	return nil, errUnknownType(cmd.Type)
}

// commandTypes are the types of every command, of visitors and of staff.
var commandTypes = map[string]bool{
	"send": true, "typing": true, "end": true, "resume": true, "history": true, "call_offer": true, "ice": true,
	"call_hangup": true, "call_decline": true, "call_invite": true, "call_gain": true, "presence": true, "accept": true,
	"decline": true, "park": true, "take": true, "operator_chat": true, "hold": true, "unhold": true, "wrapup_done": true,
	"transfer": true, "transfer_complete": true, "transfer_cancel": true,
}

// errUnknownType refuses a command type this client may not send: one
// that does not exist is unknown_type, one of another role forbidden.
func errUnknownType(t string) error {
	if commandTypes[t] {
		return &codedError{"forbidden", "the command " + t + " is not for this role"}
	}
	if len(t) > 40 {
		t = t[:40]
	}
	return &codedError{"unknown_type", "unknown command type " + strings.ToValidUTF8(t, "?")}
}

func (s *Server) typing(ctx context.Context, id store.ConversationID, who chat.Sender, on bool) {
	_, parts, err := s.chat.Info(ctx, id)
	if err != nil {
		return
	}
	if _, ok := parts[who]; !ok {
		return
	}
	p := payload{"type": "typing", "conversation": id, "sender": who, "on": on}
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	for other, role := range parts {
		// A consulted colleague's typing stays among the agents.
		if other == who || (role == chat.RoleVisitor && parts[who] == chat.RoleConsult) {
			continue
		}
		if other == chat.SenderVisitor {
			s.hub.toVisitor(string(id), p)
		} else if a, ok := chat.AgentOf(other); ok {
			s.hub.toAgent(a, p)
		}
	}
}

func (s *Server) agentCommand(ctx context.Context, c *conn, cmd command) (payload, error) {
	me := routing.AgentID(c.agent)
	do := func(rc routing.Command) (payload, error) { return nil, s.router.Do(ctx, rc) }
	switch cmd.Type {
	case "presence":
		return do(routing.SetPresence{Agent: me, Presence: routing.Presence(cmd.Presence), Reason: cmd.Reason})
	case "accept", "decline", "park", "take":
		in, err := needInteraction(cmd)
		if err != nil {
			return nil, err
		}
		switch cmd.Type {
		case "accept":
			return do(routing.Accept{Agent: me, Interaction: in})
		case "decline":
			return do(routing.Decline{Agent: me, Interaction: in})
		case "park":
			return do(routing.Park{Agent: me, Interaction: in})
		}
		return do(routing.Take{Agent: me, Interaction: in})
	case "operator_chat":
		if cmd.Agent == "" {
			return nil, badRequest("the field agent is missing")
		}
		if _, err := s.st.GetAgent(ctx, routing.AgentID(cmd.Agent)); err != nil {
			return nil, &routing.Error{Code: routing.CodeUnknownAgent, Msg: "unknown agent " + cmd.Agent}
		}
		id, err := s.coord.OperatorRoom(ctx, me, routing.AgentID(cmd.Agent))
		if err != nil {
			return nil, err
		}
		for _, a := range []routing.AgentID{me, routing.AgentID(cmd.Agent)} {
			s.hub.effect(routing.Assigned{Interaction: routing.InteractionID(id), Agent: a, Channel: routing.ChannelChat})
		}
		return payload{"conversation": id}, nil
	case "resume":
		return nil, s.startReplay(ctx, c, cmd.ID, chat.AgentSender(me), cmd.Conversations)
	}
	id, err := needConversation(cmd)
	if err != nil {
		switch cmd.Type {
		case "send", "typing", "hold", "unhold", "end", "wrapup_done", "transfer", "transfer_complete", "transfer_cancel", "history",
			"call_offer", "ice", "call_hangup", "call_invite", "call_gain":
			return nil, err
		}
		return nil, errUnknownType(cmd.Type)
	}
	in := routing.InteractionID(id)
	switch cmd.Type {
	case "send":
		text, err := needText(cmd)
		if err != nil {
			return nil, err
		}
		kind := store.MsgText
		if len(cmd.Note) > 0 {
			var note bool
			if json.Unmarshal(cmd.Note, &note) != nil {
				return nil, badRequest("note is true or false")
			}
			if note {
				kind = store.MsgNote
			}
		}
		m, _, err := s.chat.Send(ctx, id, chat.AgentSender(me), cmd.ID, kind, text)
		if err != nil {
			return nil, err
		}
		return payload{"seq": m.Seq}, nil
	case "typing":
		s.typing(ctx, id, chat.AgentSender(me), cmd.On != nil && *cmd.On)
		return nil, nil
	case "hold", "unhold":
		m, err := s.chat.Hold(ctx, id, me, cmd.Type == "hold")
		if err != nil {
			return nil, err
		}
		return payload{"seq": m.Seq}, nil
	case "end":
		if role, ok, err := s.chat.RoleOf(ctx, id, chat.AgentSender(me)); err == nil && ok && role == chat.RoleOwner {
			s.calls.endWith(ctx, id, "agent_ended")
		}
		m, err := s.coord.EndByAgent(ctx, id, me)
		if err != nil {
			return nil, err
		}
		return payload{"seq": m.Seq}, nil
	case "wrapup_done":
		return do(routing.WrapUpDone{Agent: me, Interaction: in})
	case "transfer":
		var note string
		if len(cmd.Note) > 0 && json.Unmarshal(cmd.Note, &note) != nil {
			return nil, badRequest("note is a string")
		}
		mode := routing.TransferMode(cmd.Mode)
		if note != "" {
			if _, _, err := s.chat.Send(ctx, id, chat.AgentSender(me), cmd.ID+":note", store.MsgNote, note); err != nil {
				return nil, err
			}
		}
		s.hub.mu.Lock()
		s.hub.notes[in] = note // shown with the offer to the colleague
		s.hub.mu.Unlock()
		return do(routing.Transfer{Agent: me, Interaction: in, ToAgent: routing.AgentID(cmd.ToAgent), ToQueue: routing.QueueID(cmd.ToQueue), Mode: mode})
	case "transfer_complete":
		return do(routing.CompleteTransfer{Agent: me, Interaction: in})
	case "transfer_cancel":
		return do(routing.CancelTransfer{Agent: me, Interaction: in})
	case "history":
		var after int64
		if cmd.After != nil {
			after = *cmd.After
		}
		return nil, s.startReplay(ctx, c, cmd.ID, chat.AgentSender(me), map[string]int64{string(id): after})
	case "call_offer":
		ans, err := s.calls.offer(ctx, id, chat.AgentSender(me), cmd.SDP, cmd.Renew)
		if err != nil {
			return nil, err
		}
		return payload{"sdp": ans}, nil
	case "ice":
		return nil, s.calls.candidate(id, chat.AgentSender(me), cmd.Candidate)
	case "call_hangup":
		return nil, s.calls.hangup(ctx, id, chat.AgentSender(me))
	case "call_invite":
		return nil, s.calls.invite(ctx, id, me)
	case "call_gain":
		if cmd.Gain == nil {
			return nil, badRequest("the field gain is missing")
		}
		if _, ok, err := s.chat.RoleOf(ctx, id, chat.AgentSender(me)); err != nil || !ok {
			if err == nil {
				err = chat.ErrNotParticipant
			}
			return nil, err
		}
		return nil, s.calls.gain(id, me, *cmd.Gain)
	}
	return nil, errUnknownType(cmd.Type)
}
