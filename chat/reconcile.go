package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Reconcile brings the conversations in step with routing after a restart.
//
// Routing and chat commit each hand-off (accept, take, transfer, end) in
// transactions of their own: routing's interaction row through the
// recorder, the conversation's joined, handed_over, left and ended events
// through the chat committer. A crash between the two commits leaves one
// ahead of the other. The stored routing interaction is the record of who
// holds a conversation, and Reconcile completes the chat's side from it:
//
//   - routing holds it connected to an agent: that agent is made the
//     conversation's owner (joined, or handed over to from the owner it had)
//     and every other agent leaves it;
//   - routing has it waiting or parked: every agent leaves it (the
//     conversation is queued again and offered as routing decides);
//   - routing closed it, or never had it (a crash between opening the
//     conversation and queueing it): the conversation ends with routing's
//     reason, or not_routed;
//   - the conversation ended first (the visitor or the agent ended it):
//     routing follows (the waiting interaction is abandoned, the connected
//     one ended).
//
// held is every open interaction of routing (routing.Engine.Holders), open
// every open conversation (store ListOpenConversations) and stored reads
// routing's stored row of an interaction. It runs before the edges serve;
// it returns how many conversations it repaired.
func (c *Coordinator) Reconcile(ctx context.Context, held []routing.InteractionInfo, open []store.Conversation,
	stored func(context.Context, routing.InteractionID) (store.Interaction, error)) (int, error) {
	n := 0
	inRouting := make(map[store.ConversationID]bool, len(held))
	for _, h := range held {
		id := conv(h.ID)
		inRouting[id] = true
		if strings.HasPrefix(string(id), OperatorPrefix) || h.Status == routing.StatusWrapUp {
			continue
		}
		rec, parts, err := c.chat.Info(ctx, id)
		if errors.Is(err, ErrUnknownConversation) {
			continue // routed without a conversation
		}
		if err != nil {
			return n, err
		}
		if rec.Status == store.ConvEnded {
			var cmd routing.Command = routing.Abandon{Interaction: h.ID}
			if h.Status == routing.StatusConnected {
				cmd = routing.End{Interaction: h.ID}
			}
			if err := c.r.Do(ctx, cmd); err != nil && !isGone(err) {
				return n, fmt.Errorf("end interaction %s of an ended conversation: %w", h.ID, err)
			}
			c.log.Warn("restart: routing follows a conversation that had ended", "conversation", id, "routing", h.Status)
			n++
			continue
		}
		fixed, err := c.follow(ctx, id, h, parts)
		if err != nil {
			return n, fmt.Errorf("bring conversation %s in step with routing: %w", id, err)
		}
		if fixed {
			n++
		}
	}
	for _, rec := range open {
		if inRouting[rec.ID] || strings.HasPrefix(string(rec.ID), OperatorPrefix) {
			continue
		}
		reason := "not_routed"
		in, err := stored(ctx, routing.InteractionID(rec.ID))
		switch {
		case err == nil && in.EndReason != "":
			reason = string(in.EndReason)
		case err == nil:
			reason = string(routing.ReasonRestart)
		case !errors.Is(err, store.ErrNotFound):
			return n, fmt.Errorf("read interaction %s: %w", rec.ID, err)
		}
		if _, err := c.chat.End(ctx, rec.ID, SenderSystem, reason); err != nil && !errors.Is(err, ErrEnded) {
			return n, fmt.Errorf("end conversation %s that routing closed: %w", rec.ID, err)
		}
		c.log.Warn("restart: a conversation routing had closed is ended", "conversation", rec.ID, "reason", reason)
		n++
	}
	return n, nil
}

// follow makes the conversation's agents those routing holds, and says
// whether anything had to change.
func (c *Coordinator) follow(ctx context.Context, id store.ConversationID, h routing.InteractionInfo, parts map[Sender]Role) (bool, error) {
	var owner routing.AgentID
	if h.Status == routing.StatusConnected {
		owner = h.Agent
	}
	fixed := false
	if owner != "" {
		switch role, ok := parts[AgentSender(owner)]; {
		case !ok:
			if _, err := c.chat.Join(ctx, id, owner, RoleOwner); err != nil {
				return fixed, err
			}
			fixed = true
		case role == RoleConsult:
			var from routing.AgentID
			for who, r := range parts {
				if a, ok := AgentOf(who); ok && r == RoleOwner {
					from = a
				}
			}
			if from != "" {
				if _, err := c.chat.HandOver(ctx, id, from, owner); err != nil {
					return fixed, err
				}
			} else {
				if _, err := c.chat.Leave(ctx, id, owner); err != nil {
					return fixed, err
				}
				if _, err := c.chat.Join(ctx, id, owner, RoleOwner); err != nil {
					return fixed, err
				}
			}
			fixed = true
		}
	}
	for who := range parts {
		if a, ok := AgentOf(who); ok && a != owner {
			if _, err := c.chat.Leave(ctx, id, a); err != nil {
				return fixed, err
			}
			fixed = true
		}
	}
	if fixed {
		c.log.Warn("restart: conversation brought in step with routing", "conversation", id, "routing", h.Status, "agent", owner)
	}
	return fixed, nil
}
