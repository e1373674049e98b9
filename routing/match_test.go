package routing

import (
	"testing"
	"time"
)

// When the interaction an agent should get waits in two of the agent's
// queues (an overflow), it is offered through the one that comes first
// among the agent's queues, even if the other queue's head comes first.
func TestAnOverflowedInteractionIsOfferedThroughTheAgentsFirstQueue(t *testing.T) {
	h := newHarness(t)
	// The agent joins "a" and then "b", in that order.
	h.must(SetAgent{Config: AgentConfig{ID: "ag", Skills: map[Skill]int{"en": 5}}})
	h.must(SetAgent{Config: AgentConfig{ID: "klingon-speaker", Skills: map[Skill]int{"en": 5, "klingon": 5}}})
	h.queue(QueueConfig{ID: "a"})
	h.queue(QueueConfig{ID: "b", Skills: []SkillReq{{Skill: "en"}}, Steps: []Step{{After: time.Minute, Fallback: "a"}}})
	// x overflows from b into a, where it is alone; y, a priority call
	// that needs a skill ag lacks, goes before x in b and has not
	// overflowed yet.
	h.must(Enqueue{Interaction: "x", Queue: "b", Channel: ChannelVoice})
	h.advance(59 * time.Second)
	h.must(Enqueue{Interaction: "y", Queue: "b", Channel: ChannelVoice, Priority: 1, Skills: []SkillReq{{Skill: "klingon"}}})
	h.advance(time.Second)
	if in := h.e.lookup("x"); len(in.lists) != 2 {
		t.Fatalf("setup: x is in %d lists, want b and a", len(in.lists))
	}
	h.clear()
	h.must(SetPresence{Agent: "ag", Presence: PresenceAvailable})
	offers := effectsOf[Offer](h.effs)
	if len(offers) != 1 || offers[0].Interaction != "x" || offers[0].Queue != "a" {
		t.Fatalf("offers %+v, want x through a", offers)
	}
}
