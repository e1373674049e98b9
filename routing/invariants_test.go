package routing

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestRandomSequencesKeepTheInvariants drives the engine with random
// commands and checks after each one that capacity is never exceeded, that
// nothing is offered to two agents at once outside ring-all, that a failed
// command changes nothing, and at the end that every interaction ended
// exactly once and that the event log replays to the same statistics.
func TestRandomSequencesKeepTheInvariants(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { randomRun(t, seed, 400, ^uint64(0)) })
	}
	// The same with ids whose hashes mostly clash, for the id index's
	// fallback.
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("clashing ids, seed ", seed), func(t *testing.T) { randomRun(t, seed, 400, 3) })
	}
}

func randomRun(t *testing.T, seed uint64, steps int, idMask uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	h := newHarness(t)
	h.e.ids.mask = idMask
	strategies := []Strategy{StrategyLongestIdle, StrategyLeastOccupied, StrategyRoundRobin, StrategyBestSkill, StrategyRingAll}
	queues := []QueueID{"q0", "q1", "q2"}
	for i, q := range queues {
		c := QueueConfig{ID: q, Strategy: strategies[r.IntN(len(strategies))], OfferTimeout: 30 * time.Second,
			WrapUp: time.Duration(r.IntN(2)) * 20 * time.Second, MaxWait: time.Duration(r.IntN(2)) * 10 * time.Minute}
		if i > 0 {
			c.Skills = []SkillReq{{Skill: Skill(fmt.Sprint("s", i)), MinLevel: 1 + r.IntN(5)}}
			c.Steps = []Step{{After: time.Minute, Skills: []SkillReq{}}, {After: 2 * time.Minute, Fallback: "q0"}}
		}
		if r.IntN(4) == 0 {
			c.NoAgents = NoAgentsLeave
		}
		h.queue(c)
	}
	agents := []AgentID{"a0", "a1", "a2", "a3", "a4"}
	for _, a := range agents {
		c := AgentConfig{ID: a, Skills: map[Skill]int{"s1": 1 + r.IntN(10), "s2": 1 + r.IntN(10)}, VoiceBlocksChat: r.IntN(2) == 0}
		if r.IntN(3) == 0 {
			c.Capacity = map[Channel]int{ChannelVoice: r.IntN(2), ChannelChat: r.IntN(3)}
		}
		h.must(SetAgent{Config: c})
	}
	channels := []Channel{ChannelChat, ChannelVoice}
	presences := []Presence{PresenceAvailable, PresenceAvailable, PresenceAvailable, PresenceAway, PresenceOffline}
	created := map[InteractionID]bool{}
	n := 0
	pickIn := func() InteractionID {
		if r.IntN(10) == 0 {
			return "ghost"
		}
		ids := slices.Sorted(func(yield func(InteractionID) bool) {
			for id := range h.e.inters {
				if !yield(id) {
					return
				}
			}
		})
		if len(ids) == 0 {
			return "none"
		}
		return ids[r.IntN(len(ids))]
	}
	pickAg := func() AgentID { return agents[r.IntN(len(agents))] }
	// pickOffer mostly returns a real pending offer, sometimes a random pair.
	pickOffer := func() (AgentID, InteractionID) {
		if r.IntN(5) > 0 {
			for _, a := range agents {
				if ag := h.e.agents[a]; ag.offer != nil && r.IntN(2) == 0 {
					return a, ag.offer.id
				}
			}
		}
		return pickAg(), pickIn()
	}
	// pickHeld mostly returns an agent and an interaction they hold.
	pickHeld := func() (AgentID, InteractionID) {
		if r.IntN(5) > 0 {
			for _, a := range agents {
				if ag := h.e.agents[a]; len(ag.holds) > 0 && r.IntN(2) == 0 {
					return a, ag.holds[r.IntN(len(ag.holds))].id
				}
			}
		}
		return pickAg(), pickIn()
	}
	for range steps {
		var c Command
		switch k := r.IntN(18); k {
		case 0, 1:
			n++
			id := InteractionID(fmt.Sprint("i", n))
			created[id] = true
			c = Enqueue{Interaction: id, Queue: queues[r.IntN(len(queues))], Channel: channels[r.IntN(2)], Priority: r.IntN(3), Absent: r.IntN(4) == 0}
		case 2, 3, 16:
			a, in := pickOffer()
			c = Accept{Agent: a, Interaction: in}
		case 4:
			a, in := pickOffer()
			c = Decline{Agent: a, Interaction: in}
		case 5:
			a, in := pickOffer()
			c = Park{Agent: a, Interaction: in}
		case 6:
			c = Take{Agent: pickAg(), Interaction: pickIn()}
		case 7:
			if r.IntN(3) > 0 {
				continue
			}
			c = Abandon{Interaction: pickIn()}
		case 8:
			_, in := pickHeld()
			c = End{Interaction: in}
		case 9:
			a, in := pickHeld()
			c = WrapUpDone{Agent: a, Interaction: in}
		case 10:
			a, in := pickHeld()
			tr := Transfer{Agent: a, Interaction: in, Mode: []TransferMode{TransferBlind, TransferWarm}[r.IntN(2)], Priority: r.IntN(4)}
			if r.IntN(2) == 0 {
				tr.ToAgent = pickAg()
			} else {
				tr.ToQueue = queues[r.IntN(len(queues))]
			}
			c = tr
		case 11:
			a, in := pickHeld()
			c = CompleteTransfer{Agent: a, Interaction: in}
		case 12:
			a, in := pickHeld()
			c = CancelTransfer{Agent: a, Interaction: in}
		case 17:
			// Voice added to a chat or dropped, mostly on a held one.
			_, in := pickHeld()
			c = SetChannel{Interaction: in, Channel: channels[r.IntN(2)]}
		case 14:
			// The customer closes the page or comes back.
			if r.IntN(2) == 0 {
				c = SetAbsent{Interaction: pickIn(), Absent: r.IntN(2) == 0}
				break
			}
			c = Tick{}
		case 13:
			c = SetPresence{Agent: pickAg(), Presence: presences[r.IntN(len(presences))], Reason: "r"}
		default:
			h.now = h.now.Add(time.Duration(r.IntN(90)) * time.Second)
			c = Tick{}
		}
		before := h.e.dump()
		mark := len(h.all)
		if err := h.do(c); err != nil {
			if len(h.all) != mark {
				t.Fatalf("%T%+v failed (%v) but produced effects", c, c, err)
			}
			if after := h.e.dump(); after != before {
				t.Fatalf("%T%+v failed (%v) but changed the state", c, c, err)
			}
		}
		checkInvariants(t, h.e)
	}
	// Wind down: everybody leaves or ends, wrap-ups run out.
	for _, id := range slices.Sorted(func(yield func(InteractionID) bool) {
		for id := range h.e.inters {
			if !yield(id) {
				return
			}
		}
	}) {
		_ = h.do(End{Interaction: id})
		checkInvariants(t, h.e)
	}
	h.now = h.now.Add(time.Hour)
	h.must(Tick{})
	if n := h.e.OpenInteractions(); n != 0 {
		t.Fatalf("%d interactions left after winding down", n)
	}
	ended := map[InteractionID]int{}
	for _, f := range h.all {
		if in, ok := f.(*InteractionInfo); ok && in.Status == StatusEnded {
			ended[in.ID]++
		}
	}
	for id := range created {
		if ended[id] != 1 {
			t.Fatalf("%s ended %d times", id, ended[id])
		}
	}
	kinds := map[EventType]int{}
	for _, ev := range derefs(effectsOf[*Event](h.all)) {
		kinds[ev.Type]++
	}
	t.Logf("events by type: %v", kinds)
	replay := NewStats(h.e.serviceLevel)
	var last int64
	for _, ev := range derefs(effectsOf[*Event](h.all)) {
		if ev.Seq != last+1 {
			t.Fatalf("event seq %d follows %d", ev.Seq, last)
		}
		last = ev.Seq
		replay.Apply(ev)
	}
	if !reflect.DeepEqual(replay.Queues, h.e.Stats().Queues) || !reflect.DeepEqual(replay.Agents, h.e.Stats().Agents) {
		t.Fatalf("replayed statistics differ:\nreplay %v\nlive   %v", replay.Queues, h.e.Stats().Queues)
	}
	for q, c := range replay.Queues {
		if c.Waiting != 0 {
			t.Fatalf("queue %s: %d still counted as waiting", q, c.Waiting)
		}
		finished := c.Answered + c.Abandoned + c.TimedOut + c.NoAgents + c.Closed
		if c.Entered != finished {
			t.Fatalf("queue %s: entered %d but %d finished waiting: %+v", q, c.Entered, finished, c)
		}
	}
}

func checkInvariants(t *testing.T, e *Engine) {
	t.Helper()
	e.syncReady()
	for _, a := range e.agents {
		for _, c := range a.caps {
			n, _ := a.used(c.ch)
			if n > c.n {
				t.Fatalf("agent %s uses %d of %d %s slots", a.cfg.ID, n, c.n, c.ch)
			}
		}
		wasReady := a.ready
		e.tab.syncReady(a)
		if a.ready != wasReady {
			t.Fatalf("agent %s ready flag was stale after syncReady (%v)", a.cfg.ID, wasReady)
		}
		for j, qi := range a.queues {
			q := e.tab.queues[qi]
			if in := a.readyAt[j] >= 0; in != a.ready || (a.ready && q.ready[a.readyAt[j]] != a.idx) {
				t.Fatalf("agent %s ready list of %s is out of step", a.cfg.ID, q.cfg.ID)
			}
		}
		if a.presence == PresenceAvailable && a.offer == nil {
			gotIn, gotQ := e.pickFor(a)
			wantIn, wantQ := pickForAsScanned(e, a)
			if gotIn != wantIn || gotQ != wantQ {
				t.Fatalf("agent %s would be offered %v via %v, scanning every queue gives %v via %v", a.cfg.ID, gotIn, gotQ, wantIn, wantQ)
			}
		}
		if a.offer != nil && a.offer.offerTo(a) == nil {
			t.Fatalf("agent %s points at an offer of %s that does not exist", a.cfg.ID, a.offer.id)
		}
		for _, in := range a.holds {
			if in.owner != a && in.consult != a {
				t.Fatalf("agent %s holds %s which is with somebody else", a.cfg.ID, in.id)
			}
		}
	}
	for i, tm := range e.timers {
		if tm.kind == tPositions {
			if tm.q.posT != tm || int(tm.idx) != i {
				t.Fatalf("position timer %d is stale", i)
			}
			continue
		}
		in := tm.in
		live := e.lookup(in.id) == in && (tm == in.waitT || tm == in.stepT || tm == in.wrapT)
		for _, o := range in.offers {
			live = live || o.t == tm
		}
		if !live || int(tm.idx) != i {
			t.Fatalf("timer %d (kind %d for %s) is stale", i, tm.kind, in.id)
		}
	}
	for _, q := range e.tab.queues {
		if q == nil {
			continue
		}
		want := noEntry
		if ws := q.waiting.entries(); len(ws) > 0 {
			want = ws[0]
		}
		if e.tab.heads[q.idx] != want {
			t.Fatalf("queue %s: cached head %+v, list starts with %+v", q.cfg.ID, e.tab.heads[q.idx], want)
		}
	}
	waiting := map[QueueID]int64{}
	for _, in := range e.inters {
		if _, s := e.strategyOf(in); s != StrategyRingAll && len(in.offers) > 1 {
			t.Fatalf("%s offered to %d agents at once", in.id, len(in.offers))
		}
		for _, o := range in.offers {
			if o.ag.offer != in {
				t.Fatalf("%s offered to %s who does not know it", in.id, o.ag.cfg.ID)
			}
		}
		switch in.status {
		case stWaiting, stParked:
			waiting[in.home.cfg.ID]++
			if in.owner != nil {
				t.Fatalf("waiting %s has an owner", in.id)
			}
		case stConnected, stWrapUp:
			if in.owner == nil || !in.owner.holding(in) {
				t.Fatalf("%s %s but its owner does not hold it", in.status, in.id)
			}
		}
		if (in.status == stWaiting && !in.absent) != slices.Contains(in.lists, in.home) && in.xfer == nil {
			t.Fatalf("%s is %s but in its queue's list: %v", in.id, in.status, slices.Contains(in.lists, in.home))
		}
	}
	for id, q := range e.stats.Queues {
		if q.Waiting != waiting[id] {
			t.Fatalf("queue %s counts %d waiting, %d are", id, q.Waiting, waiting[id])
		}
	}
}

// pickForAsScanned is what Engine.pickFor must return, found the plain way:
// every queue of the agent in order, each from its head, keeping the first
// acceptable entry that comes before the best so far.
func pickForAsScanned(e *Engine, a *agent) (*interaction, *queue) {
	var best *interaction
	var bestW waitEntry
	var bestQ *queue
	for _, qi := range a.queues {
		q := e.tab.queues[qi]
		for _, w := range q.waiting.entries() {
			if best != nil && !w.ahead(bestW) {
				break
			}
			in := e.slots[w.slot]
			if !candidate(a, in, q) {
				continue
			}
			if len(in.offers) > 0 {
				if _, s := e.strategyOf(in); s != StrategyRingAll {
					continue
				}
			}
			if in.preferred != "" && in.preferred != a.cfg.ID && len(in.offers) == 0 {
				if p := e.agents[in.preferred]; p != nil && p.freeFor(in.ch) && !in.skip[p.cfg.ID] && e.eligibleAny(p, in) {
					continue
				}
			}
			if in.skip[a.cfg.ID] && e.othersCould(in) {
				continue
			}
			best, bestW, bestQ = in, w, q
			break
		}
	}
	return best, bestQ
}
