package routing

import (
	"testing"
	"time"
)

// active is what the last AgentInfo pushed for id says about its channels.
func (h *harness) active(id AgentID) map[Channel]int {
	h.t.Helper()
	var last *AgentInfo
	for _, inf := range effectsOf[AgentInfo](h.effs) {
		if inf.ID == id {
			last = &inf
		}
	}
	if last == nil {
		h.t.Fatalf("no AgentInfo pushed for %s", id)
	}
	return last.Active
}

func (h *harness) channelOf(id InteractionID) Channel {
	h.t.Helper()
	infos := effectsOf[*InteractionInfo](h.effs)
	for i := len(infos) - 1; i >= 0; i-- {
		if infos[i].ID == id {
			return infos[i].Channel
		}
	}
	h.t.Fatalf("no InteractionInfo for %s", id)
	return ""
}

func TestSetChannel(t *testing.T) {
	// a: 1 voice, 4 chats (the default); b: the same; chatOnly: 4 chats.
	setup := func(t *testing.T, voiceBlocksChat bool) *harness {
		h := newHarness(t)
		h.queue(QueueConfig{ID: "q", OfferTimeout: time.Minute})
		h.must(SetAgent{Config: AgentConfig{ID: "a", VoiceBlocksChat: voiceBlocksChat}}, SetPresence{Agent: "a", Presence: PresenceAvailable})
		h.enqueue("x", "q", ChannelChat)
		h.must(Accept{Agent: "a", Interaction: "x"})
		h.clear()
		return h
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"a connected chat becomes a call and back, moving the agent's count", func(t *testing.T) {
			h := setup(t, false)
			h.enqueue("y", "q", ChannelChat)
			h.must(Accept{Agent: "a", Interaction: "y"})
			h.clear()
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if got := h.active("a"); got[ChannelVoice] != 1 || got[ChannelChat] != 1 {
				t.Fatalf("active after adding voice %v", got)
			}
			if ch := h.channelOf("x"); ch != ChannelVoice {
				t.Fatalf("interaction info says %s", ch)
			}
			if ev := h.events(EvChannelChanged); len(ev) != 1 || ev[0].Channel != ChannelVoice || ev[0].Agent != "a" || ev[0].Interaction != "x" {
				t.Fatalf("channel_changed events %+v", ev)
			}
			// The voice slot is taken: a new call waits.
			h.clear()
			h.enqueue("call", "q", ChannelVoice)
			h.wantOffers()
			h.must(SetChannel{Interaction: "x", Channel: ChannelChat})
			if got := h.active("a"); got[ChannelVoice] != 0 || got[ChannelChat] != 2 {
				t.Fatalf("active after the call ended %v", got)
			}
			h.wantOffers("call>a") // the voice slot is free again
		}},
		{"going back to chat never fails, even with the chat slots filled meanwhile", func(t *testing.T) {
			h := setup(t, false)
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			for _, id := range []string{"c1", "c2", "c3", "c4"} {
				h.enqueue(id, "q", ChannelChat)
				h.must(Accept{Agent: "a", Interaction: InteractionID(id)})
			}
			h.wantErr(SetChannel{Interaction: "x", Channel: ChannelChat}, CodeNoCapacity)
			h.must(SetChannel{Interaction: "x", Channel: ChannelChat, Return: true})
			if got := h.active("a"); got[ChannelVoice] != 0 || got[ChannelChat] != 5 {
				t.Fatalf("active after going back %v", got)
			}
			h.clear()
			h.enqueue("c5", "q", ChannelChat)
			h.wantOffers() // above capacity: no new chat until one ends
			h.must(End{Interaction: "c1"})
			h.must(End{Interaction: "c2"})
			h.wantOffers("c5>a")
		}},
		{"the same channel changes nothing", func(t *testing.T) {
			h := setup(t, false)
			before := h.e.dump()
			if err := h.do(SetChannel{Interaction: "x", Channel: ChannelChat}); err != nil || len(h.effs) != 0 || h.e.dump() != before {
				t.Fatalf("err %v, effects %+v", err, h.effs)
			}
		}},
		{"no free voice slot fails and changes nothing", func(t *testing.T) {
			h := setup(t, false)
			h.enqueue("call", "q", ChannelVoice)
			h.must(Accept{Agent: "a", Interaction: "call"})
			h.wantErr(SetChannel{Interaction: "x", Channel: ChannelVoice}, CodeNoCapacity)
		}},
		{"an agent who takes no calls is not eligible", func(t *testing.T) {
			h := newHarness(t)
			h.queue(QueueConfig{ID: "q"})
			h.must(SetAgent{Config: AgentConfig{ID: "c", Capacity: map[Channel]int{ChannelChat: 4}}}, SetPresence{Agent: "c", Presence: PresenceAvailable})
			h.enqueue("x", "q", ChannelChat)
			h.must(Accept{Agent: "c", Interaction: "x"})
			h.wantErr(SetChannel{Interaction: "x", Channel: ChannelVoice}, CodeNotEligible)
		}},
		{"unknown, ended and malformed are typed errors", func(t *testing.T) {
			h := newHarness(t)
			h.queue(QueueConfig{ID: "q", WrapUp: time.Minute})
			h.agent("a")
			h.enqueue("x", "q", ChannelChat)
			h.must(Accept{Agent: "a", Interaction: "x"})
			h.wantErr(SetChannel{Interaction: "ghost", Channel: ChannelVoice}, CodeUnknownInteraction)
			h.wantErr(SetChannel{Interaction: "x"}, CodeInvalid)
			h.must(End{Interaction: "x"})
			h.wantErr(SetChannel{Interaction: "x", Channel: ChannelVoice}, CodeWrongState) // in wrap-up
			h.must(WrapUpDone{Agent: "a", Interaction: "x"})
			h.wantErr(SetChannel{Interaction: "x", Channel: ChannelVoice}, CodeUnknownInteraction)
		}},
		{"a call blocks new chats but the chats in progress go on", func(t *testing.T) {
			h := setup(t, true)
			h.enqueue("y", "q", ChannelChat)
			h.must(Accept{Agent: "a", Interaction: "y"})
			h.clear()
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if got := h.active("a"); got[ChannelVoice] != 1 || got[ChannelChat] != 1 {
				t.Fatalf("active %v: the chat in progress must stay", got)
			}
			if s := h.e.AgentViews()[0].State; s != StateBusy {
				t.Fatalf("agent on a call that blocks chats is %s, want busy", s)
			}
			h.clear()
			h.enqueue("z", "q", ChannelChat)
			h.wantOffers()
			h.must(SetChannel{Interaction: "x", Channel: ChannelChat})
			h.wantOffers("z>a")
		}},
		{"a pending offer that no longer fits is withdrawn and goes elsewhere", func(t *testing.T) {
			h := setup(t, false)
			h.enqueue("call", "q", ChannelVoice)
			h.wantOffers("call>a")
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if oe := effectsOf[OfferEnded](h.effs); len(oe) != 1 || oe[0].Interaction != "call" || oe[0].Reason != ReasonWithdrawn {
				t.Fatalf("offers ended %+v", oe)
			}
			h.clear()
			h.agent("b")
			h.wantOffers("call>b")
		}},
		{"a pending chat offer is withdrawn when a call starts that blocks chats", func(t *testing.T) {
			h := setup(t, true)
			h.enqueue("y", "q", ChannelChat)
			h.wantOffers("y>a")
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if oe := effectsOf[OfferEnded](h.effs); len(oe) != 1 || oe[0].Interaction != "y" || oe[0].Agent != "a" {
				t.Fatalf("offers ended %+v", oe)
			}
			if a := h.e.agents["a"]; a.offer != nil {
				t.Fatalf("a is still offered %s", a.offer.id)
			}
		}},
		{"a waiting chat nobody could take becomes a call and is offered", func(t *testing.T) {
			h := newHarness(t)
			h.queue(QueueConfig{ID: "q"})
			h.must(SetAgent{Config: AgentConfig{ID: "v", Capacity: map[Channel]int{ChannelVoice: 1}}}, SetPresence{Agent: "v", Presence: PresenceAvailable})
			h.enqueue("x", "q", ChannelChat)
			h.wantOffers()
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			h.wantOffers("x>v")
		}},
		{"a waiting chat becomes a call and is offered again as one", func(t *testing.T) {
			h := newHarness(t)
			h.queue(QueueConfig{ID: "q"})
			h.must(SetAgent{Config: AgentConfig{ID: "c", Capacity: map[Channel]int{ChannelChat: 4}}}, SetPresence{Agent: "c", Presence: PresenceAvailable})
			h.must(SetAgent{Config: AgentConfig{ID: "v", Capacity: map[Channel]int{ChannelVoice: 1}}}, SetPresence{Agent: "v", Presence: PresenceAvailable})
			h.enqueue("x", "q", ChannelChat)
			h.wantOffers("x>c")
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if oe := effectsOf[OfferEnded](h.effs); len(oe) != 1 || oe[0].Agent != "c" {
				t.Fatalf("offers ended %+v", oe)
			}
			if o := effectsOf[Offer](h.effs); len(o) != 1 || o[0].Agent != "v" || o[0].Channel != ChannelVoice {
				t.Fatalf("offers %+v", o)
			}
			if h.channelOf("x") != ChannelVoice {
				t.Fatal("interaction info not updated")
			}
		}},
		{"a parked chat becomes a call and needs a voice slot to be taken", func(t *testing.T) {
			h := setup(t, false)
			h.enqueue("call", "q", ChannelVoice)
			h.must(Accept{Agent: "a", Interaction: "call"}) // voice slot in use
			h.enqueue("p", "q", ChannelChat)
			h.must(Park{Agent: "a", Interaction: "p"}, SetChannel{Interaction: "p", Channel: ChannelVoice})
			h.wantErr(Take{Agent: "a", Interaction: "p"}, CodeNoCapacity)
			h.must(End{Interaction: "call"}, Take{Agent: "a", Interaction: "p"})
			if got := h.e.AgentViews()[0].Active; got[ChannelVoice] != 1 {
				t.Fatalf("active %v", got)
			}
		}},
		{"during a consultation both agents move to voice, or neither", func(t *testing.T) {
			h := setup(t, false)
			h.agent("b")
			h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b", Mode: TransferWarm}, Accept{Agent: "b", Interaction: "x"})
			h.must(Enqueue{Interaction: "call", Queue: "q", Channel: ChannelVoice, PreferredAgent: "b"}, Accept{Agent: "b", Interaction: "call"})
			h.wantErr(SetChannel{Interaction: "x", Channel: ChannelVoice}, CodeNoCapacity)
			h.must(End{Interaction: "call"})
			h.clear()
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			for _, id := range []AgentID{"a", "b"} {
				if got := h.active(id); got[ChannelVoice] != 1 || got[ChannelChat] != 0 {
					t.Fatalf("%s active %v", id, got)
				}
			}
			h.must(CompleteTransfer{Agent: "a", Interaction: "x"})
			if in := h.e.lookup("x"); in.owner.cfg.ID != "b" || in.ch != ChannelVoice {
				t.Fatal("x did not go to b as a call")
			}
		}},
		{"a transfer being offered is offered again for the new channel", func(t *testing.T) {
			h := setup(t, false)
			h.agent("b")
			h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "b"})
			h.wantOffers("x>b")
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if o := effectsOf[Offer](h.effs); len(o) != 1 || o[0].Agent != "b" || o[0].Channel != ChannelVoice || !o[0].Transfer {
				t.Fatalf("offers %+v", o)
			}
			h.must(Accept{Agent: "b", Interaction: "x"})
			if got := h.e.AgentViews()[1].Active; got[ChannelVoice] != 1 {
				t.Fatalf("b active %v", got)
			}
		}},
		{"a transfer offered to the agent that no longer fits fails", func(t *testing.T) {
			h := setup(t, false) // a holds the chat x
			h.agent("b")
			h.must(Enqueue{Interaction: "call", Queue: "q", Channel: ChannelVoice, PreferredAgent: "b"}, Accept{Agent: "b", Interaction: "call"})
			h.clear()
			h.must(Transfer{Agent: "b", Interaction: "call", ToAgent: "a"})
			h.wantOffers("call>a")
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if ev := h.events(EvTransferFailed); len(ev) != 1 || ev[0].Target != "a" || ev[0].Agent != "b" {
				t.Fatalf("transfer_failed %+v", ev)
			}
			if in := h.e.lookup("call"); in.xfer != nil || in.owner.cfg.ID != "b" || len(in.offers) != 0 {
				t.Fatal("the call did not stay with b")
			}
		}},
		{"a transfer being offered fails when the target takes no calls", func(t *testing.T) {
			h := setup(t, false)
			h.must(SetAgent{Config: AgentConfig{ID: "c", Capacity: map[Channel]int{ChannelChat: 4}}}, SetPresence{Agent: "c", Presence: PresenceAvailable})
			h.must(Transfer{Agent: "a", Interaction: "x", ToAgent: "c"})
			h.wantOffers("x>c")
			h.must(SetChannel{Interaction: "x", Channel: ChannelVoice})
			if ev := h.events(EvTransferFailed); len(ev) != 1 || ev[0].Target != "c" {
				t.Fatalf("transfer_failed %+v", ev)
			}
			if in := h.e.lookup("x"); in.xfer != nil || in.owner.cfg.ID != "a" || len(in.offers) != 0 {
				t.Fatal("the transfer did not fail cleanly")
			}
			h.must(Transfer{Agent: "a", Interaction: "x", ToQueue: "q"}) // a new transfer may start
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestRestoreAfterSetChannelKeepsTheNewChannel(t *testing.T) {
	h := newHarness(t)
	queues := []QueueConfig{{ID: "q"}}
	agents := []AgentConfig{{ID: "a"}}
	h.queue(queues[0])
	h.must(SetAgent{Config: agents[0]}, SetPresence{Agent: "a", Presence: PresenceAvailable})
	h.enqueue("x", "q", ChannelChat)
	h.must(Accept{Agent: "a", Interaction: "x"}, SetChannel{Interaction: "x", Channel: ChannelVoice})
	state := persisted(h, queues, agents)

	r := &harness{t: t, e: NewEngine(EngineConfig{PositionInterval: -1}), now: h.now.Add(time.Second)}
	if err := r.e.Restore(r.now, state); err != nil {
		t.Fatal(err)
	}
	r.e.Flush()
	r.e.Drain()
	if got := r.e.AgentViews()[0].Active; got[ChannelVoice] != 1 || got[ChannelChat] != 0 {
		t.Fatalf("restored active %v", got)
	}
	r.enqueue("call", "q", ChannelVoice)
	r.wantOffers() // the voice slot is still in use
	r.enqueue("chat", "q", ChannelChat)
	r.wantOffers("chat>a")
}
