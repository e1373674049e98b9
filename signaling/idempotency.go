package signaling

import (
	"context"
	"encoding/json"
	"errors"
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

// target is what a command acts on, bound to its id with its type.
func target(env envelope) string {
	if env.Conversation != "" {
		return env.Conversation
	}
	return env.Interaction
}

// idem is where a command stands against its id.
type idem struct {
	reply   []byte // send this instead of running the command
	resumed bool   // a repeatStored command started before a restart, never answered
	logged  bool   // in the CommandLog: finish it with the reply
	owns    bool   // the first run of a waitable id: call hub.finish when answered
}

// admit checks a command's id against what it was bound to: the same id
// with another type or target is conflict and never runs; a command that
// already has its answer (repeatCached, repeatStored) gets it again;
// otherwise the id is bound to this command (a repeatStored one in the
// CommandLog first) and it runs.
func (s *Server) admit(ctx context.Context, who string, env envelope, row command) idem {
	if env.ID == "" || row.Silent {
		return idem{} // typing, ice: not bound (they would crowd out the replies kept)
	}
	tgt := target(env)
	replays := row.Repeat == repeatCached || row.Repeat == repeatStored
	e, ok := s.hub.boundTo(who, env.ID, env.Type, tgt, replays)
	owns := !ok && replays
	if ok {
		if e.typ == env.Type && e.target == tgt && e.reply == nil && replays && e.done != nil {
			// The first run of this id is still under way (another desk
			// of the same account sent it again): its answer is the
			// answer, not a second run.
			if !s.hub.awaitFirst(ctx, who, env.ID, e.done) {
				b, _ := json.Marshal(errorReply(env.ID, CodeUnavailable, "the first command with this id is still running; send again with the same id"))
				return idem{reply: b}
			}
			e, _ = s.hub.boundTo(who, env.ID, env.Type, tgt, false)
		}
		switch {
		case e.typ != env.Type || e.target != tgt:
			return idem{reply: conflictReply(env)}
		case e.reply != nil && replays:
			return idem{reply: e.reply}
		}
	}
	if row.Repeat != repeatStored || s.cfg.Commands == nil {
		return idem{owns: owns}
	}
	rec, created, err := s.cfg.Commands.StartCommand(ctx, store.Command{Principal: who, ID: env.ID, Type: env.Type, Target: tgt, CreatedAt: time.Now().UTC()})
	if err != nil {
		s.log.Warn("could not record a command", "type", env.Type, "err", err)
		b, _ := json.Marshal(errorReply(env.ID, CodeUnavailable, "not stored in time; send again with the same id"))
		return idem{reply: b, owns: owns}
	}
	switch {
	case rec.Type != env.Type || rec.Target != tgt:
		return idem{reply: conflictReply(env), owns: owns}
	case rec.Reply != nil:
		s.hub.remember(who, env.ID, env.Type, tgt, rec.Reply)
		return idem{reply: rec.Reply, owns: owns}
	}
	return idem{resumed: !created, logged: true, owns: owns}
}

func conflictReply(env envelope) []byte {
	b, _ := json.Marshal(errorReply(env.ID, CodeConflict, "the id "+env.ID+" was used for another command"))
	return b
}

// settle keeps a command's reply under its id: in memory, and in the
// CommandLog for a repeatStored one, before the reply is sent. It returns
// what to send. A retryable error is not kept (the same id may be sent
// again and run), nor the error of a resumed command (the first run may
// still be finishing on another connection: not surely the first result).
//
// A reply the CommandLog could not store (after finishWrites tries) is not
// sent either: a resend after a restart would not get it back, so the
// client is told unavailable and sends the id again; that resend runs as a
// resumed command (admit), here or after a restart alike, and answers what
// is then true (an accept or take that had taken effect is success).
func (s *Server) settle(ctx context.Context, who string, env envelope, st idem, reply []byte, err error) []byte {
	if env.ID == "" || (err != nil && (retryable(err) || st.resumed)) {
		return reply
	}
	if st.logged {
		if e := s.finishCommand(ctx, who, env.ID, reply); e != nil {
			s.log.Warn("could not store a command's reply; the client is told to send it again", "type", env.Type, "err", e)
			b, _ := json.Marshal(errorReply(env.ID, CodeUnavailable, "the result was not stored; send again with the same id"))
			return b
		}
	}
	s.hub.remember(who, env.ID, env.Type, target(env), reply)
	return reply
}

// finishWrites is how many times settle tries to store a reply.
const finishWrites = 3

// finishCommand stores a command's reply in the CommandLog, trying again
// after a short pause when the store fails, within CommandTimeout.
func (s *Server) finishCommand(ctx context.Context, who, id string, reply []byte) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CommandTimeout)
	defer cancel()
	var err error
	for i := range finishWrites {
		if i > 0 {
			t := time.NewTimer(time.Duration(i) * 50 * time.Millisecond)
			select {
			case <-fctx.Done():
				t.Stop()
				return errors.Join(err, fctx.Err())
			case <-t.C:
			}
		}
		if err = s.cfg.Commands.FinishCommand(fctx, who, id, reply); err == nil {
			return nil
		}
	}
	return err
}

// resumedDone says whether a repeatStored command that a restart cut off
// (started, never answered) had taken effect: an accept or take whose
// conversation is now the agent's own. Its first result was then success.
func (s *Server) resumedDone(ctx context.Context, c *conn, env envelope) bool {
	if c.agent == "" || (env.Type != "accept" && env.Type != "take") || env.Interaction == "" {
		return false
	}
	role, ok, err := s.chat.RoleOf(ctx, store.ConversationID(env.Interaction), chat.AgentSender(routing.AgentID(c.agent)))
	return err == nil && ok && role == chat.RoleOwner
}
