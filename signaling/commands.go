package signaling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// CommandTimeout bounds one command, store included.
const CommandTimeout = 15 * time.Second

// envelope is what every command carries, read before its type is known.
type envelope struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	Conversation string `json:"conversation"`
	Interaction  string `json:"interaction"` // bound to the id with the type (see admit)
}

// req is a command on its way: who sent it, and the conversation it acts
// on when its row says it acts on one.
type req struct {
	c     *conn
	id    string
	agent routing.AgentID // "" for a visitor
	who   chat.Sender     // the sender in chat
	conv  store.ConversationID
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

// ackOut and errorOut are the replies to a command (fields in the order
// encoding/json gives a map's keys, as the protocol always had them).
type ackOut struct {
	ID     string `json:"id"`
	Result any    `json:"result"`
	Type   string `json:"type"`
}

type errorOut struct {
	Code    string `json:"code"`
	ID      string `json:"id,omitempty"`
	Message string `json:"message"`
	Type    string `json:"type"`
}

func errorReply(id, code, msg string) errorOut {
	return errorOut{Code: code, ID: id, Message: msg, Type: "error"}
}

// handle runs one command: its row in the table decides whether the
// sender may send it, how it decodes, what it acts on and what a repeated
// id does.
func (s *Server) handle(c *conn, data []byte) {
	if !validText(data) {
		c.send(errorReply(peekID(data), CodeInvalidText, "the command is not valid UTF-8 text (or escapes half of a surrogate pair); nothing was done"))
		return
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		c.send(errorReply(peekID(data), CodeBadRequest, "not a valid command: "+err.Error()))
		return
	}
	if len(env.ID) > 64 {
		c.send(errorReply("", CodeBadRequest, "the id is longer than 64 bytes"))
		return
	}
	if env.Type == "" {
		c.send(errorReply(env.ID, CodeBadRequest, "the field type is missing"))
		return
	}
	row, ok := commands[env.Type]
	if !ok {
		t := env.Type
		if len(t) > 40 {
			t = t[:40]
		}
		c.send(errorReply(env.ID, CodeUnknownType, "unknown command type "+t))
		return
	}
	if env.ID == "" && !row.Silent {
		c.send(errorReply("", CodeBadRequest, "the field id is missing"))
		return
	}
	if !c.roles.has(row.Roles) {
		c.send(errorReply(env.ID, CodeForbidden, env.Type+" is for "+row.Roles.String()))
		return
	}
	run, err := row.decode(data)
	if err != nil {
		c.send(errorReply(env.ID, CodeBadRequest, err.Error())) // not remembered: it acted on nothing
		return
	}
	if err := s.route(c, env, row, run); err != nil {
		s.reply(c, env, row, nil, err, idem{})
	}
}

// route resolves what the command acts on, answers a repeated id, and
// runs it.
func (s *Server) route(c *conn, env envelope, row command, run bound) error {
	r := &req{c: c, id: env.ID, agent: routing.AgentID(c.agent), who: chat.SenderVisitor}
	if c.agent != "" {
		r.who = chat.AgentSender(r.agent)
	}
	switch {
	case c.agent == "":
		// A visitor acts on their own conversation only.
		if env.Conversation != "" && env.Conversation != c.conversation {
			return chat.ErrNotParticipant
		}
		r.conv = store.ConversationID(c.conversation)
	case row.Conv:
		if env.Conversation == "" || len(env.Conversation) > 128 {
			return badRequest("the field conversation is missing")
		}
		r.conv = store.ConversationID(env.Conversation)
	}
	ctx, cancel := context.WithTimeout(c.ctx, CommandTimeout)
	defer cancel()
	st := s.admit(ctx, principal(c), env, row)
	if st.owns {
		// Resends of this id wait for this run (admit): release them once
		// it answered. Other commands take no lock for it.
		defer s.hub.finish(principal(c), env.ID)
	}
	if st.reply != nil {
		c.sendRaw(st.reply)
		return nil
	}
	result, err := run(ctx, s, r)
	if err != nil && st.resumed && s.resumedDone(ctx, c, env) {
		result, err = nil, nil // it had taken effect before the restart
	}
	s.reply(c, env, row, result, err, st)
	return nil
}

// reply answers a command, and remembers the answer when a repeat of its
// id is to get it again.
func (s *Server) reply(c *conn, env envelope, row command, result any, err error, st idem) {
	if err == nil && row.Silent || errors.Is(err, errReplyLater) {
		return
	}
	var b []byte
	if err != nil {
		code, msg := codeOf(err)
		if code == CodeInternal {
			c.log.Error("command failed", "type", env.Type, "err", err)
		}
		b, _ = json.Marshal(errorReply(env.ID, code, msg))
	} else {
		if result == nil {
			result = struct{}{}
		}
		b, _ = json.Marshal(ackOut{ID: env.ID, Result: result, Type: "ack"})
	}
	if row.Repeat == repeatCached || row.Repeat == repeatStored {
		b = s.settle(c.ctx, principal(c), env, st, b, err)
	}
	c.sendRaw(b)
}

// Results of commands.
type (
	seqResult struct {
		Seq int64 `json:"seq"`
	}
	sdpResult struct {
		SDP string `json:"sdp"`
	}
	convResult struct {
		Conversation store.ConversationID `json:"conversation"`
	}
)

// Commands, each with its own message type.
type (
	sendCmd struct {
		Text *string `json:"text"`
		Note *bool   `json:"note"` // agents: a private note
	}
	typingCmd struct {
		On *bool `json:"on"`
	}
	resumeCmd struct {
		After         *int64           `json:"after"` // visitors may send this instead of conversations
		Conversations map[string]int64 `json:"conversations"`
	}
	presenceCmd struct {
		Presence string `json:"presence"`
		Reason   string `json:"reason"`
	}
	interactionCmd struct { // accept, decline, park, take
		Interaction string `json:"interaction"`
	}
	transferCmd struct {
		ToAgent string `json:"toAgent"`
		ToQueue string `json:"toQueue"`
		Mode    string `json:"mode"`
		Note    string `json:"note"`
	}
	historyCmd struct {
		After *int64 `json:"after"`
	}
	operatorChatCmd struct {
		Agent string `json:"agent"`
	}
	callOfferCmd struct {
		SDP   string `json:"sdp"`
		Renew bool   `json:"renew"`
	}
	iceCmd struct {
		Candidate json.RawMessage `json:"candidate"`
	}
	callGainCmd struct {
		Gain *float64 `json:"gain"`
	}
	noFields struct{} // the command says all with its type (and conversation)
)

func cmdSend(ctx context.Context, s *Server, r *req, m *sendCmd) (any, error) {
	if m.Text == nil {
		return nil, badRequest("the field text is missing")
	}
	kind := store.MsgText
	if m.Note != nil && *m.Note {
		if r.agent == "" {
			return nil, forbidden("notes are for agents")
		}
		kind = store.MsgNote
	}
	msg, _, err := s.chat.Send(ctx, r.conv, r.who, r.id, kind, *m.Text)
	if err != nil {
		return nil, err
	}
	return seqResult{msg.Seq}, nil
}

func cmdTyping(ctx context.Context, s *Server, r *req, m *typingCmd) (any, error) {
	s.typing(ctx, r.conv, r.who, m.On != nil && *m.On)
	return nil, nil
}

func cmdEnd(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	var msg store.Message
	var err error
	if r.agent == "" {
		// The call ends first, so its end is in the log before the chat's.
		s.calls.endWith(ctx, r.conv, "visitor_ended")
		msg, err = s.coord.EndByVisitor(ctx, r.conv)
	} else {
		if role, ok, err := s.chat.RoleOf(ctx, r.conv, r.who); err == nil && ok && role == chat.RoleOwner {
			s.calls.endWith(ctx, r.conv, "agent_ended")
		}
		msg, err = s.coord.EndByAgent(ctx, r.conv, r.agent)
	}
	if err != nil {
		return nil, err
	}
	return seqResult{msg.Seq}, nil
}

func cmdResume(ctx context.Context, s *Server, r *req, m *resumeCmd) (any, error) {
	if r.agent != "" {
		return nil, s.startReplay(ctx, r.c, r.id, r.who, m.Conversations)
	}
	var after int64
	if m.After != nil {
		after = *m.After
	} else if v, ok := m.Conversations[string(r.conv)]; ok {
		after = v
	}
	return nil, s.startReplay(ctx, r.c, r.id, r.who, map[string]int64{string(r.conv): after})
}

func cmdHistory(ctx context.Context, s *Server, r *req, m *historyCmd) (any, error) {
	var after int64
	if m.After != nil {
		after = *m.After
	}
	return nil, s.startReplay(ctx, r.c, r.id, r.who, map[string]int64{string(r.conv): after})
}

// toRouting runs a routing command for the agent.
func (s *Server) toRouting(ctx context.Context, rc routing.Command) (any, error) {
	return nil, s.router.Do(ctx, rc)
}

func cmdPresence(ctx context.Context, s *Server, r *req, m *presenceCmd) (any, error) {
	return s.toRouting(ctx, routing.SetPresence{Agent: r.agent, Presence: routing.Presence(m.Presence), Reason: m.Reason})
}

func (m *interactionCmd) id() (routing.InteractionID, error) {
	if m.Interaction == "" || len(m.Interaction) > 128 {
		return "", badRequest("the field interaction is missing")
	}
	return routing.InteractionID(m.Interaction), nil
}

// onInteraction makes the handler of accept, decline, park and take.
func onInteraction(mk func(routing.AgentID, routing.InteractionID) routing.Command) func(context.Context, *Server, *req, *interactionCmd) (any, error) {
	return func(ctx context.Context, s *Server, r *req, m *interactionCmd) (any, error) {
		in, err := m.id()
		if err != nil {
			return nil, err
		}
		return s.toRouting(ctx, mk(r.agent, in))
	}
}

var (
	cmdAccept = onInteraction(func(a routing.AgentID, in routing.InteractionID) routing.Command {
		return routing.Accept{Agent: a, Interaction: in}
	})
	cmdDecline = onInteraction(func(a routing.AgentID, in routing.InteractionID) routing.Command {
		return routing.Decline{Agent: a, Interaction: in}
	})
	cmdPark = onInteraction(func(a routing.AgentID, in routing.InteractionID) routing.Command {
		return routing.Park{Agent: a, Interaction: in}
	})
	cmdTake = onInteraction(func(a routing.AgentID, in routing.InteractionID) routing.Command {
		return routing.Take{Agent: a, Interaction: in}
	})
)

func cmdHold(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return s.hold(ctx, r, true)
}

func cmdUnhold(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return s.hold(ctx, r, false)
}

func (s *Server) hold(ctx context.Context, r *req, on bool) (any, error) {
	m, err := s.chat.Hold(ctx, r.conv, r.agent, on)
	if err != nil {
		return nil, err
	}
	return seqResult{m.Seq}, nil
}

func cmdWrapUpDone(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return s.toRouting(ctx, routing.WrapUpDone{Agent: r.agent, Interaction: routing.InteractionID(r.conv)})
}

func cmdTransfer(ctx context.Context, s *Server, r *req, m *transferCmd) (any, error) {
	in := routing.InteractionID(r.conv)
	// Only the owner hands a conversation over: a stranger must not leave
	// a note in it, nor replace the note of a transfer under way.
	if err := s.mustOwn(ctx, r); err != nil {
		return nil, err
	}
	// The note goes with the colleague's offer (set before routing makes
	// it); a transfer that routing refuses leaves the note of the one
	// under way, and stores nothing.
	s.hub.mu.Lock()
	prev, had := s.hub.notes[in]
	s.hub.notes[in] = m.Note
	s.hub.mu.Unlock()
	res, err := s.toRouting(ctx, routing.Transfer{Agent: r.agent, Interaction: in, ToAgent: routing.AgentID(m.ToAgent), ToQueue: routing.QueueID(m.ToQueue), Mode: routing.TransferMode(m.Mode)})
	if err != nil {
		s.hub.mu.Lock()
		if s.hub.notes[in] == m.Note {
			if had {
				s.hub.notes[in] = prev
			} else {
				delete(s.hub.notes, in)
			}
		}
		s.hub.mu.Unlock()
		return nil, err
	}
	if m.Note != "" {
		// In the transcript too, as a private note; the transfer stands
		// even when this fails (the colleague has the note with the offer).
		if _, _, err := s.chat.Send(ctx, r.conv, r.who, noteID(r.id), store.MsgNote, m.Note); err != nil {
			s.log.Warn("the transfer note was not stored", "conversation", r.conv, "err", err)
		}
	}
	return res, nil
}

// noteID is the client id of a transfer's note: the command's id with
// ":note", or a digest of it when that would pass the 64-byte bound.
func noteID(id string) string {
	if len(id)+len(":note") <= 64 {
		return id + ":note"
	}
	sum := sha256.Sum256([]byte(id))
	return "note:" + hex.EncodeToString(sum[:16])
}

func cmdTransferComplete(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return s.toRouting(ctx, routing.CompleteTransfer{Agent: r.agent, Interaction: routing.InteractionID(r.conv)})
}

func cmdTransferCancel(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return s.toRouting(ctx, routing.CancelTransfer{Agent: r.agent, Interaction: routing.InteractionID(r.conv)})
}

func cmdOperatorChat(ctx context.Context, s *Server, r *req, m *operatorChatCmd) (any, error) {
	if m.Agent == "" {
		return nil, badRequest("the field agent is missing")
	}
	other, err := s.st.GetAgent(ctx, routing.AgentID(m.Agent))
	if err != nil || !rolesOf(other).has(roleAgent) {
		return nil, &routing.Error{Code: routing.CodeUnknownAgent, Msg: "unknown agent " + m.Agent}
	}
	id, err := s.coord.OperatorRoom(ctx, r.agent, other.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range []routing.AgentID{r.agent, other.ID} {
		s.hub.effect(routing.Assigned{Interaction: routing.InteractionID(id), Agent: a, Channel: routing.ChannelChat})
	}
	return convResult{id}, nil
}

func cmdCallOffer(ctx context.Context, s *Server, r *req, m *callOfferCmd) (any, error) {
	ans, err := s.calls.offer(ctx, r.conv, r.who, m.SDP, m.Renew)
	if err != nil {
		return nil, err
	}
	return sdpResult{ans}, nil
}

func cmdICE(ctx context.Context, s *Server, r *req, m *iceCmd) (any, error) {
	return nil, s.calls.candidate(r.conv, r.who, m.Candidate)
}

func cmdCallHangup(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return nil, s.calls.hangup(ctx, r.conv, r.who)
}

func cmdCallDecline(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	return nil, s.calls.decline(ctx, r.conv)
}

// cmdCallInvite: only the agent handling the conversation asks its
// visitor to talk, whether or not the server has voice.
func cmdCallInvite(ctx context.Context, s *Server, r *req, _ *noFields) (any, error) {
	if err := s.mustOwn(ctx, r); err != nil {
		return nil, err
	}
	return nil, s.calls.invite(ctx, r.conv, r.agent)
}

func cmdCallGain(ctx context.Context, s *Server, r *req, m *callGainCmd) (any, error) {
	if m.Gain == nil {
		return nil, badRequest("the field gain is missing")
	}
	if _, ok, err := s.chat.RoleOf(ctx, r.conv, r.who); err != nil || !ok {
		if err == nil {
			err = chat.ErrNotParticipant
		}
		return nil, err
	}
	return nil, s.calls.gain(r.conv, r.agent, *m.Gain)
}

// mustOwn refuses a command of an agent who does not own the conversation.
func (s *Server) mustOwn(ctx context.Context, r *req) error {
	role, ok, err := s.chat.RoleOf(ctx, r.conv, r.who)
	switch {
	case err != nil:
		return err
	case !ok:
		return chat.ErrNotParticipant
	case role != chat.RoleOwner:
		return chat.ErrWrongRole
	}
	return nil
}

func (s *Server) typing(ctx context.Context, id store.ConversationID, who chat.Sender, on bool) {
	_, parts, err := s.chat.Info(ctx, id)
	if err != nil {
		return
	}
	if _, ok := parts[who]; !ok {
		return
	}
	p := typingOut{Conversation: id, On: on, Sender: who, Type: "typing"}
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
