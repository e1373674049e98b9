package routing

import (
	"fmt"
	"testing"
	"time"
)

// A request a declines, parks or lets lapse: who is offered it next, and
// when. a is offered x first (idle the longest); b is the other agent of
// the queue, in the presence given before x arrives, and may change it
// afterwards.
func TestARequestTheAgentDidNotTakeGoesToTheNextAgent(t *testing.T) {
	const timeout = 30 * time.Second
	tests := []struct {
		name     string
		b        Presence // "" for no agent b at all
		answer   string   // decline, timeout, park
		wantNow  []string // offers right after the answer
		bThen    Presence // b's presence afterwards, "" to leave it
		wantThen []string
	}{
		{"a decline goes at once to the next available agent", PresenceAvailable, "decline", []string{"x>b"}, "", nil},
		{"a lapsed offer goes at once to the next available agent", PresenceAvailable, "timeout", []string{"x>b"}, "", nil},
		{"with the other agent away, a decline waits for him, not for the decliner", PresenceAway, "decline", nil, PresenceAvailable, []string{"x>b"}},
		{"with the other agent away, a lapsed offer waits for him", PresenceAway, "timeout", nil, PresenceAvailable, []string{"x>b"}},
		{"a decline with nobody else logged in comes back to the decliner", PresenceOffline, "decline", []string{"x>a"}, "", nil},
		{"a decline with no other agent at all comes back to the decliner", "", "decline", []string{"x>a"}, "", nil},
		{"when the other agent logs out instead, the decliner is asked again", PresenceAway, "decline", nil, PresenceOffline, []string{"x>a"}},
		{"when the other agent logs out after a lapse, the agent is asked again", PresenceAway, "timeout", nil, PresenceOffline, []string{"x>a"}},
		{"a parked request waits in the communication queue, offered to nobody", PresenceAvailable, "park", nil, "", nil},
		{"a parked request is not offered to an agent who becomes available", PresenceAway, "park", nil, PresenceAvailable, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.e.cfg.MaxMissedOffers = -1 // a stays available after a lapse
			h.queue(QueueConfig{ID: "q", OfferTimeout: timeout})
			h.agent("a")
			h.now = h.now.Add(time.Second)
			if tc.b != "" {
				h.agent("b")
				h.must(SetPresence{Agent: "b", Presence: tc.b})
			}
			h.clear()
			h.enqueue("x", "q", ChannelChat)
			h.wantOffers("x>a")
			wantEnded := map[string]Reason{"decline": ReasonDeclined, "timeout": ReasonExpired, "park": ReasonParked}[tc.answer]
			switch tc.answer {
			case "decline":
				h.must(Decline{Agent: "a", Interaction: "x"})
			case "park":
				h.must(Park{Agent: "a", Interaction: "x"})
			case "timeout":
				h.advance(timeout)
			}
			// The agent's desk is told the offer is over, whatever the answer.
			if got := effectsOf[OfferEnded](h.effs); fmt.Sprint(got) != fmt.Sprint([]OfferEnded{{"x", "a", wantEnded}}) {
				t.Fatalf("offer endings %+v, want one to a with reason %s", got, wantEnded)
			}
			h.wantOffers(tc.wantNow...)
			if tc.bThen != "" {
				h.must(SetPresence{Agent: "b", Presence: tc.bThen})
			}
			h.advance(time.Second) // nothing else turns up with time alone
			h.wantOffers(tc.wantThen...)
		})
	}
}
