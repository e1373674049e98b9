package signaling

import (
	"context"
	"encoding/json"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// CommandLog remembers commands under their ids in the store, across
// restarts (store.CommandStore).
type CommandLog interface {
	StartCommand(ctx context.Context, c store.Command) (store.Command, bool, error)
	FinishCommand(ctx context.Context, principal, id string, reply []byte) error
}

// CommandLogFor is how long an id stays bound in the CommandLog; the app
// deletes older ones.
const CommandLogFor = 24 * time.Hour

// durable commands hand a conversation between routing and chat; their ids
// and first results are kept in the CommandLog, so that one sent again
// after a restart answers as the first did.
var durable = map[string]bool{"accept": true, "take": true, "transfer": true, "transfer_complete": true, "end": true}

// target is what a command acts on, bound to its id with its type.
func target(cmd command) string {
	if cmd.Conversation != "" {
		return cmd.Conversation
	}
	return cmd.Interaction
}

// idem is where a command stands against its id.
type idem struct {
	reply   []byte // send this instead of running the command
	resumed bool   // a durable command started before a restart, never answered
	logged  bool   // in the CommandLog: finish it with the reply
}

// admit checks a command's id against what it was bound to: the same id
// with another type or target is conflict and never runs; a command that
// already has its answer gets it again; otherwise the id is bound to this
// command (a durable one in the CommandLog first) and it runs.
func (s *Server) admit(ctx context.Context, who string, cmd command, readOnly bool) idem {
	if cmd.ID == "" || cmd.Type == "typing" || cmd.Type == "ice" {
		return idem{} // fire and forget: not bound (they would crowd out the replies kept)
	}
	tgt := target(cmd)
	if e, ok := s.hub.boundTo(who, cmd.ID, cmd.Type, tgt); ok {
		switch {
		case e.typ != cmd.Type || e.target != tgt:
			return idem{reply: conflictReply(cmd)}
		case e.reply != nil && !readOnly:
			return idem{reply: e.reply}
		}
		if !durable[cmd.Type] || s.cfg.Commands == nil {
			return idem{}
		}
	}
	if !durable[cmd.Type] || s.cfg.Commands == nil {
		return idem{}
	}
	rec, created, err := s.cfg.Commands.StartCommand(ctx, store.Command{Principal: who, ID: cmd.ID, Type: cmd.Type, Target: tgt, CreatedAt: time.Now().UTC()})
	if err != nil {
		s.log.Warn("could not record a command", "type", cmd.Type, "err", err)
		b, _ := json.Marshal(errorReply(cmd.ID, "unavailable", "not stored in time; send again with the same id"))
		return idem{reply: b}
	}
	switch {
	case rec.Type != cmd.Type || rec.Target != tgt:
		return idem{reply: conflictReply(cmd)}
	case rec.Reply != nil:
		s.hub.remember(who, cmd.ID, cmd.Type, tgt, rec.Reply)
		return idem{reply: rec.Reply}
	}
	return idem{resumed: !created, logged: true}
}

func conflictReply(cmd command) []byte {
	b, _ := json.Marshal(errorReply(cmd.ID, "conflict", "the id "+cmd.ID+" was used for another command"))
	return b
}

// settle keeps a command's reply under its id: in memory, and in the
// CommandLog for a durable one, before the reply is sent. A retryable
// error is not kept (the same id may be sent again and run).
func (s *Server) settle(ctx context.Context, who string, cmd command, st idem, reply []byte, err error) {
	if cmd.ID == "" || (err != nil && (retryable(err) || st.resumed)) {
		// A resumed command's error is not its first result for sure (the
		// first run may still be finishing on another connection).
		return
	}
	s.hub.remember(who, cmd.ID, cmd.Type, target(cmd), reply)
	if st.logged {
		if e := s.cfg.Commands.FinishCommand(context.WithoutCancel(ctx), who, cmd.ID, reply); e != nil {
			s.log.Warn("could not store a command's reply", "type", cmd.Type, "err", e)
		}
	}
}

// resumedDone says whether a durable command that a restart cut off (it
// was started, never answered) had taken effect: an accept or take whose
// conversation is now the agent's own. Its first result was then success.
func (s *Server) resumedDone(ctx context.Context, c *conn, cmd command) bool {
	if c.agent == "" || (cmd.Type != "accept" && cmd.Type != "take") {
		return false
	}
	role, ok, err := s.chat.RoleOf(ctx, store.ConversationID(cmd.Interaction), chat.AgentSender(routing.AgentID(c.agent)))
	return err == nil && ok && role == chat.RoleOwner
}
