package routing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchWorld builds the benchmark population: 100 queues over 20 skills,
// 5,000 voice agents with 4 skills each, all busy, and 10,000 waiting.
func benchWorld(b *testing.B) (*Engine, time.Time, []AgentID) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	e := NewEngine(EngineConfig{})
	now := t0
	apply := func(c Command) {
		if err := e.Apply(now, c); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 {
		apply(SetQueue{Config: QueueConfig{ID: QueueID(fmt.Sprint("q", i)), Skills: []SkillReq{{Skill: Skill(fmt.Sprint("s", i%20)), MinLevel: 1 + i%3}}}})
	}
	agents := make([]AgentID, 5000)
	for i := range agents {
		id := AgentID(fmt.Sprint("a", i))
		agents[i] = id
		sk := map[Skill]int{}
		for len(sk) < 4 {
			sk[Skill(fmt.Sprint("s", r.IntN(20)))] = 1 + r.IntN(10)
		}
		apply(SetAgent{Config: AgentConfig{ID: id, Skills: sk, Capacity: map[Channel]int{ChannelVoice: 1}}})
		apply(SetPresence{Agent: id, Presence: PresenceAvailable})
	}
	e.Flush()
	e.Drain()
	for i := 0; ; i++ {
		now = now.Add(time.Millisecond)
		apply(Enqueue{Interaction: InteractionID(fmt.Sprint("w", i)), Queue: QueueID(fmt.Sprint("q", r.IntN(100))), Channel: ChannelVoice})
		for _, f := range e.Drain() {
			if o, ok := f.(Offer); ok {
				apply(Accept{Agent: o.Agent, Interaction: o.Interaction})
			}
		}
		if i%1000 != 0 {
			continue
		}
		waiting := 0
		for _, q := range e.QueueViews() {
			waiting += q.Waiting
		}
		if waiting >= 10000 {
			break
		}
	}
	e.Flush()
	e.Drain()
	return e, now, agents
}

// BenchmarkDecisions measures routing decisions on one goroutine: an agent
// ends a call, the engine picks the best waiting call for them among 10,000
// and offers it, the agent accepts, and a new call arrives so the backlog
// stays at 10,000. Positions and agent states are flushed after every
// decision (flush=1), or after every 100 (flush=100), which is what the loop
// does when inputs arrive faster than it handles them one by one.
func BenchmarkDecisions(b *testing.B) {
	for _, every := range []int{1, 100} {
		b.Run(fmt.Sprint("flush=", every), func(b *testing.B) { benchDecisions(b, every) })
	}
}

func benchDecisions(b *testing.B, flushEvery int) {
	e, now, agents := benchWorld(b)
	busy := map[AgentID]InteractionID{}
	for id, in := range e.inters {
		if in.owner != nil {
			busy[in.owner.cfg.ID] = id
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([]InteractionID, 0, 1<<16)
	for i := range cap(ids) {
		ids = append(ids, InteractionID(fmt.Sprint("n", i)))
	}
	queues := make([]QueueID, 100)
	for i := range queues {
		queues[i] = QueueID(fmt.Sprint("q", i))
	}
	decisions, n := 0, 0
	var offers []Offer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a := agents[i%len(agents)]
		in, ok := busy[a]
		if !ok {
			continue
		}
		now = now.Add(10 * time.Microsecond) // the virtual pace of 100,000 decisions/s
		_ = e.Apply(now, End{Interaction: in})
		delete(busy, a)
		n++
		_ = e.Apply(now, Enqueue{Interaction: ids[n%len(ids)] + InteractionID(rune('a'+n/len(ids))), Queue: queues[r.IntN(100)], Channel: ChannelVoice})
		if n%flushEvery == 0 {
			e.Flush()
		}
		offers = offers[:0]
		for _, f := range e.Drain() {
			if o, ok := f.(Offer); ok {
				offers = append(offers, o)
			}
		}
		for _, o := range offers {
			decisions++
			if err := e.Apply(now, Accept{Agent: o.Agent, Interaction: o.Interaction}); err != nil {
				b.Fatal(err)
			}
			busy[o.Agent] = o.Interaction
		}
	}
	b.ReportMetric(float64(decisions)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkMemoryPerWaiting reports the heap bytes one waiting interaction
// costs, with 10,000 waiting and nobody to take them.
func BenchmarkMemoryPerWaiting(b *testing.B) {
	for b.Loop() {
		e := NewEngine(EngineConfig{})
		for i := range 100 {
			_ = e.Apply(t0, SetQueue{Config: QueueConfig{ID: QueueID(fmt.Sprint("q", i)), MaxWait: time.Hour}})
		}
		ids := make([]InteractionID, 10000)
		for i := range ids {
			ids[i] = InteractionID(fmt.Sprint("w", i))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, id := range ids {
			_ = e.Apply(t0, Enqueue{Interaction: id, Queue: QueueID(fmt.Sprint("q", i%100)), Channel: ChannelChat})
			e.Drain()
		}
		e.Flush()
		e.Drain()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(ids)), "B/waiting")
		runtime.KeepAlive(e)
	}
}

// BenchmarkArrivalToOffer measures, through the event loop, the time from
// submitting an arrival to the sink receiving its offer, at 1,000 arrivals
// per second for 2 seconds, with the 5,000 agents and 10,000 waiting of
// benchWorld (arrivals go to queue q-free, whose 200 dedicated agents
// answer and end each call at once through the mailbox). Run it with
// -benchtime=1x.
func BenchmarkArrivalToOffer(b *testing.B) {
	e, _, _ := benchWorld(b)
	now := time.Now()
	_ = e.Apply(now, SetQueue{Config: QueueConfig{ID: "q-free", Skills: []SkillReq{{Skill: "free"}}}})
	for i := range 200 {
		id := AgentID(fmt.Sprint("f", i))
		_ = e.Apply(now, SetAgent{Config: AgentConfig{ID: id, Skills: map[Skill]int{"free": 5}, Capacity: map[Channel]int{ChannelVoice: 1}}})
		_ = e.Apply(now, SetPresence{Agent: id, Presence: PresenceAvailable})
	}
	e.Flush()
	e.Drain()
	var mu sync.Mutex
	sent := map[InteractionID]time.Time{}
	var lat []time.Duration
	var l *Loop
	l = NewLoop(e, func(effs []Effect) {
		at := time.Now()
		for _, f := range effs {
			if o, ok := f.(Offer); ok {
				mu.Lock()
				if t, ok := sent[o.Interaction]; ok {
					lat = append(lat, at.Sub(t))
					delete(sent, o.Interaction)
				}
				mu.Unlock()
				l.Submit(Accept{Agent: o.Agent, Interaction: o.Interaction}, nil)
				l.Submit(End{Interaction: o.Interaction}, nil)
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	<-l.Started()
	const rate, dur = 1000, 2 * time.Second
	for b.Loop() {
		tick := time.NewTicker(time.Second / rate)
		end := time.Now().Add(dur)
		n := 0
		for time.Now().Before(end) {
			<-tick.C
			n++
			id := InteractionID(fmt.Sprint("x", n, "-", b.N))
			mu.Lock()
			sent[id] = time.Now()
			mu.Unlock()
			l.Submit(Enqueue{Interaction: id, Queue: "q-free", Channel: ChannelVoice}, nil)
		}
		tick.Stop()
		_ = l.Query(ctx, func(*Engine) {})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no offers measured")
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(len(lat)), "offers")
}
