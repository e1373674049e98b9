package signaling

import (
	"context"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// What calls do when their conversation changes: every event of its log
// that concerns voice (hold, resume, join, leave, hand-over, end) makes
// the call re-plan who hears whom.

// onEvent keeps calls in step with the conversation's log.
func (cs *calls) onEvent(m store.Message) {
	switch m.Event {
	case chat.EvEnded:
		cs.conversationEnded(m.Conversation, m.Data["reason"])
	case chat.EvLeft:
		if a, ok := chat.AgentOf(chat.Sender(m.Sender)); ok {
			cs.agentLeft(m.Conversation, a)
		}
	case chat.EvJoined:
		cs.rearrange(m.Conversation, true)
	case chat.EvHandedOver:
		if a, ok := chat.AgentOf(chat.Sender(m.Sender)); ok {
			cs.handedOver(m.Conversation, a)
		}
	default:
		cs.rearrange(m.Conversation, false)
	}
}

// rearrange re-reads the conversation and re-applies the plan, telling
// every participant the call's state (force: even when it did not change,
// e.g. for an agent who just joined and must open a leg).
func (cs *calls) rearrange(conv store.ConversationID, force bool) {
	c := cs.get(conv)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	parts := cs.parts(ctx, c)
	msgs := cs.arrange(ctx, c, parts, "")
	if force && msgs == nil && !c.ended {
		for who := range parts {
			msgs = append(msgs, outMsg{who, c.msgFor(who, "")})
		}
	}
	c.mu.Unlock()
	cs.flush(conv, msgs)
}

// handedOver: the owner gave the conversation to a colleague and is about
// to leave; until then the new owner is the one the visitor hears.
func (cs *calls) handedOver(conv store.ConversationID, from routing.AgentID) {
	if c := cs.get(conv); c != nil {
		c.mu.Lock()
		c.leaving = from
		c.mu.Unlock()
	}
	cs.rearrange(conv, false)
}

// agentLeft closes the leg of an agent who no longer takes part.
func (cs *calls) agentLeft(conv store.ConversationID, a routing.AgentID) {
	c := cs.get(conv)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	who := chat.AgentSender(a)
	c.mu.Lock()
	if c.leaving == a {
		c.leaving = ""
	}
	if _, back := cs.parts(ctx, c)[who]; back {
		c.mu.Unlock() // joined again since (a transfer back): keep the leg
		cs.rearrange(conv, false)
		return
	}
	cl := c.legs[who]
	delete(c.legs, who)
	c.mu.Unlock()
	if cl != nil {
		cl.leg.Close()
	}
	cs.sendTo(conv, who, callOut{Cause: "left", Conversation: conv, State: CallEnded, Type: "call"})
	cs.rearrange(conv, false)
}

// endWith ends the conversation's call, if any, before the conversation
// itself ends.
func (cs *calls) endWith(ctx context.Context, conv store.ConversationID, cause string) {
	if c := cs.get(conv); c != nil {
		cs.end(ctx, c, cause, false)
	}
}

// EndCall ends the conversation's call, if it has one, with cause: the
// parties hear why and the log gets call_ended (cause, talk time). The
// conversation goes on; an edge whose party hung up (a phone caller's BYE)
// calls it before the party leaves, so the call's end is recorded while
// the conversation can still take it.
func (s *Server) EndCall(ctx context.Context, conv store.ConversationID, cause string) {
	s.calls.endWith(ctx, conv, cause)
}

// conversationEnded ends the call of a conversation that ended.
func (cs *calls) conversationEnded(conv store.ConversationID, reason string) {
	c := cs.get(conv)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	if reason == "" {
		reason = "ended"
	}
	cs.end(ctx, c, reason, false)
}
