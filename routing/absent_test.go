package routing

import (
	"fmt"
	"testing"
	"time"
)

func TestACustomerWhoIsNotThereIsOfferedToNobodyAndKeepsItsPlace(t *testing.T) {
	positions := func(h *harness) string {
		var s []string
		for _, p := range effectsOf[Position](h.effs) {
			s = append(s, fmt.Sprintf("%s@%d", p.Interaction, p.Position))
		}
		return fmt.Sprint(s)
	}
	t.Run("one not connected yet counts ahead of nobody and is offered to nobody", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.must(Enqueue{Interaction: "ghost", Queue: "q", Channel: ChannelChat, Absent: true})
		h.enqueue("real", "q", ChannelChat)
		if got := positions(h); got != "[real@1]" {
			t.Fatalf("positions %s, want the real customer first", got)
		}
		h.clear()
		h.agent("a")
		h.wantOffers("real>a")
		h.agent("b")
		h.wantOffers()
	})
	t.Run("back, it is offered from the place it had", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.must(Enqueue{Interaction: "first", Queue: "q", Channel: ChannelChat, Absent: true})
		h.enqueue("second", "q", ChannelChat)
		h.clear()
		h.must(SetAbsent{Interaction: "first"})
		if got := positions(h); got != "[first@1 second@2]" {
			t.Fatalf("positions %s, want first back in front", got)
		}
		h.agent("a")
		h.wantOffers("first>a")
	})
	t.Run("one who goes away loses the pending offer and gets it again when back", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.agent("a")
		h.enqueue("x", "q", ChannelChat)
		h.wantOffers("x>a")
		h.must(SetAbsent{Interaction: "x", Absent: true})
		if got := effectsOf[OfferEnded](h.effs); fmt.Sprint(got) != fmt.Sprint([]OfferEnded{{"x", "a", ReasonWithdrawn}}) {
			t.Fatalf("offer endings %+v, want x withdrawn from a", got)
		}
		h.wantOffers()
		h.enqueue("y", "q", ChannelChat)
		h.wantOffers("y>a") // x is not there: y comes first
		h.must(SetAbsent{Interaction: "x"})
		h.wantOffers() // a is being offered y
		h.must(Accept{Agent: "a", Interaction: "y"})
		h.wantOffers("x>a") // a has room for another chat
	})
	t.Run("back when nobody is logged in, a queue that lets them go does", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q", NoAgents: NoAgentsLeave})
		h.agent("a")
		h.must(Enqueue{Interaction: "x", Queue: "q", Channel: ChannelChat, Absent: true})
		h.must(SetPresence{Agent: "a", Presence: PresenceOffline})
		h.clear()
		h.must(SetAbsent{Interaction: "x"})
		if l := effectsOf[Left](h.effs); len(l) != 1 || l[0].Reason != ReasonNoAgents {
			t.Fatalf("left %+v, want x gone with no_agents", l)
		}
	})
	t.Run("an unknown interaction is refused and changes nothing", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.wantErr(SetAbsent{Interaction: "nope", Absent: true}, CodeUnknownInteraction)
	})
}

func TestACustomerWhoIsNotThereIsNotTheLongestWait(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q"})
	h.must(Enqueue{Interaction: "ghost", Queue: "q", Channel: ChannelChat, Absent: true})
	h.advance(5 * time.Minute)
	h.enqueue("real", "q", ChannelChat)
	h.advance(time.Minute)
	if v := h.e.QueueViews()[0]; v.Waiting != 1 || v.LongestWait != time.Minute {
		t.Fatalf("waiting %d, longest wait %s; want 1 and 1m0s (the absent one left out)", v.Waiting, v.LongestWait)
	}
	h.must(SetAbsent{Interaction: "ghost"})
	if v := h.e.QueueViews()[0]; v.Waiting != 2 || v.LongestWait != 6*time.Minute {
		t.Fatalf("back: waiting %d, longest wait %s; want 2 and 6m0s (its place and time kept)", v.Waiting, v.LongestWait)
	}
}

// After a restart no customer is connected: those listed in Absent come
// back away, offered to nobody until each is back.
func TestRestoredCustomersAreAwayUntilTheyAreBack(t *testing.T) {
	h := newHarness(t)
	queues := []QueueConfig{{ID: "q"}}
	agents := []AgentConfig{{ID: "a"}}
	h.queue(queues[0])
	h.must(SetAgent{Config: agents[0]})
	h.enqueue("first", "q", ChannelChat)
	h.enqueue("second", "q", ChannelChat)
	state := persisted(h, queues, agents)
	state.Absent = map[InteractionID]bool{"first": true, "second": true}
	state.Agents[0].Presence = PresenceAvailable

	r := &harness{t: t, e: NewEngine(EngineConfig{PositionInterval: -1}), now: h.now.Add(30 * time.Second)}
	if err := r.e.Restore(r.now, state); err != nil {
		t.Fatal(err)
	}
	r.e.Flush()
	r.effs = r.e.Drain()
	r.wantOffers()
	if v := r.e.QueueViews()[0]; v.Waiting != 0 || v.LongestWait != 0 {
		t.Fatalf("after the restart: waiting %d, longest %s; want nobody", v.Waiting, v.LongestWait)
	}
	r.must(SetAbsent{Interaction: "second"})
	r.wantOffers("second>a")
}
