package chat

import (
	"context"
	"maps"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Caller is a phone caller (the SIP edge) to start a voice conversation
// for.
type Caller struct {
	// ID is the conversation's id, made by the caller's edge (so that it
	// knows the conversation before routing's first word on it); empty:
	// a new one.
	ID       store.ConversationID
	Queue    routing.QueueID
	Skills   []routing.SkillReq // on top of the queue's
	Priority int
	Name     string
	// Attributes are the conversation's context (caller ID, dialled
	// number, trunk); "channel" is set to voice here.
	Attributes map[string]string
}

// StartCaller opens a voice conversation for a phone caller and queues it
// present: unlike a widget session there is no page to wait for, the
// caller is on the line. If routing refuses it, the conversation is ended
// and the error returned.
func (c *Coordinator) StartCaller(ctx context.Context, k Caller) (store.Conversation, error) {
	attrs := maps.Clone(k.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["channel"] = string(routing.ChannelVoice)
	id := k.ID
	if id == "" {
		id = store.ConversationID(NewID("c_"))
	}
	rec, err := c.chat.Open(ctx, Spec{ID: id, Interaction: routing.InteractionID(id), Queue: k.Queue, VisitorName: k.Name, Attributes: attrs})
	if err != nil {
		return store.Conversation{}, err
	}
	if k.Name != "" {
		attrs = cloneWith(attrs, "name", k.Name)
	}
	err = c.r.Enqueue(ctx, routing.Enqueue{Interaction: routing.InteractionID(id), Queue: k.Queue, Channel: routing.ChannelVoice,
		Skills: k.Skills, Priority: k.Priority}, attrs)
	if err != nil {
		if _, e := c.chat.End(ctx, id, SenderSystem, "not_routed"); e != nil {
			c.log.Warn("could not end an unrouted conversation", "conversation", id, "err", e)
		}
		return store.Conversation{}, err
	}
	return rec, nil
}
