package routing

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// persisted is what a store would hold after a run: the last info of every
// interaction, the presence of every agent, and the event log.
func persisted(h *harness, queues []QueueConfig, agents []AgentConfig) RestoreState {
	last := map[InteractionID]InteractionInfo{}
	var order []InteractionID
	presence := map[AgentID]Event{}
	var evs []Event
	for _, f := range h.all {
		switch f := f.(type) {
		case *InteractionInfo:
			if _, ok := last[f.ID]; !ok {
				order = append(order, f.ID)
			}
			last[f.ID] = *f
		case *Event:
			evs = append(evs, *f)
			if f.Type == EvAgentState {
				presence[f.Agent] = *f
			}
		}
	}
	s := RestoreState{LastSeq: evs[len(evs)-1].Seq, Queues: queues}
	for _, a := range agents {
		p := presence[a.ID]
		s.Agents = append(s.Agents, AgentRestore{Config: a, Presence: p.State, Reason: string(p.Reason), Since: p.Time})
	}
	for _, id := range order {
		if in := last[id]; in.Status != StatusEnded {
			s.Interactions = append(s.Interactions, in)
		}
	}
	// The store's order: priority, then time entered.
	slices.SortStableFunc(s.Interactions, func(a, b InteractionInfo) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return a.EnqueuedAt.Compare(b.EnqueuedAt)
	})
	s.Stats = NewStats(nil)
	for _, ev := range evs {
		s.Stats.Apply(ev)
	}
	return s
}

func TestRestoreBringsBackQueuedInteractionsInOrderAndNoAgentStaysOffered(t *testing.T) {
	h := newHarness(t)
	queues := []QueueConfig{{ID: "q", OfferTimeout: time.Minute, MaxWait: time.Hour, Steps: []Step{{After: 10 * time.Minute, Skills: []SkillReq{}}}}}
	agents := []AgentConfig{{ID: "a"}, {ID: "b", Skills: map[Skill]int{"x": 3}}}
	for _, q := range queues {
		h.queue(q)
	}
	for _, a := range agents {
		h.must(SetAgent{Config: a})
	}
	h.must(SetPresence{Agent: "a", Presence: PresenceAvailable}, SetPresence{Agent: "b", Presence: PresenceAway, Reason: "lunch"})
	h.must(Enqueue{Interaction: "talking", Queue: "q", Channel: ChannelVoice})
	h.must(Accept{Agent: "a", Interaction: "talking"})
	h.advance(time.Minute)
	h.must(Enqueue{Interaction: "first", Queue: "q", Channel: ChannelVoice})
	h.advance(time.Minute)
	h.must(Enqueue{Interaction: "second", Queue: "q", Channel: ChannelVoice})
	h.must(Enqueue{Interaction: "vip", Queue: "q", Channel: ChannelVoice, Priority: 9})
	h.must(Enqueue{Interaction: "chat", Queue: "q", Channel: ChannelChat})
	if h.e.agents["a"].offer == nil {
		t.Fatal("setup: a should hold an offer at the crash")
	}
	before := h.e.QueueViews()[0]
	state := persisted(h, queues, agents)

	// The process restarts 30 s later.
	r := &harness{t: t, e: NewEngine(EngineConfig{PositionInterval: -1}), now: h.now.Add(30 * time.Second)}
	if err := r.e.Restore(r.now, state); err != nil {
		t.Fatal(err)
	}
	r.e.Flush()
	r.effs = r.e.Drain()
	after := r.e.QueueViews()[0]
	if after.Waiting != before.Waiting || after.LongestWait != before.LongestWait+30*time.Second {
		t.Fatalf("waiting %d longest %v after restore; before %d %v", after.Waiting, after.LongestWait, before.Waiting, before.LongestWait)
	}
	want := before.Counters
	want.Offers++ // the chat offered at the crash is offered again
	if !reflect.DeepEqual(after.Counters, want) {
		t.Fatalf("counters after restore %+v, before %+v", after.Counters, before.Counters)
	}
	var pos []InteractionID
	for _, p := range effectsOf[Position](r.effs) {
		pos = append(pos, p.Interaction)
	}
	if want := []InteractionID{"vip", "first", "second", "chat"}; !reflect.DeepEqual(pos, want) {
		t.Fatalf("positions after restore %v, want %v", pos, want)
	}
	// The chat that was offered is offered again; nobody stays offered to a
	// desk that is gone without a fresh offer the edges know about.
	offers := effectsOf[Offer](r.effs)
	if len(offers) != 1 || offers[0].Interaction != "chat" || offers[0].Agent != "a" {
		t.Fatalf("offers after restore %+v", offers)
	}
	if in := r.e.lookup("talking"); in == nil || in.owner.cfg.ID != "a" || in.status != stConnected {
		t.Fatal("the connected call did not come back to a")
	}
	if b := r.e.agents["b"]; b.presence != PresenceAway || b.reason != "lunch" {
		t.Fatalf("b restored as %s %q", b.presence, b.reason)
	}
	// Events go on from the stored sequence.
	r.must(End{Interaction: "talking"})
	if ev := derefs(effectsOf[*Event](r.effs)); ev[len(ev)-1].Seq <= state.LastSeq {
		t.Fatalf("event seq %d does not continue after %d", ev[len(ev)-1].Seq, state.LastSeq)
	}
	// The relaxation step that fell due while down applies on restore.
	r.now = r.now.Add(10 * time.Minute)
	r.must(Tick{})
	if in := r.e.lookup("second"); in == nil || in.step != 1 {
		t.Fatal("step did not apply to a restored interaction")
	}
}

func TestRestoreClosesWhatCannotComeBack(t *testing.T) {
	e := NewEngine(EngineConfig{})
	err := e.Restore(t0, RestoreState{
		LastSeq: 41,
		Queues:  []QueueConfig{{ID: "q"}},
		Interactions: []InteractionInfo{
			{ID: "lost-queue", Queue: "gone", Channel: ChannelChat, Status: StatusWaiting, EnqueuedAt: t0.Add(-time.Minute)},
			{ID: "lost-agent", Queue: "q", Channel: ChannelChat, Status: StatusConnected, Agent: "ghost", EnqueuedAt: t0.Add(-time.Minute), AcceptedAt: t0.Add(-time.Second)},
			{ID: "wrapping", Queue: "q", Channel: ChannelChat, Status: StatusWrapUp, Agent: "ghost"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	effs := e.Drain()
	left := effectsOf[Left](effs)
	if len(left) != 1 || left[0].Interaction != "lost-queue" || left[0].Reason != ReasonRestart {
		t.Fatalf("left %+v", left)
	}
	ended := map[InteractionID]bool{}
	for _, in := range derefs(effectsOf[*InteractionInfo](effs)) {
		if in.Status == StatusEnded {
			ended[in.ID] = true
		}
	}
	if len(ended) != 3 {
		t.Fatalf("want all three closed, got %v", ended)
	}
	evs := derefs(effectsOf[*Event](effs))
	if len(evs) != 2 || evs[0].Seq != 42 || evs[0].Reason != ReasonRestart {
		t.Fatalf("events %+v", evs)
	}
	if e.OpenInteractions() != 0 {
		t.Fatal("closed interactions stayed in routing")
	}
}

// The engine keeps times as nanoseconds on its own clock; what it hands
// out must be the times it was given, whatever their location.
func TestInteractionInfoTimesAreTheInputTimes(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800)} {
		h := newHarness(t)
		h.now = time.Now().In(loc) // with a monotonic reading
		h.queue(QueueConfig{ID: "q", WrapUp: time.Minute})
		h.agent("a")
		enq := h.now
		h.enqueue("x", "q", ChannelVoice)
		h.now = h.now.Add(1500 * time.Millisecond)
		acc := h.now
		h.must(Accept{Agent: "a", Interaction: "x"})
		h.now = h.now.Add(time.Hour + time.Nanosecond)
		end := h.now
		h.must(End{Interaction: "x"})
		infos := derefs(effectsOf[*InteractionInfo](h.all))
		last := infos[len(infos)-1]
		if !last.EnqueuedAt.Equal(enq) || !last.AcceptedAt.Equal(acc) || !last.EndedAt.Equal(end) || last.EnqueuedAt.Location() != loc {
			t.Fatalf("times %v %v %v, want %v %v %v in %v", last.EnqueuedAt, last.AcceptedAt, last.EndedAt, enq, acc, end, loc)
		}
		if d, ok := h.e.NextDeadline(); !ok || !d.Equal(end.Add(time.Minute)) {
			t.Fatalf("next deadline %v, want the end of wrap-up %v", d, end.Add(time.Minute))
		}
	}
}
