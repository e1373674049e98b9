package chat

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/contactd/contactd/internal/mailbox"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Router is the part of routing the coordinator drives; app.Router
// implements it (commands return once their effects are stored).
type Router interface {
	Do(ctx context.Context, cmd routing.Command) error
	Enqueue(ctx context.Context, cmd routing.Enqueue, attrs map[string]string) error
}

// Coordinator keeps conversations in step with routing: an agent routing
// assigns joins the conversation, a transfer hands it over, an interaction
// that leaves routing unhandled ends it. Routing effects arrive on the
// routing goroutine and are queued; one goroutine applies them in order
// and then passes them on to the edges, so an edge hears of an assignment
// only once the agent has joined. The chat side of all the effects queued
// meanwhile is written at once (one group commit, not one per effect), and
// each effect goes on to the edges, in order, once its writes are
// committed.
type Coordinator struct {
	chat *Service
	r    Router
	log  *slog.Logger
	// onEffect receives every routing effect after its chat side is done.
	onEffect func(routing.Effect)

	queue *mailbox.Box[routing.Effect]
}

// NewCoordinator returns a coordinator; Run must be running.
func NewCoordinator(s *Service, r Router, log *slog.Logger, onEffect func(routing.Effect)) *Coordinator {
	return &Coordinator{chat: s, r: r, log: log, onEffect: onEffect, queue: mailbox.New[routing.Effect]()}
}

// Effects queues routing effects. It never blocks: it is the routing
// loop's sink.
func (c *Coordinator) Effects(effs []routing.Effect) { c.queue.Put(effs...) }

// Run applies queued effects until ctx ends.
func (c *Coordinator) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.queue.Wake():
		}
		for batch := c.queue.Take(0); len(batch) > 0; batch = c.queue.Take(0) {
			writes := make([]*pending, len(batch))
			for i, f := range batch {
				writes[i] = c.apply(ctx, f)
			}
			for i, f := range batch {
				if p := writes[i]; p != nil {
					if err := p.wait(ctx); err != nil {
						if ctx.Err() != nil {
							return
						}
						c.log.Warn("conversation not in step with routing", "effect", fmt.Sprintf("%T", f), "err", err)
					}
				}
				if c.onEffect != nil {
					c.onEffect(f)
				}
			}
		}
	}
}

func conv(id routing.InteractionID) store.ConversationID { return store.ConversationID(id) }

// apply queues the chat side of one routing effect and returns its last
// write (nil when there is none): the writes of a conversation commit in
// the order they were queued, so once the last is committed all are.
func (c *Coordinator) apply(ctx context.Context, f routing.Effect) *pending {
	var p *pending
	var err error
	switch f := f.(type) {
	case routing.Assigned:
		role := RoleOwner
		if f.Consult {
			role = RoleConsult
		}
		if r, ok, _ := c.chat.RoleOf(ctx, conv(f.Interaction), AgentSender(f.Agent)); ok {
			if r == role || role == RoleConsult {
				return nil
			}
			p, err = c.chat.queueHandOver(ctx, conv(f.Interaction), f.From, f.Agent)
			break
		}
		p, err = c.chat.queueJoin(ctx, conv(f.Interaction), f.Agent, role)
	case routing.Unassigned:
		if f.Reason == "transferred" {
			// A warm transfer's colleague becomes the owner before the
			// first agent leaves.
			if to := c.consultOf(ctx, conv(f.Interaction)); to != "" {
				if _, err = c.chat.queueHandOver(ctx, conv(f.Interaction), f.Agent, to); err != nil {
					break
				}
			}
		}
		p, err = c.chat.queueLeave(ctx, conv(f.Interaction), f.Agent)
	case routing.Left:
		p, err = c.chat.queueEnd(ctx, conv(f.Interaction), SenderSystem, string(f.Reason))
		if errors.Is(err, ErrEnded) {
			err = nil
		}
	}
	if err != nil && !errors.Is(err, ErrUnknownConversation) {
		c.log.Warn("conversation not in step with routing", "effect", fmt.Sprintf("%T", f), "err", err)
	}
	if err != nil {
		return nil
	}
	return p
}

func (c *Coordinator) consultOf(ctx context.Context, id store.ConversationID) routing.AgentID {
	cv, err := c.chat.get(ctx, id)
	if err != nil {
		return ""
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	for who, r := range cv.parts {
		if a, ok := AgentOf(who); ok && r == RoleConsult {
			return a
		}
	}
	return ""
}

// NewID returns a fresh conversation id with the given prefix.
func NewID(prefix string) string {
	b := make([]byte, 15)
	rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// StartVisitor opens a conversation for a visitor and queues it on the
// given channel (chat, or voice for a visitor who chose to talk). If
// routing refuses it, the conversation is ended and the error returned.
// It waits absent (offered to nobody, counted ahead of nobody) until the
// visitor's page connects.
func (c *Coordinator) StartVisitor(ctx context.Context, queue routing.QueueID, channel routing.Channel, name string, attrs map[string]string) (store.Conversation, error) {
	id := store.ConversationID(NewID("c_"))
	rec, err := c.chat.Open(ctx, Spec{ID: id, Interaction: routing.InteractionID(id), Queue: queue, VisitorName: name, Attributes: attrs})
	if err != nil {
		return store.Conversation{}, err
	}
	if name != "" {
		attrs = cloneWith(attrs, "name", name)
	}
	err = c.r.Enqueue(ctx, routing.Enqueue{Interaction: routing.InteractionID(id), Queue: queue, Channel: channel, Absent: true}, attrs)
	if err != nil {
		if _, e := c.chat.End(ctx, id, SenderSystem, "not_routed"); e != nil {
			c.log.Warn("could not end an unrouted conversation", "conversation", id, "err", e)
		}
		return store.Conversation{}, err
	}
	return rec, nil
}

func cloneWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// EndByVisitor ends the conversation from the visitor's side: it leaves
// the queue if still waiting, or ends the interaction with its agent.
func (c *Coordinator) EndByVisitor(ctx context.Context, id store.ConversationID) (store.Message, error) {
	m, err := c.chat.End(ctx, id, SenderVisitor, "visitor_ended")
	if err != nil {
		return m, err
	}
	if err := c.r.Do(ctx, routing.Abandon{Interaction: routing.InteractionID(id)}); err != nil && !isGone(err) {
		return m, err
	}
	return m, nil
}

// EndByAgent ends the conversation from the agent's side; the agent's slot
// goes into wrap-up if the queue has one.
func (c *Coordinator) EndByAgent(ctx context.Context, id store.ConversationID, agent routing.AgentID) (store.Message, error) {
	role, ok, err := c.chat.RoleOf(ctx, id, AgentSender(agent))
	if err != nil {
		return store.Message{}, err
	}
	if !ok || role != RoleOwner {
		return store.Message{}, fmt.Errorf("%w: only the agent handling it ends it", ErrWrongRole)
	}
	m, err := c.chat.End(ctx, id, AgentSender(agent), "agent_ended")
	if errors.Is(err, ErrEnded) && !strings.HasPrefix(string(id), OperatorPrefix) {
		// Ended already (by the system, say): make sure routing lets the
		// agent go too, then say it had ended.
		if e := c.r.Do(ctx, routing.End{Interaction: routing.InteractionID(id)}); e != nil && !isGone(e) {
			return m, e
		}
		return m, err
	}
	if err != nil {
		return m, err
	}
	if strings.HasPrefix(string(id), OperatorPrefix) {
		return m, nil
	}
	if err := c.r.Do(ctx, routing.End{Interaction: routing.InteractionID(id)}); err != nil && !isGone(err) {
		return m, err
	}
	return m, nil
}

func isGone(err error) bool {
	return errors.Is(err, routing.ErrUnknownInteraction) || errors.Is(err, routing.ErrWrongState)
}

// OperatorPrefix starts the ids of operator-to-operator rooms.
const OperatorPrefix = "op_"

// OperatorRoom returns the room of two agents, creating it on first use.
// Rooms are conversations without a visitor and outside routing.
func (c *Coordinator) OperatorRoom(ctx context.Context, a, b routing.AgentID) (store.ConversationID, error) {
	if a == b {
		return "", fmt.Errorf("%w: a room needs two agents", ErrWrongRole)
	}
	pair := []string{string(a), string(b)}
	slices.Sort(pair)
	id := store.ConversationID(OperatorPrefix + pair[0] + "_" + pair[1])
	if _, err := c.chat.get(ctx, id); err == nil {
		return id, nil
	}
	_, err := c.chat.Open(ctx, Spec{ID: id, NoVisitor: true})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return "", err
	}
	for _, ag := range []routing.AgentID{a, b} {
		if _, err := c.chat.Join(ctx, id, ag, RoleOwner); err != nil && !errors.Is(err, ErrWrongRole) {
			return "", err
		}
	}
	return id, nil
}

// VisitorLeft handles a visitor who went away (closed the page, or never
// connected, and did not come back within the grace period): still queued,
// the conversation leaves the queue as abandoned and ends; with an agent,
// the agent is told (a "left" event) and the conversation ends for the
// agent, who goes into wrap-up.
func (c *Coordinator) VisitorLeft(ctx context.Context, id store.ConversationID) error {
	rec, _, err := c.chat.Info(ctx, id)
	if err != nil {
		return err
	}
	switch rec.Status {
	case store.ConvEnded:
		return nil
	case store.ConvQueued:
		if _, err := c.chat.End(ctx, id, SenderSystem, "visitor_left"); err != nil {
			return err
		}
		if err := c.r.Do(ctx, routing.Abandon{Interaction: routing.InteractionID(id)}); err != nil && !isGone(err) {
			return err
		}
		return nil
	}
	if _, err := c.chat.VisitorLeft(ctx, id); err != nil && !errors.Is(err, ErrNotParticipant) {
		return err
	}
	if _, err := c.chat.End(ctx, id, SenderSystem, "visitor_left"); err != nil && !errors.Is(err, ErrEnded) {
		return err
	}
	if err := c.r.Do(ctx, routing.Abandon{Interaction: routing.InteractionID(id)}); err != nil && !isGone(err) {
		return err
	}
	return nil
}
