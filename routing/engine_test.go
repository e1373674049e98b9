package routing

import (
	"fmt"
	"testing"
	"time"
)

func TestStrategiesPickTheRightAgent(t *testing.T) {
	// Three agents a, b, c. Before the interaction under test arrives:
	// a became available first (longest idle), b has the highest skill
	// level, c holds the fewest chats; round robin remembers whom the queue
	// offered to last.
	type setup func(h *harness)
	base := func(strategy Strategy) setup {
		return func(h *harness) {
			h.queue(QueueConfig{ID: "q", Skills: []SkillReq{{Skill: "en", MinLevel: 1}}, Strategy: strategy})
			h.agent("a", "en:3")
			h.now = h.now.Add(time.Second)
			h.agent("b", "en:9")
			h.now = h.now.Add(time.Second)
			h.agent("c", "en:5")
			h.now = h.now.Add(time.Second)
		}
	}
	tests := []struct {
		name     string
		strategy Strategy
		prepare  func(h *harness)
		want     []string
	}{
		{"longest idle offers to the agent available the longest", StrategyLongestIdle, nil, []string{"x>a"}},
		{"best skill offers to the highest level", StrategyBestSkill, nil, []string{"x>b"}},
		{"ring all offers to every eligible agent", StrategyRingAll, nil, []string{"x>a", "x>b", "x>c"}},
		{"least occupied offers to the agent with the fewest interactions", StrategyLeastOccupied, func(h *harness) {
			// a and b each take a chat; c stays empty even though it is the least idle.
			h.enqueue("p1", "q", ChannelChat)
			h.must(Accept{Agent: "a", Interaction: "p1"})
			h.enqueue("p2", "q", ChannelChat)
			h.must(Accept{Agent: "b", Interaction: "p2"})
		}, []string{"x>c"}},
		{"round robin goes on to the agent offered least recently", StrategyRoundRobin, func(h *harness) {
			h.enqueue("p1", "q", ChannelChat) // offered to a (never offered: tie by idle)
			h.must(Decline{Agent: "a", Interaction: "p1"})
			// p1 goes to b next; b declines; c gets it and accepts, then ends.
			h.must(Decline{Agent: "b", Interaction: "p1"}, Accept{Agent: "c", Interaction: "p1"}, End{Interaction: "p1"})
		}, []string{"x>a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			base(tc.strategy)(h)
			if tc.prepare != nil {
				tc.prepare(h)
			}
			h.clear()
			h.enqueue("x", "q", ChannelChat)
			h.wantOffers(tc.want...)
		})
	}
}

func TestRoundRobinRotates(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", Strategy: StrategyRoundRobin})
	h.agent("a")
	h.agent("b")
	h.agent("c")
	var got []string
	for i := range 6 {
		id := fmt.Sprint("i", i)
		h.clear()
		h.enqueue(id, "q", ChannelVoice)
		offers := effectsOf[Offer](h.effs)
		if len(offers) != 1 {
			t.Fatalf("want one offer, got %v", offers)
		}
		got = append(got, string(offers[0].Agent))
		h.must(Accept{Agent: offers[0].Agent, Interaction: InteractionID(id)}, End{Interaction: InteractionID(id)})
	}
	if fmt.Sprint(got) != "[a b c a b c]" {
		t.Fatalf("round robin order %v", got)
	}
}

func TestPriorityThenWaitingTimeDecideWhoIsServedFirst(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q"})
	h.must(
		Enqueue{Interaction: "old-low", Queue: "q", Channel: ChannelVoice},
		Enqueue{Interaction: "new-low", Queue: "q", Channel: ChannelVoice},
		Enqueue{Interaction: "high", Queue: "q", Channel: ChannelVoice, Priority: 5},
	)
	h.clear()
	h.agent("a")
	h.wantOffers("high>a")
	h.must(Accept{Agent: "a", Interaction: "high"}, End{Interaction: "high"})
	h.wantOffers("old-low>a")
	h.must(Accept{Agent: "a", Interaction: "old-low"}, End{Interaction: "old-low"})
	h.wantOffers("new-low>a")
}

func TestSkillLevelsDecideEligibility(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", Skills: []SkillReq{{Skill: "de", MinLevel: 6}}})
	h.agent("weak", "de:5")
	h.agent("none", "en:9")
	h.clear()
	h.enqueue("x", "q", ChannelChat)
	h.wantOffers()
	h.agent("strong", "de:6")
	h.wantOffers("x>strong")

	// An interaction's own skills add to the queue's.
	h.agent("billing", "de:8", "billing:2")
	h.clear()
	h.must(Enqueue{Interaction: "y", Queue: "q", Channel: ChannelVoice, Skills: []SkillReq{{Skill: "billing", MinLevel: 1}}})
	h.wantOffers("y>billing")
}

func TestCapacityIsNeverExceededAndVoiceCanBlockChats(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q"})
	h.agent("a")
	for i := range 6 {
		id := InteractionID(fmt.Sprint("c", i))
		h.must(Enqueue{Interaction: id, Queue: "q", Channel: ChannelChat})
		if o := effectsOf[Offer](h.effs); len(o) == 1 {
			h.must(Accept{Agent: "a", Interaction: id})
		}
		h.clear()
	}
	if n := len(h.e.agents["a"].holds); n != DefaultChatCapacity {
		t.Fatalf("agent holds %d chats, want %d", n, DefaultChatCapacity)
	}
	// Voice has its own slot.
	h.enqueue("v1", "q", ChannelVoice)
	h.wantOffers("v1>a")
	h.must(Accept{Agent: "a", Interaction: "v1"})
	if s := h.e.AgentViews()[0].State; s != StateBusy {
		t.Fatalf("agent with all slots used is %s, want busy", s)
	}

	t.Run("a call blocks new chats when configured", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.must(SetAgent{Config: AgentConfig{ID: "a", VoiceBlocksChat: true}}, SetPresence{Agent: "a", Presence: PresenceAvailable})
		h.enqueue("v", "q", ChannelVoice)
		h.must(Accept{Agent: "a", Interaction: "v"})
		h.clear()
		h.enqueue("c", "q", ChannelChat)
		h.wantOffers()
		h.must(End{Interaction: "v"})
		h.wantOffers("c>a")
	})
}

func TestOfferTimeoutMovesOnAndSetsAwayAfterMissedOffers(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", OfferTimeout: 30 * time.Second})
	h.agent("a")
	h.now = h.now.Add(time.Second)
	h.agent("b")
	h.clear()
	h.enqueue("x", "q", ChannelVoice)
	h.wantOffers("x>a")
	h.advance(29 * time.Second)
	h.wantOffers()
	h.advance(time.Second)
	if ev := h.events(EvOfferTimeout); len(ev) != 1 || ev[0].Agent != "a" {
		t.Fatalf("want an offer_timeout for a, got %+v", ev)
	}
	h.wantOffers("x>b")
	// An accept after the timeout gets a clear error.
	h.wantErr(Accept{Agent: "a", Interaction: "x"}, CodeOfferExpired)

	// b misses too; then a misses a second offer in a row and goes away.
	h.advance(30 * time.Second)
	h.wantOffers("x>a") // nobody else: a is asked again
	h.advance(30 * time.Second)
	a := h.e.agents["a"]
	if a.presence != PresenceAway || a.reason != string(ReasonMissed) {
		t.Fatalf("a is %s (%q), want away with reason %q", a.presence, a.reason, ReasonMissed)
	}
	if len(h.events(EvAgentState)) == 0 {
		t.Fatal("no agent_state event for the automatic away")
	}
}

func TestDeclinedInteractionGoesToSomebodyElseAndBackOnlyIfNobodyElseCan(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q"})
	h.agent("a")
	h.now = h.now.Add(time.Second)
	h.agent("b")
	h.clear()
	h.enqueue("x", "q", ChannelVoice)
	h.wantOffers("x>a")
	h.must(Decline{Agent: "a", Interaction: "x"})
	h.wantOffers("x>b")
	h.must(Decline{Agent: "b", Interaction: "x"})
	// Both declined: nobody else can take it, so it is offered again.
	h.wantOffers("x>a")

	t.Run("while another eligible agent is busy the decliner is not asked again", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.agent("a")
		h.agent("b")
		h.enqueue("busy", "q", ChannelVoice)
		offered := effectsOf[Offer](h.effs)[0].Agent
		h.must(Accept{Agent: offered, Interaction: "busy"})
		other := AgentID("a")
		if offered == "a" {
			other = "b"
		}
		h.clear()
		h.enqueue("x", "q", ChannelVoice)
		h.wantOffers("x>" + string(other))
		h.must(Decline{Agent: other, Interaction: "x"})
		h.wantOffers()
		h.must(End{Interaction: "busy"})
		h.wantOffers("x>" + string(offered))
	})
}

func TestParkedInteractionsWaitForSomebodyToTakeThem(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", Skills: []SkillReq{{Skill: "en"}}})
	h.agent("a", "en")
	h.agent("b", "en")
	h.agent("nobody", "fr")
	h.clear()
	h.enqueue("x", "q", ChannelChat)
	first := effectsOf[Offer](h.effs)[0].Agent
	h.must(Park{Agent: first, Interaction: "x"})
	if ev := h.events(EvParked); len(ev) != 1 {
		t.Fatalf("want a parked event, got %+v", ev)
	}
	h.clear()
	h.advance(10 * time.Minute)
	h.wantOffers() // no further offers
	if v := h.e.QueueViews()[0]; v.Parked != 1 || v.Counters.Waiting != 1 {
		t.Fatalf("queue view %+v: want 1 parked, still counted as waiting", v)
	}
	h.wantErr(Take{Agent: "nobody", Interaction: "x"}, CodeNotEligible)
	h.wantErr(Accept{Agent: "b", Interaction: "x"}, CodeNotOffered)
	h.must(Take{Agent: "b", Interaction: "x"})
	if a := effectsOf[Assigned](h.effs); len(a) != 1 || a[0].Agent != "b" {
		t.Fatalf("want x assigned to b, got %+v", a)
	}
	h.wantErr(Take{Agent: "a", Interaction: "x"}, CodeWrongState)
	if c := h.e.Stats().Queues["q"]; c.Answered != 1 || c.Waiting != 0 {
		t.Fatalf("counters %+v", c)
	}
}

func TestStepsRelaxSkillsAndAddAFallbackQueue(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "overflow", Skills: []SkillReq{{Skill: "fr"}}})
	h.queue(QueueConfig{ID: "q", Skills: []SkillReq{{Skill: "de", MinLevel: 8}}, Steps: []Step{
		{After: 30 * time.Second, Skills: []SkillReq{{Skill: "de", MinLevel: 3}}},
		{After: 60 * time.Second, Fallback: "overflow"},
	}})
	h.agent("junior", "de:4")
	h.agent("french", "fr:7")
	h.clear()
	h.enqueue("x", "q", ChannelVoice)
	h.wantOffers()
	h.must(SetPresence{Agent: "junior", Presence: PresenceAway, Reason: "lunch"})
	h.advance(30 * time.Second)
	if len(h.events(EvRelaxed)) != 1 {
		t.Fatal("no relaxed event after the first step")
	}
	h.wantOffers() // junior qualifies now but is away
	h.advance(30 * time.Second)
	if ev := h.events(EvOverflowed); len(ev) != 1 || ev[0].Target != "overflow" {
		t.Fatalf("want an overflowed event to overflow, got %+v", ev)
	}
	h.wantOffers("x>french")
	h.must(Accept{Agent: "french", Interaction: "x"})
	if c := h.e.Stats().Queues["q"]; c.Answered != 1 {
		t.Fatalf("answered through the fallback should count for the home queue: %+v", c)
	}
}

func TestMaxWaitAndNoAgentsPolicies(t *testing.T) {
	t.Run("an interaction leaves with timeout after the maximum wait", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q", MaxWait: 5 * time.Minute})
		h.enqueue("x", "q", ChannelChat)
		h.advance(5*time.Minute - time.Nanosecond)
		if len(effectsOf[Left](h.effs)) != 0 {
			t.Fatal("left before the maximum wait")
		}
		h.advance(time.Nanosecond)
		if l := effectsOf[Left](h.effs); len(l) != 1 || l[0].Reason != ReasonTimeout {
			t.Fatalf("want left with timeout, got %+v", l)
		}
		h.wantErr(End{Interaction: "x"}, CodeUnknownInteraction)
	})
	t.Run("with policy leave nobody logged in means leaving at once", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q", NoAgents: NoAgentsLeave})
		h.enqueue("x", "q", ChannelChat)
		if l := effectsOf[Left](h.effs); len(l) != 1 || l[0].Reason != ReasonNoAgents {
			t.Fatalf("want left with no_agents, got %+v", l)
		}
	})
	t.Run("with policy leave the last logout lets waiting interactions go", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q", NoAgents: NoAgentsLeave, Skills: []SkillReq{{Skill: "x"}}})
		h.agent("a", "x")
		h.must(SetAgent{Config: AgentConfig{ID: "a", Skills: map[Skill]int{"x": 1}, Capacity: map[Channel]int{ChannelChat: 0}}})
		h.enqueue("w", "q", ChannelChat) // nobody has chat capacity: it waits
		h.must(SetPresence{Agent: "a", Presence: PresenceAway, Reason: "break"})
		if len(effectsOf[Left](h.effs)) != 0 {
			t.Fatal("an away agent is still logged in")
		}
		h.must(SetPresence{Agent: "a", Presence: PresenceOffline})
		if l := effectsOf[Left](h.effs); len(l) != 1 || l[0].Reason != ReasonNoAgents {
			t.Fatalf("want left with no_agents, got %+v", l)
		}
	})
	t.Run("with policy wait it waits for somebody to log in", func(t *testing.T) {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q"})
		h.enqueue("x", "q", ChannelChat)
		h.advance(time.Hour)
		h.agent("a")
		h.wantOffers("x>a")
	})
}

func TestAbandonEndAndWrapUp(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", WrapUp: 30 * time.Second})
	h.agent("a")
	h.enqueue("x", "q", ChannelVoice)
	h.must(Accept{Agent: "a", Interaction: "x"})
	h.enqueue("y", "q", ChannelVoice)
	h.must(End{Interaction: "x"})
	if s := h.e.AgentViews()[0].State; s != StateWrapUp {
		t.Fatalf("after the end a is %s, want wrap_up", s)
	}
	h.clear()
	h.advance(29 * time.Second)
	h.wantOffers() // the voice slot is in wrap-up
	h.advance(time.Second)
	if len(h.events(EvWrapUpDone)) != 1 {
		t.Fatal("wrap-up did not end after its limit")
	}
	h.wantOffers("y>a")
	h.must(Accept{Agent: "a", Interaction: "y"}, End{Interaction: "y"})
	h.must(WrapUpDone{Agent: "a", Interaction: "y"})
	if s := h.e.AgentViews()[0].State; s != StateAvailable {
		t.Fatalf("after wrap-up done a is %s", s)
	}
	h.wantErr(WrapUpDone{Agent: "a", Interaction: "y"}, CodeUnknownInteraction)

	h.enqueue("z", "q", ChannelVoice)
	h.must(Abandon{Interaction: "z"})
	c := h.e.Stats().Queues["q"]
	if c.Abandoned != 1 || c.Handled != 2 || c.Answered != 2 || c.Waiting != 0 {
		t.Fatalf("counters %+v", c)
	}
	if ow := effectsOf[OfferEnded](h.effs); len(ow) != 1 || ow[0].Reason != ReasonWithdrawn {
		t.Fatalf("abandon should withdraw the offer, got %+v", ow)
	}
}

func TestStatisticsAnswerSpeedServiceLevelAndHandleTime(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", ServiceLevel: 20 * time.Second})
	h.enqueue("fast", "q", ChannelVoice)
	h.enqueue("slow", "q", ChannelVoice)
	h.enqueue("gone", "q", ChannelVoice)
	h.advance(10 * time.Second)
	h.agent("a")
	h.must(Accept{Agent: "a", Interaction: "fast"})
	h.advance(60 * time.Second)
	h.must(End{Interaction: "fast"}) // handle 60 s; slow is offered at t=70
	h.must(Accept{Agent: "a", Interaction: "slow"})
	h.advance(120 * time.Second)
	h.must(End{Interaction: "slow"}, Abandon{Interaction: "gone"})
	c := h.e.Stats().Queues["q"]
	if c.Answered != 2 || c.AnsweredInSL != 1 || c.Abandoned != 1 {
		t.Fatalf("counters %+v", c)
	}
	if got := c.AverageSpeedOfAnswer(); got != 40*time.Second {
		t.Fatalf("ASA %v, want 40s", got)
	}
	if got := c.AverageHandleTime(); got != 90*time.Second {
		t.Fatalf("AHT %v, want 90s", got)
	}
	if got := c.ServiceLevel(); got != 1.0/3 {
		t.Fatalf("service level %v, want 1/3", got)
	}
	if n := h.e.Stats().Agents["a"].Handled; n != 2 {
		t.Fatalf("a handled %d", n)
	}
}

func TestPositionsAndEstimatedWaitArePushedWhenTheyChange(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", DefaultHandleTime: 2 * time.Minute})
	h.must(SetAgent{Config: AgentConfig{ID: "a", Capacity: map[Channel]int{ChannelVoice: 1}}}, SetPresence{Agent: "a", Presence: PresenceAvailable})
	h.enqueue("busy", "q", ChannelVoice)
	h.must(Accept{Agent: "a", Interaction: "busy"})
	h.clear()
	for _, id := range []string{"x", "y", "z"} {
		h.enqueue(id, "q", ChannelVoice)
	}
	pos := map[InteractionID]Position{}
	for _, p := range effectsOf[Position](h.effs) {
		pos[p.Interaction] = p
	}
	for i, id := range []InteractionID{"x", "y", "z"} {
		want := Position{Interaction: id, Queue: "q", Position: i + 1, EstimatedWait: time.Duration(i+1) * 2 * time.Minute}
		if pos[id] != want {
			t.Fatalf("position of %s: %+v, want %+v", id, pos[id], want)
		}
	}
	h.now = h.now.Add(2 * time.Minute) // handle time equal to the default: estimates stay
	h.clear()
	h.must(End{Interaction: "busy"}, Accept{Agent: "a", Interaction: "x"})
	got := effectsOf[Position](h.effs)
	if len(got) != 2 || got[0] != (Position{"y", "q", 1, 2 * time.Minute}) || got[1] != (Position{"z", "q", 2, 4 * time.Minute}) {
		t.Fatalf("after x was answered: %+v", got)
	}
	h.clear()
	h.must(SetPresence{Agent: "a", Presence: PresenceOffline})
	for _, p := range effectsOf[Position](h.effs) {
		if p.EstimatedWait != -1 {
			t.Fatalf("with nobody available the estimate should be unknown: %+v", p)
		}
	}
}

func TestTransferToAnAgent(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q", OfferTimeout: 20 * time.Second})
		h.agent("a")
		h.enqueue("x", "q", ChannelVoice)
		h.must(Accept{Agent: "a", Interaction: "x"})
		h.agent("b")
		h.clear()
		return h
	}
	t.Run("blind: the target accepts and the first agent is released", func(t *testing.T) {
		h := setup(t)
		h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b"})
		h.wantOffers("x>b")
		h.must(Accept{Agent: "b", Interaction: "x"})
		if u := effectsOf[Unassigned](h.effs); len(u) != 1 || u[0].Agent != "a" {
			t.Fatalf("want a unassigned, got %+v", u)
		}
		if as := effectsOf[Assigned](h.effs); len(as) != 1 || as[0].Agent != "b" || as[0].From != "a" {
			t.Fatalf("want b assigned from a, got %+v", as)
		}
		if h.e.lookup("x").owner.cfg.ID != "b" || len(h.e.agents["a"].holds) != 0 {
			t.Fatal("x did not move to b")
		}
	})
	t.Run("a declined transfer stays with the first agent", func(t *testing.T) {
		h := setup(t)
		h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b"}, Decline{Agent: "b", Interaction: "x"})
		if len(h.events(EvTransferFailed)) != 1 || h.e.lookup("x").owner.cfg.ID != "a" {
			t.Fatal("declined transfer did not stay with a")
		}
	})
	t.Run("an unanswered transfer stays with the first agent", func(t *testing.T) {
		h := setup(t)
		h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b"})
		h.advance(20 * time.Second)
		if len(h.events(EvTransferFailed)) != 1 || h.e.lookup("x").owner.cfg.ID != "a" || h.e.lookup("x").xfer != nil {
			t.Fatal("timed-out transfer did not stay with a")
		}
	})
	t.Run("warm: consult, then complete", func(t *testing.T) {
		h := setup(t)
		h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b", Mode: TransferWarm})
		h.wantOffers("x>b")
		h.must(Accept{Agent: "b", Interaction: "x"})
		if as := effectsOf[Assigned](h.effs); len(as) != 1 || !as[0].Consult {
			t.Fatalf("want a consult assignment, got %+v", as)
		}
		in := h.e.lookup("x")
		if in.owner.cfg.ID != "a" || in.consult.cfg.ID != "b" {
			t.Fatal("during the consult a keeps x and b joins")
		}
		h.wantErr(CompleteTransfer{Agent: "b", Interaction: "x"}, CodeWrongState)
		h.must(CompleteTransfer{Agent: "a", Interaction: "x"})
		if in.owner.cfg.ID != "b" || in.consult != nil || len(h.e.agents["a"].holds) != 0 {
			t.Fatal("complete did not hand over to b")
		}
		if ev := h.events(EvTransferred); len(ev) != 1 || ev[0].Mode != "warm" {
			t.Fatalf("transferred event %+v", ev)
		}
	})
	t.Run("warm: consult, then cancel", func(t *testing.T) {
		h := setup(t)
		h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b", Mode: TransferWarm}, Accept{Agent: "b", Interaction: "x"})
		h.must(CancelTransfer{Agent: "a", Interaction: "x"})
		in := h.e.lookup("x")
		if in.owner.cfg.ID != "a" || in.consult != nil || len(h.e.agents["b"].holds) != 0 {
			t.Fatal("cancel did not leave x with a alone")
		}
	})
	t.Run("bad transfers change nothing", func(t *testing.T) {
		h := setup(t)
		h.agent("c")
		h.must(SetPresence{Agent: "c", Presence: PresenceOffline})
		h.wantErr(Transfer{Agent: "a", Interaction: "x", ToAgent: "c"}, CodeAgentUnavailable)
		h.wantErr(Transfer{Agent: "a", Interaction: "x", ToAgent: "ghost"}, CodeUnknownAgent)
		h.wantErr(Transfer{Agent: "a", Interaction: "x", ToQueue: "ghost"}, CodeUnknownQueue)
		h.wantErr(Transfer{Agent: "b", Interaction: "x", ToAgent: "a"}, CodeNotAssigned)
		h.wantErr(Transfer{Agent: "a", Interaction: "x", ToAgent: "a"}, CodeInvalid)
		h.wantErr(Transfer{Agent: "a", Interaction: "x"}, CodeInvalid)
		h.wantErr(CompleteTransfer{Agent: "a", Interaction: "x"}, CodeWrongState)
		h.wantErr(CancelTransfer{Agent: "a", Interaction: "x"}, CodeWrongState)
		h.enqueue("y", "q", ChannelVoice)
		h.must(Accept{Agent: "b", Interaction: "y"})
		h.wantErr(Transfer{Agent: "a", Interaction: "x", ToAgent: "b"}, CodeNoCapacity)
	})
}

func TestTransferToAQueue(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "sales"})
		h.queue(QueueConfig{ID: "support", Skills: []SkillReq{{Skill: "tech"}}})
		h.agent("a")
		h.enqueue("x", "sales", ChannelVoice)
		h.must(Accept{Agent: "a", Interaction: "x"})
		h.clear()
		return h
	}
	t.Run("blind: it waits again with its priority raised", func(t *testing.T) {
		h := setup(t)
		h.must(
			Enqueue{Interaction: "early", Queue: "support", Channel: ChannelVoice, Priority: 2},
			Transfer{Agent: "a", Interaction: "x", ToQueue: "support", Priority: 3},
		)
		if u := effectsOf[Unassigned](h.effs); len(u) != 1 || u[0].Agent != "a" {
			t.Fatalf("a should be released at once: %+v", u)
		}
		h.clear()
		h.agent("t", "tech")
		h.wantOffers("x>t") // priority 3 goes before the earlier priority-2 one
		if c := h.e.Stats().Queues["sales"]; c.Transferred != 1 {
			t.Fatalf("sales counters %+v", c)
		}
	})
	t.Run("warm: the first agent keeps it until the colleague accepts", func(t *testing.T) {
		h := setup(t)
		h.agent("t", "tech")
		h.clear()
		h.must(Transfer{Agent: "a", Interaction: "x", ToQueue: "support", Mode: TransferWarm})
		h.wantOffers("x>t")
		if h.e.lookup("x").owner.cfg.ID != "a" {
			t.Fatal("a should keep x while the transfer is offered")
		}
		h.must(Accept{Agent: "t", Interaction: "x"}, CompleteTransfer{Agent: "a", Interaction: "x"})
		in := h.e.lookup("x")
		if in.owner.cfg.ID != "t" || in.home.cfg.ID != "support" || len(in.lists) != 0 {
			t.Fatalf("after complete: owner %s home %s lists %d", in.owner.cfg.ID, in.home.cfg.ID, len(in.lists))
		}
	})
}

func TestRingAllFirstAcceptWinsAndOthersAreWithdrawn(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", Strategy: StrategyRingAll})
	h.agent("a")
	h.agent("b")
	h.agent("c")
	h.clear()
	h.enqueue("x", "q", ChannelVoice)
	if n := len(h.offers()); n != 3 {
		t.Fatalf("want 3 offers, got %d", n)
	}
	h.clear()
	h.must(Accept{Agent: "b", Interaction: "x"})
	ended := effectsOf[OfferEnded](h.effs)
	if len(ended) != 2 || ended[0].Reason != ReasonTaken || ended[1].Reason != ReasonTaken {
		t.Fatalf("want two offers withdrawn as taken, got %+v", ended)
	}
	h.wantErr(Accept{Agent: "a", Interaction: "x"}, CodeAlreadyAccepted)
	h.wantErr(Accept{Agent: "b", Interaction: "x"}, CodeAlreadyAccepted)
}

func TestBadInputReturnsTypedErrorsAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q", Skills: []SkillReq{{Skill: "en"}}})
	h.agent("a", "en")
	h.agent("b", "en")
	h.enqueue("x", "q", ChannelChat)
	offered := effectsOf[Offer](h.effs)[0].Agent
	other := AgentID("a")
	if offered == "a" {
		other = "b"
	}
	tests := []struct {
		name string
		cmd  Command
		code Code
	}{
		{"enqueue into an unknown queue", Enqueue{Interaction: "y", Queue: "nope", Channel: ChannelChat}, CodeUnknownQueue},
		{"enqueue with an unknown skill", Enqueue{Interaction: "y", Queue: "q", Channel: ChannelChat, Skills: []SkillReq{{Skill: "klingon"}}}, CodeUnknownSkill},
		{"enqueue twice", Enqueue{Interaction: "x", Queue: "q", Channel: ChannelChat}, CodeDuplicate},
		{"enqueue with no id", Enqueue{Queue: "q", Channel: ChannelChat}, CodeInvalid},
		{"enqueue with no channel", Enqueue{Interaction: "y", Queue: "q"}, CodeInvalid},
		{"enqueue with an absurd priority", Enqueue{Interaction: "y", Queue: "q", Channel: ChannelChat, Priority: 1 << 30}, CodeInvalid},
		{"enqueue for an unknown preferred agent", Enqueue{Interaction: "y", Queue: "q", Channel: ChannelChat, PreferredAgent: "ghost"}, CodeUnknownAgent},
		{"accept by an unknown agent", Accept{Agent: "ghost", Interaction: "x"}, CodeUnknownAgent},
		{"accept of an unknown interaction", Accept{Agent: offered, Interaction: "ghost"}, CodeUnknownInteraction},
		{"accept by an agent who was not offered it", Accept{Agent: other, Interaction: "x"}, CodeNotOffered},
		{"decline by an agent who was not offered it", Decline{Agent: other, Interaction: "x"}, CodeNotOffered},
		{"park by an agent who was not offered it", Park{Agent: other, Interaction: "x"}, CodeNotOffered},
		{"take of an interaction that is not parked", Take{Agent: other, Interaction: "x"}, CodeWrongState},
		{"presence that does not exist", SetPresence{Agent: "a", Presence: "dancing"}, CodeInvalid},
		{"presence of an unknown agent", SetPresence{Agent: "ghost", Presence: PresenceAway}, CodeUnknownAgent},
		{"wrap-up done for an interaction not in wrap-up", WrapUpDone{Agent: offered, Interaction: "x"}, CodeNotAssigned},
		{"end of an unknown interaction", End{Interaction: "ghost"}, CodeUnknownInteraction},
		{"a queue with a bad strategy", SetQueue{Config: QueueConfig{ID: "z", Strategy: "random"}}, CodeInvalid},
		{"an agent with a skill level of 11", SetAgent{Config: AgentConfig{ID: "z", Skills: map[Skill]int{"en": 11}}}, CodeInvalid},
		{"removing a queue with interactions", RemoveQueue{Queue: "q"}, CodeWrongState},
		{"removing an unknown queue", RemoveQueue{Queue: "nope"}, CodeUnknownQueue},
		{"removing an agent holding an offer", RemoveAgent{Agent: offered}, CodeWrongState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.wantErr(tc.cmd, tc.code)
		})
	}
	h.t = t
	h.must(Accept{Agent: offered, Interaction: "x"})
	h.wantErr(Accept{Agent: offered, Interaction: "x"}, CodeAlreadyAccepted)
	h.wantErr(Transfer{Agent: other, Interaction: "x", ToAgent: offered}, CodeNotAssigned)
}

func TestPositionPushesAreCoalescedPerQueue(t *testing.T) {
	h := newHarness(t)
	h.e.cfg.PositionInterval = time.Second
	h.queue(QueueConfig{ID: "q"})
	h.must(SetAgent{Config: AgentConfig{ID: "a", Capacity: map[Channel]int{ChannelVoice: 1}}}, SetPresence{Agent: "a", Presence: PresenceAvailable})
	h.enqueue("busy", "q", ChannelVoice)
	h.must(Accept{Agent: "a", Interaction: "busy"})
	h.enqueue("x", "q", ChannelVoice)
	h.clear()
	h.enqueue("y", "q", ChannelVoice) // a newcomer is told its place at once
	if p := effectsOf[Position](h.effs); len(p) != 1 || p[0].Interaction != "y" || p[0].Position != 2 {
		t.Fatalf("first position %+v", p)
	}
	h.clear()
	h.must(Abandon{Interaction: "x"}) // y moves up, pushed within the interval
	if p := effectsOf[Position](h.effs); len(p) != 0 {
		t.Fatalf("pushed before the interval: %+v", p)
	}
	h.advance(time.Second)
	if p := effectsOf[Position](h.effs); len(p) != 1 || p[0].Interaction != "y" || p[0].Position != 1 {
		t.Fatalf("after the interval %+v", p)
	}
}

func TestAnAgentWithRoomIsOfferedTheNextChatAfterAccepting(t *testing.T) {
	h := newHarness(t)
	h.queue(QueueConfig{ID: "q"})
	h.agent("a") // default capacity: 4 chats
	for i := range 6 {
		h.enqueue(fmt.Sprint("c", i), "q", ChannelChat)
	}
	for i := range 4 {
		id := InteractionID(fmt.Sprint("c", i))
		h.wantOffers(string(id) + ">a")
		h.must(Accept{Agent: "a", Interaction: id})
	}
	h.wantOffers() // all four chat slots are in use
	h.must(End{Interaction: "c0"})
	h.wantOffers("c4>a")
	// Taking a parked one also leaves room for the next offer.
	h.must(Park{Agent: "a", Interaction: "c4"})
	h.wantOffers("c5>a")
	h.must(Accept{Agent: "a", Interaction: "c5"}, End{Interaction: "c1"})
	h.wantOffers() // the only one left is parked: no offer
	h.must(Take{Agent: "a", Interaction: "c4"})
	h.wantOffers()
}
