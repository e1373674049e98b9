package chat

import (
	"context"
	"errors"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Call events: a voice call inside a conversation leaves these in its log,
// next to the text, so the transcript tells when voice started, connected
// and ended (with its cause and duration).
const (
	EvCallInvited   = "call_invited"   // the agent asked the visitor to talk
	EvCallDeclined  = "call_declined"  // the visitor said no
	EvCallStarted   = "call_started"   // the visitor's voice leg is up
	EvCallConnected = "call_connected" // visitor and agent hear each other
	EvCallEnded     = "call_ended"     // data: cause, seconds (talk time)
)

// CallEvent records a call event by who (a participant, or the system).
func (s *Service) CallEvent(ctx context.Context, id store.ConversationID, who Sender, ev string, data map[string]string) (store.Message, error) {
	return s.event(ctx, id, who, ev, data,
		func(c *conversation) error {
			if who == SenderSystem {
				return nil
			}
			if _, ok := c.parts[who]; !ok {
				return ErrNotParticipant
			}
			return nil
		},
		func(*conversation) {})
}

// Held reports whether the conversation is on hold.
func (s *Service) Held(ctx context.Context, id store.ConversationID) (bool, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held, nil
}

// EndBySystem ends a conversation that nobody ended by hand (a voice-only
// call whose media stopped): the conversation ends with reason, and its
// interaction ends in routing, which frees the agent.
func (c *Coordinator) EndBySystem(ctx context.Context, id store.ConversationID, reason string) error {
	// Routing ends the interaction even when the chat's end is not yet
	// stored (the committer goes on until it is): otherwise the agent's
	// slot would stay taken by a conversation that has ended.
	_, chatErr := c.chat.End(ctx, id, SenderSystem, reason)
	if errors.Is(chatErr, ErrEnded) {
		chatErr = nil
	}
	if err := c.r.Do(ctx, routing.End{Interaction: routing.InteractionID(id)}); err != nil && !isGone(err) {
		// Still waiting in a queue: it leaves it.
		if err := c.r.Do(ctx, routing.Abandon{Interaction: routing.InteractionID(id)}); err != nil && !isGone(err) {
			return err
		}
	}
	return chatErr
}
