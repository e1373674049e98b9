package routing

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestHoldersListOpenInteractionsWithWhoHoldsThem(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", Skills: []SkillReq{{Skill: "en"}}})
	h.agent("a", "en")
	h.enqueue("x", "q", ChannelChat)
	h.must(Accept{Agent: "a", Interaction: "x"})
	h.enqueue("y", "q", ChannelChat)
	h.must(Park{Agent: effectsOf[Offer](h.effs)[len(effectsOf[Offer](h.effs))-1].Agent, Interaction: "y"})
	h.enqueue("z", "q", ChannelVoice)
	h.enqueue("gone", "q", ChannelChat)
	h.must(Abandon{Interaction: "gone"})
	var got []string
	for _, v := range h.e.Holders() {
		got = append(got, fmt.Sprintf("%s:%s:%s:%s:%s", v.ID, v.Queue, v.Channel, v.Status, v.Agent))
	}
	slices.Sort(got)
	want := "x:q:chat:connected:a y:q:chat:parked: z:q:voice:waiting:"
	if strings.Join(got, " ") != want {
		t.Fatalf("Holders = %q, want %q", strings.Join(got, " "), want)
	}
}
