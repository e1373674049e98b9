package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Group commits: CommitChat (the chat service's batch) and WriteRouting
// (the routing recorder's batch).

var chatBatchCases = []testCase{
	{"a chat batch creates, appends and updates in one go", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "old")
		fresh := newConversation("fresh")
		ended := newConversation("old")
		ended.Status, ended.EndedAt, ended.EndReason, ended.UpdatedAt = store.ConvEnded, base.Add(time.Hour), "agent_ended", base.Add(time.Hour)
		joined := newConversation("fresh")
		joined.Status, joined.UpdatedAt = store.ConvHeld, base.Add(2*time.Minute)
		msgs := []store.Message{newMessage("fresh", 1), newMessage("old", 1), newMessage("fresh", 2)}
		taken, err := s.CommitChat(ctx, store.ChatBatch{
			Create:   []store.Conversation{fresh},
			Messages: msgs,
			// Updates apply in order: the last one of a conversation wins.
			Update: []store.Conversation{newConversation("fresh"), ended, joined},
		})
		must(t, err)
		if len(taken) != 0 {
			t.Errorf("taken %v, want none", taken)
		}
		got, err := s.GetConversation(ctx, "fresh")
		must(t, err)
		joined.LastSeq = 2
		wantConversation(t, "the new conversation", got, joined)
		got, err = s.GetConversation(ctx, "old")
		must(t, err)
		ended.LastSeq = 1
		wantConversation(t, "the updated conversation", got, ended)
		wantMessages(t, "messages of fresh", listMessages(t, ctx, s, "fresh"), []store.Message{msgs[0], msgs[2]})
	}},

	{"a chat batch run again changes nothing and takes nothing", func(t *testing.T, ctx context.Context, s store.Store) {
		b := store.ChatBatch{
			Create:   []store.Conversation{newConversation("a"), newConversation("b")},
			Messages: []store.Message{newMessage("a", 1), newMessage("b", 1)},
			Update:   []store.Conversation{newConversation("a")},
		}
		for i := range 2 {
			taken, err := s.CommitChat(ctx, b)
			must(t, err)
			if len(taken) != 0 {
				t.Errorf("attempt %d: taken %v, want none (its own conversations)", i+1, taken)
			}
		}
		wantMessages(t, "messages of a", listMessages(t, ctx, s, "a"), []store.Message{newMessage("a", 1)})
		wantLastSeq(t, ctx, s, "b", 1)
	}},

	{"a chat batch leaves a taken id to its owner and stores the rest", func(t *testing.T, ctx context.Context, s store.Store) {
		owner := newConversation("room")
		must(t, s.CreateConversation(ctx, owner))
		other := newConversation("room")
		other.CreatedAt, other.VisitorName = base.Add(time.Second), "Someone else"
		twice := newConversation("twice")
		twiceAgain := newConversation("twice")
		twiceAgain.CreatedAt = base.Add(time.Second)
		taken, err := s.CommitChat(ctx, store.ChatBatch{
			Create:   []store.Conversation{other, newConversation("mine"), twice, twiceAgain},
			Messages: []store.Message{newMessage("mine", 1)},
		})
		must(t, err)
		wantEqual(t, "taken", taken, []store.ConversationID{"room", "twice"})
		got, err := s.GetConversation(ctx, "room")
		must(t, err)
		wantConversation(t, "the owner's conversation", got, owner)
		got, err = s.GetConversation(ctx, "twice")
		must(t, err)
		wantConversation(t, "the first of two creations in a batch", got, twice)
		wantLastSeq(t, ctx, s, "mine", 1)
	}},

	{"a chat batch with a message of an unknown conversation stores nothing", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.CommitChat(ctx, store.ChatBatch{
			Create:   []store.Conversation{newConversation("a")},
			Messages: []store.Message{newMessage("a", 1), newMessage("nobody", 1)},
		})
		wantErr(t, "CommitChat", err, store.ErrNotFound)
		if _, err := s.GetConversation(ctx, "a"); err == nil {
			t.Error("the batch's new conversation was stored")
		}
	}},

	{"a chat batch with invalid text stores nothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a")
		bad := newConversation("a")
		bad.VisitorName = "nul\x00"
		_, err := s.CommitChat(ctx, store.ChatBatch{
			Create:   []store.Conversation{newConversation("b")},
			Messages: []store.Message{newMessage("a", 1)},
			Update:   []store.Conversation{bad},
		})
		wantErr(t, "CommitChat", err, store.ErrInvalid)
		if _, err := s.GetConversation(ctx, "b"); err == nil {
			t.Error("the batch's new conversation was stored")
		}
		wantLastSeq(t, ctx, s, "a", 0)
	}},

	{"an update of an absent conversation in a chat batch is skipped", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.CommitChat(ctx, store.ChatBatch{Update: []store.Conversation{newConversation("nobody")}})
		must(t, err)
		if _, err := s.GetConversation(ctx, "nobody"); err == nil {
			t.Error("the update created the conversation")
		}
		_, err = s.CommitChat(ctx, store.ChatBatch{})
		must(t, err)
	}},
}

var routingBatchCases = []testCase{
	{"a routing batch stores events, interactions and presence at once", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		waiting := newInteraction("chat-1")
		waiting.Status, waiting.Agent, waiting.AcceptedAt = store.StatusWaiting, "", time.Time{}
		connected := newInteraction("chat-1")
		connected.Attributes, connected.CreatedAt = nil, base.Add(time.Hour) // kept as first stored
		must(t, s.WriteRouting(ctx, store.RoutingBatch{
			Events:       []routing.Event{newEvent(1, "chat-1")},
			Interactions: []store.Interaction{waiting},
			Presence: []store.AgentPresence{
				{Agent: "ada", Presence: routing.PresenceAway, Reason: "lunch", Since: base.Add(time.Minute)},
				{Agent: "nobody", Presence: routing.PresenceAvailable, Since: base},
			},
		}))
		got, err := s.GetInteraction(ctx, "chat-1")
		must(t, err)
		wantInteraction(t, "the created interaction", got, waiting)
		a, err := s.GetAgent(ctx, "ada")
		must(t, err)
		if a.Presence != routing.PresenceAway || a.AwayReason != "lunch" || !canon(a.PresenceSince).Equal(canon(base.Add(time.Minute))) {
			t.Errorf("presence of ada: %s %q %v", a.Presence, a.AwayReason, a.PresenceSince)
		}
		if _, err := s.GetAgent(ctx, "nobody"); err == nil {
			t.Error("the presence of an unknown agent created it")
		}
		// The next batch, and the same batch again: events are kept once,
		// the interaction is replaced but for CreatedAt and Attributes.
		next := store.RoutingBatch{Events: []routing.Event{newEvent(1, "chat-1"), newEvent(2, "chat-1")}, Interactions: []store.Interaction{connected}}
		must(t, s.WriteRouting(ctx, next))
		must(t, s.WriteRouting(ctx, next))
		got, err = s.GetInteraction(ctx, "chat-1")
		must(t, err)
		connected.Attributes, connected.CreatedAt = waiting.Attributes, waiting.CreatedAt
		wantInteraction(t, "the replaced interaction", got, connected)
		evs, err := s.ListEvents(ctx, "chat-1")
		must(t, err)
		wantEvents(t, "events", evs, []routing.Event{newEvent(1, "chat-1"), newEvent(2, "chat-1")})
		must(t, s.WriteRouting(ctx, store.RoutingBatch{}))
	}},
}
