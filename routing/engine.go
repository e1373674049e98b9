package routing

import (
	"fmt"
	"slices"
	"time"
)

// EngineConfig holds settings that are not per queue.
type EngineConfig struct {
	// MaxMissedOffers is how many offers in a row an agent may let lapse
	// before being set away with reason "missed offers". 0 means the
	// default, 2; a negative number never sets an agent away.
	MaxMissedOffers int
	// PositionInterval is the shortest time between two pushes of a
	// queue's changed positions (default 1 s; negative: push at every
	// flush). A new interaction gets its first position at once.
	PositionInterval time.Duration
}

// DefaultPositionInterval is the default EngineConfig.PositionInterval.
const DefaultPositionInterval = time.Second

// Engine is the routing state and its rules. It is not safe for concurrent
// use: Loop owns one on a single goroutine. Every input carries the current
// time; effects accumulate until Drain.
type Engine struct {
	cfg     EngineConfig
	now     time.Time
	nowNs   int64     // now on the engine's clock (see setNow)
	epoch   time.Time // the first time given
	epochNs int64
	queues  map[QueueID]*queue
	agents  map[AgentID]*agent
	ids     idIndex // open interactions by id
	nOpen   int
	parked  int
	timers  timerHeap
	seq     int64
	order   uint64
	tick    uint64
	out     []Effect
	pendIn  []*interaction
	pendAg  []*agent
	dirtyAg []*agent
	dirtyQ  []*queue // queues touched since the last Flush
	stats   *Stats
	// evSlab and infoSlab are blocks that Event and InteractionInfo
	// effects are carved from: one allocation per block, not per effect.
	evSlab   []Event
	infoSlab []InteractionInfo
	// Interactions and offers that left are reused once the engine has
	// settled, when nothing points at them any more: retired waits for
	// that, free is ready for use.
	retiredIn     []*interaction
	retiredOffers []*offer
	freeIn        []*interaction
	inBlock       []interaction // not yet used, allocated together
	freeOffers    []*offer
	// slots is the table waiting lists refer to (waitEntry.slot): every
	// interaction struct in use or free has a slot; freeSlots are those of
	// structs let go.
	slots     []*interaction
	freeSlots []int32
	// readyDirty are agents whose ready flag may be stale; syncReady
	// brings them up to date before anything reads the ready lists.
	readyDirty []*agent
	known      map[Skill]bool
	tab        tables
	// noActive, oneActive and actives are the AgentInfo.Active maps handed
	// out: empty, on one channel, and by content.
	noActive  map[Channel]int
	oneActive []oneActive
	actives   map[activeKey]map[Channel]int
}

// NewEngine returns an empty engine.
func NewEngine(cfg EngineConfig) *Engine {
	if cfg.MaxMissedOffers == 0 {
		cfg.MaxMissedOffers = DefaultMaxMissedOffers
	}
	if cfg.PositionInterval == 0 {
		cfg.PositionInterval = DefaultPositionInterval
	}
	e := &Engine{
		cfg:    cfg,
		queues: make(map[QueueID]*queue),
		agents: make(map[AgentID]*agent),
		ids:    newIDIndex(),
	}
	e.stats = NewStats(e.serviceLevel)
	return e
}

func (e *Engine) serviceLevel(q QueueID) time.Duration {
	if qq := e.queues[q]; qq != nil {
		return qq.cfg.ServiceLevel
	}
	return DefaultServiceLevel
}

// Apply carries out one command at time now: due timers fire first, then
// the command, then the matching it makes possible. A command that fails
// returns an *Error and changes nothing.
func (e *Engine) Apply(now time.Time, c Command) error {
	e.advance(now)
	var err error
	switch c := c.(type) {
	case Tick:
	case SetQueue:
		err = e.setQueue(c.Config)
	case RemoveQueue:
		err = e.removeQueue(c.Queue)
	case SetAgent:
		err = e.setAgent(c.Config)
	case RemoveAgent:
		err = e.removeAgent(c.Agent)
	case SetPresence:
		err = e.setPresenceCmd(c)
	case Enqueue:
		err = e.enqueue(c)
	case Accept:
		err = e.accept(c.Agent, c.Interaction)
	case Decline:
		err = e.decline(c.Agent, c.Interaction)
	case Park:
		err = e.park(c.Agent, c.Interaction)
	case Take:
		err = e.take(c.Agent, c.Interaction)
	case Abandon:
		err = e.abandon(c.Interaction)
	case End:
		err = e.end(c.Interaction)
	case WrapUpDone:
		err = e.wrapUpDone(c.Agent, c.Interaction)
	case Transfer:
		err = e.transfer(c)
	case CompleteTransfer:
		err = e.completeTransfer(c.Agent, c.Interaction)
	case CancelTransfer:
		err = e.cancelTransfer(c.Agent, c.Interaction)
	case SetChannel:
		err = e.setChannel(c.Interaction, c.Channel, c.Return)
	default:
		err = errf(CodeInvalid, "unknown command %T", c)
	}
	e.settle()
	return err
}

// NextDeadline is when the earliest timer is due; ok is false when there
// is none.
func (e *Engine) NextDeadline() (t time.Time, ok bool) {
	if len(e.timers) == 0 {
		return time.Time{}, false
	}
	return e.timeOf(e.timers[0].at), true
}

// The engine keeps times as nanoseconds on its own clock: Unix nanoseconds
// of the first time it was given, plus the time elapsed since, measured
// like time.Time.Sub (on the monotonic clock when the times have it, as
// time.Now's do). So timers and waits are not moved by changes of the
// wall clock, and 0 is free to mean "not set".

// setNow moves the engine's clock to now.
func (e *Engine) setNow(now time.Time) {
	if e.epoch.IsZero() {
		e.epoch, e.epochNs = now, now.UnixNano()
	}
	e.now, e.nowNs = now, e.epochNs+int64(now.Sub(e.epoch))
}

// clock turns t into the engine's nanoseconds (0 for the zero time).
func (e *Engine) clock(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return e.nowNs - int64(e.now.Sub(t))
}

// timeOf turns the engine's nanoseconds back into a time, reckoned back
// from now (0 gives the zero time).
func (e *Engine) timeOf(n int64) time.Time {
	switch n {
	case 0:
		return time.Time{}
	case e.nowNs:
		return e.now
	}
	return e.now.Add(time.Duration(n - e.nowNs))
}

// since is the time from n to now.
func (e *Engine) since(n int64) time.Duration { return time.Duration(e.nowNs - n) }

// Drain returns the effects produced since the last call.
func (e *Engine) Drain() []Effect {
	out := e.out
	e.out = make([]Effect, 0, min(max(len(out), 8), 4096)) // about as many next time
	return out
}

// Stats returns the statistics kept from the events the engine emitted.
func (e *Engine) Stats() *Stats { return e.stats }

// LastSeq is the number of the last event emitted.
func (e *Engine) LastSeq() int64 { return e.seq }

func (e *Engine) advance(now time.Time) {
	if now.After(e.now) {
		e.setNow(now)
	}
	for len(e.timers) > 0 && e.timers[0].at <= e.nowNs {
		t := e.timers.pop()
		e.fire(t)
		e.settle()
	}
}

// arm schedules t, a timer embedded in what it is for, at time at (on the
// engine's clock).
func (e *Engine) arm(t *timer, at int64, k timerKind, in *interaction, a *agent) *timer {
	e.timers.remove(t)
	*t = timer{at: at, kind: k, in: in, ag: a}
	e.timers.push(t)
	return t
}

// stopWaitTimers removes the timers that only apply while waiting.
func (e *Engine) stopWaitTimers(in *interaction) {
	e.timers.remove(in.waitT)
	e.timers.remove(in.stepT)
	in.waitT, in.stepT = nil, nil
}

func (e *Engine) emit(f Effect) { e.out = append(e.out, f) }

func (e *Engine) putEvent(ev Event)          { e.out = append(e.out, carve(&e.evSlab, ev)) }
func (e *Engine) putInfo(in InteractionInfo) { e.out = append(e.out, carve(&e.infoSlab, in)) }

func (e *Engine) event(ev Event) {
	e.seq++
	ev.Seq = e.seq
	ev.Time = e.now
	e.stats.Apply(ev)
	e.putEvent(ev)
}

// emitIn emits an interaction event made by inEvent, folding it into the
// counters the queue and agent keep at hand (the same counters Stats.Apply
// would find).
func (e *Engine) emitIn(ev *Event, in *interaction, a *agent) {
	e.seq++
	ev.Seq = e.seq
	ev.Time = e.now
	q := in.home
	if q.counters == nil {
		q.counters = e.stats.queue(q.cfg.ID)
	}
	var ac *AgentCounters
	if a != nil {
		if a.counters == nil {
			a.counters = e.stats.agent(a.cfg.ID)
		}
		ac = a.counters
	}
	e.stats.apply(ev, q.counters, ac)
	e.out = append(e.out, ev)
}

// inEvent starts an event about in, in place in the event slab; emitIn
// emits it once the caller has set the rest.
func (e *Engine) inEvent(t EventType, in *interaction, a *agent) *Event {
	ev := cell(&e.evSlab)
	ev.Type, ev.Interaction, ev.Queue, ev.Channel = t, in.id, in.home.cfg.ID, in.ch
	if a != nil {
		ev.Agent = a.cfg.ID
	}
	return ev
}

// changed emits in's state, built in place in the info slab.
func (e *Engine) changed(in *interaction) {
	inf := cell(&e.infoSlab)
	e.infoInto(in, inf)
	e.out = append(e.out, inf)
}

func (e *Engine) touch(a *agent) {
	if !a.readyQueued {
		a.readyQueued = true
		e.readyDirty = append(e.readyDirty, a)
	}
	if !a.dirty {
		a.dirty = true
		e.dirtyAg = append(e.dirtyAg, a)
	}
}

func (e *Engine) wantMatch(in *interaction) { e.pendIn = append(e.pendIn, in) }

// syncReady updates the ready lists for the agents that changed. It is
// lazy because an agent freed by an end is usually offered something at
// once, and flipping it in and out of every queue's list would be waste.
func (e *Engine) syncReady() {
	for _, a := range e.readyDirty {
		a.readyQueued = false
		if !a.gone {
			e.tab.syncReady(a)
		}
	}
	clear(e.readyDirty) // no stale pointers for the collector to follow
	e.readyDirty = e.readyDirty[:0]
}
func (e *Engine) wantAgent(a *agent) { e.pendAg = append(e.pendAg, a); e.touch(a) }

// --- configuration ---

func (e *Engine) setQueue(c QueueConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.WithDefaults()
	q := e.queues[c.ID]
	if q == nil {
		q = &queue{cfg: c, aht: c.DefaultHandleTime, dirtyList: &e.dirtyQ}
		e.queues[c.ID] = q
		e.tab.addQueue(q)
	} else {
		q.cfg = c
		q.invalidate()
		if q.ahtN == 0 {
			q.aht = c.DefaultHandleTime
		}
	}
	for _, a := range e.agents {
		e.tab.setMember(q, a, q.qualifies(a))
		e.wantAgent(a)
	}
	e.known = nil
	return nil
}

func (e *Engine) removeQueue(id QueueID) error {
	q, err := e.queue(id)
	if err != nil {
		return err
	}
	for _, in := range e.inters {
		if in.home == q || (in.xfer != nil && in.xfer.toQueue == q) {
			return errf(CodeWrongState, "queue %q still has interactions", id)
		}
	}
	for _, w := range slices.Clone(q.waiting.entries()) { // overflow entries from other queues
		in := e.slots[w.slot]
		in.dropList(q)
		if i := slices.Index(in.overflow, q); i >= 0 {
			in.overflow = slices.Delete(in.overflow, i, i+1)
		}
	}
	for _, ai := range slices.Clone(q.members) {
		e.tab.setMember(q, e.tab.agents[ai], false)
	}
	e.timers.remove(q.posT)
	q.gone = true
	e.tab.dropQueue(q)
	delete(e.queues, id)
	e.known = nil
	return nil
}

func (e *Engine) setAgent(c AgentConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.WithDefaults()
	a := e.agents[c.ID]
	if a == nil {
		a = &agent{presence: PresenceOffline, presenceSince: e.now, state: StateOffline, stateSince: e.now, lastActivity: e.now}
		a.holds = a.holdsBuf[:0]
		e.agents[c.ID] = a
		e.tab.addAgent(a)
	}
	a.setConfig(c)
	for _, q := range e.queues {
		e.tab.setMember(q, a, q.qualifies(a))
	}
	for _, qi := range a.queues {
		e.tab.queues[qi].invalidate() // capacity may have changed
	}
	e.wantAgent(a)
	e.known = nil
	return nil
}

func (e *Engine) removeAgent(id AgentID) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if len(a.holds) > 0 || a.offer != nil {
		return errf(CodeWrongState, "agent %q still holds interactions", id)
	}
	for _, qi := range slices.Clone(a.queues) {
		e.tab.setMember(e.tab.queues[qi], a, false)
	}
	a.ready = false
	a.gone = true
	e.tab.dropAgent(a)
	delete(e.agents, id)
	e.known = nil
	return nil
}

func (e *Engine) queue(id QueueID) (*queue, error) {
	q := e.queues[id]
	if q == nil {
		return nil, errf(CodeUnknownQueue, "unknown queue %q", id)
	}
	return q, nil
}

func (e *Engine) agent(id AgentID) (*agent, error) {
	a := e.agents[id]
	if a == nil {
		return nil, errf(CodeUnknownAgent, "unknown agent %q", id)
	}
	return a, nil
}

// pair looks up an agent and an interaction, the arguments of most
// commands.
func (e *Engine) pair(agentID AgentID, id InteractionID) (*agent, *interaction, error) {
	a, err := e.agent(agentID)
	if err != nil {
		return nil, nil, err
	}
	in, err := e.interaction(id)
	if err != nil {
		return nil, nil, err
	}
	return a, in, nil
}

func (e *Engine) interaction(id InteractionID) (*interaction, error) {
	in := e.lookup(id)
	if in == nil {
		return nil, errf(CodeUnknownInteraction, "unknown interaction %q", id)
	}
	return in, nil
}

func (e *Engine) setPresenceCmd(c SetPresence) error {
	a, err := e.agent(c.Agent)
	if err != nil {
		return err
	}
	switch c.Presence {
	case PresenceAvailable, PresenceOffline:
		c.Reason = ""
	case PresenceAway:
		if len(c.Reason) > 200 {
			return invalid("away reason is longer than 200 bytes")
		}
	default:
		return invalid(fmt.Sprintf("presence %q is not one of available, away, offline", c.Presence))
	}
	e.setPresence(a, c.Presence, c.Reason)
	return nil
}

func (e *Engine) setPresence(a *agent, p Presence, reason string) {
	if a.presence == p && a.reason == reason {
		return
	}
	was := a.presence
	a.presence, a.reason, a.presenceSince = p, reason, e.now
	for _, qi := range a.queues {
		e.tab.queues[qi].invalidate()
	}
	e.event(Event{Type: EvAgentState, Agent: a.cfg.ID, State: p, Reason: Reason(reason)})
	e.touch(a)
	if p == PresenceAvailable {
		a.missed = 0
		a.lastActivity = e.now
		e.wantAgent(a)
		return
	}
	if in := a.offer; in != nil {
		e.endOffer(in, in.offerTo(a), ReasonWithdrawn)
	}
	if p == PresenceOffline && was != PresenceOffline {
		e.leaveIfNobody(a)
	}
}

// leaveIfNobody lets the waiting interactions of a's queues whose policy is
// leave go when none of their agents is logged in any more.
func (e *Engine) leaveIfNobody(a *agent) {
	for _, qi := range a.queues {
		q := e.tab.queues[qi]
		if q.cfg.NoAgents != NoAgentsLeave || e.tab.loggedIn(q) {
			continue
		}
		for _, w := range slices.Clone(q.waiting.entries()) {
			if in := e.slots[w.slot]; !w.foreign && !in.gone {
				e.leave(in, EvNoAgents, ReasonNoAgents)
			}
		}
	}
}

// knownSkill says whether any queue or agent mentions s.
func (e *Engine) knownSkill(s Skill) bool {
	if e.known == nil {
		e.known = make(map[Skill]bool)
		for _, q := range e.queues {
			for _, r := range q.cfg.Skills {
				e.known[r.Skill] = true
			}
			for _, st := range q.cfg.Steps {
				for _, r := range st.Skills {
					e.known[r.Skill] = true
				}
			}
		}
		for _, a := range e.agents {
			for _, s := range a.skills {
				e.known[s.s] = true
			}
		}
	}
	return e.known[s]
}

// --- interactions ---

// MaxPriority bounds Enqueue.Priority and Transfer.Priority.
const MaxPriority = 1000

func (e *Engine) enqueue(c Enqueue) error {
	if c.Interaction == "" {
		return invalid("interaction id is empty")
	}
	if e.lookup(c.Interaction) != nil {
		return errf(CodeDuplicate, "interaction %q is already routed", c.Interaction)
	}
	q, err := e.queue(c.Queue)
	if err != nil {
		return err
	}
	if c.Channel == "" {
		return invalid("channel is empty")
	}
	if c.Priority < -MaxPriority || c.Priority > MaxPriority {
		return invalid(fmt.Sprintf("priority %d is outside -%d..%d", c.Priority, MaxPriority, MaxPriority))
	}
	if err := validateSkills(c.Skills); err != nil {
		return invalid(err.Error())
	}
	for _, r := range c.Skills {
		if !e.knownSkill(r.Skill) {
			return errf(CodeUnknownSkill, "unknown skill %q", r.Skill)
		}
	}
	if c.PreferredAgent != "" && e.agents[c.PreferredAgent] == nil {
		return errf(CodeUnknownAgent, "unknown preferred agent %q", c.PreferredAgent)
	}
	e.order++
	in := e.newInteraction()
	in.id, in.ch, in.home, in.own, in.preferred = c.Interaction, c.Channel, q, slices.Clone(c.Skills), c.PreferredAgent
	in.prio, in.order, in.status, in.lastPos = c.Priority, e.order, stWaiting, -1
	e.open(in)
	e.place(in, q)
	return nil
}

// place puts in into q as a newly waiting interaction.
func (e *Engine) place(in *interaction, q *queue) {
	in.home, in.arrNs, in.status, in.step = q, e.nowNs, stWaiting, 0
	in.req = joinReqs(q.cfg.Skills, in.own)
	in.skip, in.expired, in.overflow = nil, nil, nil
	in.lastPos = -1
	e.stopWaitTimers(in)
	in.addToList(q)
	ev := e.inEvent(EvEntered, in, nil)
	ev.Priority = in.prio
	e.emitIn(ev, in, nil)
	e.changed(in)
	if q.cfg.NoAgents == NoAgentsLeave && !e.tab.loggedIn(q) {
		e.leave(in, EvNoAgents, ReasonNoAgents)
		return
	}
	e.armWaitTimers(in)
	e.wantMatch(in)
	e.firstPosition(in)
}

// firstPosition tells a newly waiting interaction where it stands without
// waiting for the queue's next push.
func (e *Engine) firstPosition(in *interaction) {
	q := in.home
	pos := q.positionOf(in)
	ewt := estimate(q.aht, pos, e.tab.slotsFor(q, in.ch))
	in.lastPos, in.lastEWT = int32(pos), ewt
	e.emit(Position{Interaction: in.id, Queue: q.cfg.ID, Position: pos, EstimatedWait: ewt})
}

func (e *Engine) armWaitTimers(in *interaction) {
	if q := in.home; q.cfg.MaxWait > 0 {
		in.waitT = e.arm(&in.waitTm, in.arrNs+int64(q.cfg.MaxWait), tMaxWait, in, nil)
	}
	e.armStep(in)
}

// answerable finds a's offer of in, or says why there is none.
func (e *Engine) answerable(agentID AgentID, id InteractionID) (*agent, *interaction, *offer, error) {
	a, in, err := e.pair(agentID, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if o := in.offerTo(a); o != nil {
		return a, in, o, nil
	}
	switch {
	case in.owner == a || in.consult == a:
		return nil, nil, nil, errf(CodeAlreadyAccepted, "interaction %q is already accepted by %s", id, agentID)
	case in.expired[a.cfg.ID]:
		return nil, nil, nil, errf(CodeOfferExpired, "the offer of %q to %s timed out", id, agentID)
	case in.status != stWaiting && in.owner != nil:
		return nil, nil, nil, errf(CodeAlreadyAccepted, "interaction %q was accepted by another agent", id)
	}
	return nil, nil, nil, errf(CodeNotOffered, "interaction %q is not offered to %s", id, agentID)
}

func (e *Engine) accept(agentID AgentID, id InteractionID) error {
	a, in, o, err := e.answerable(agentID, id)
	if err != nil {
		return err
	}
	a.missed = 0
	e.removeOffer(in, o)
	a.lastActivity = e.now
	if o.xfer {
		e.acceptTransfer(a, in, o)
		return nil
	}
	for _, other := range slices.Clone(in.offers) { // ring-all: the others lose
		e.endOffer(in, other, ReasonTaken)
	}
	in.removeFromLists()
	e.stopWaitTimers(in)
	in.status, in.owner, in.accNs = stConnected, a, e.nowNs
	a.holds = append(a.holds, in)
	e.wantAgent(a) // room on another slot: offer the next one
	ev := e.inEvent(EvAccepted, in, a)
	ev.Wait = e.since(in.arrNs)
	e.emitIn(ev, in, a)
	e.emit(Assigned{Interaction: in.id, Agent: a.cfg.ID, Channel: in.ch})
	e.changed(in)
	return nil
}

func (e *Engine) decline(agentID AgentID, id InteractionID) error {
	a, in, o, err := e.answerable(agentID, id)
	if err != nil {
		return err
	}
	a.missed = 0
	e.removeOffer(in, o)
	e.skip(in, a, false)
	e.emitIn(e.inEvent(EvDeclined, in, a), in, a)
	e.afterLostOffer(in, o)
	e.wantAgent(a)
	return nil
}

func (e *Engine) skip(in *interaction, a *agent, expired bool) {
	if in.skip == nil {
		in.skip = make(map[AgentID]bool)
	}
	in.skip[a.cfg.ID] = true
	if expired {
		if in.expired == nil {
			in.expired = make(map[AgentID]bool)
		}
		in.expired[a.cfg.ID] = true
	}
}

// afterLostOffer decides what follows an offer that was declined or let
// lapse: a transfer to an agent fails; anything else looks for somebody
// else.
func (e *Engine) afterLostOffer(in *interaction, o *offer) {
	if o.xfer && in.xfer != nil && in.xfer.toAgent != nil {
		x := in.xfer
		in.xfer = nil
		ev := e.inEvent(EvTransferFailed, in, x.from)
		ev.Target = string(x.toAgent.cfg.ID)
		e.emitIn(ev, in, x.from)
		return
	}
	e.wantMatch(in)
}

func (e *Engine) park(agentID AgentID, id InteractionID) error {
	a, in, o, err := e.answerable(agentID, id)
	if err != nil {
		return err
	}
	if o.xfer {
		return errf(CodeWrongState, "a transfer cannot be parked; decline it instead")
	}
	a.missed = 0
	e.removeOffer(in, o)
	for _, other := range slices.Clone(in.offers) {
		e.endOffer(in, other, ReasonWithdrawn)
	}
	in.removeFromLists()
	in.status = stParked
	e.parked++
	e.emitIn(e.inEvent(EvParked, in, a), in, a)
	e.changed(in)
	e.wantAgent(a)
	return nil
}

func (e *Engine) take(agentID AgentID, id InteractionID) error {
	a, in, err := e.pair(agentID, id)
	if err != nil {
		return err
	}
	if in.status != stParked {
		return errf(CodeWrongState, "interaction %q is not parked", id)
	}
	if a.presence == PresenceOffline {
		return errf(CodeAgentUnavailable, "agent %s is offline", agentID)
	}
	if !e.eligibleAny(a, in) {
		return errf(CodeNotEligible, "agent %s lacks the skills interaction %q requires", agentID, id)
	}
	if !a.hasRoom(in.ch) {
		return errf(CodeNoCapacity, "agent %s has no free %s capacity", agentID, in.ch)
	}
	e.parked--
	e.stopWaitTimers(in)
	in.status, in.owner, in.accNs = stConnected, a, e.nowNs
	a.holds = append(a.holds, in)
	a.lastActivity = e.now
	e.wantAgent(a)
	ev := e.inEvent(EvTaken, in, a)
	ev.Wait = e.since(in.arrNs)
	e.emitIn(ev, in, a)
	e.emit(Assigned{Interaction: in.id, Agent: a.cfg.ID, Channel: in.ch})
	e.changed(in)
	return nil
}

func (e *Engine) abandon(id InteractionID) error {
	in, err := e.interaction(id)
	if err != nil {
		return err
	}
	switch in.status {
	case stWaiting, stParked:
		e.leave(in, EvAbandoned, ReasonAbandoned)
		return nil
	case stConnected:
		return e.end(id)
	}
	return errf(CodeWrongState, "interaction %q has already ended", id)
}

// leave takes a waiting or parked interaction out of routing unhandled.
func (e *Engine) leave(in *interaction, t EventType, r Reason) {
	for _, o := range slices.Clone(in.offers) {
		e.endOffer(in, o, ReasonWithdrawn)
	}
	in.removeFromLists()
	if in.status == stParked {
		e.parked--
	}
	e.stopWaitTimers(in)
	ev := e.inEvent(t, in, nil)
	ev.Wait = e.since(in.arrNs)
	ev.Reason = r
	e.emitIn(ev, in, nil)
	e.emit(Left{Interaction: in.id, Queue: in.home.cfg.ID, Reason: r})
	in.status, in.endNs, in.endReason = stEnded, e.nowNs, r
	e.changed(in)
	e.retire(in)
}

func (e *Engine) end(id InteractionID) error {
	in, err := e.interaction(id)
	if err != nil {
		return err
	}
	switch in.status {
	case stWaiting, stParked:
		e.leave(in, EvAbandoned, ReasonAbandoned)
		return nil
	case stWrapUp, stEnded:
		return errf(CodeWrongState, "interaction %q has already ended", id)
	}
	for _, o := range slices.Clone(in.offers) {
		e.endOffer(in, o, ReasonWithdrawn)
	}
	if x := in.xfer; x != nil {
		if x.toQueue != nil {
			in.dropList(x.toQueue)
		}
		in.xfer = nil
	}
	if c := in.consult; c != nil {
		in.consult = nil
		c.drop(in)
		c.lastActivity = e.now
		e.wantAgent(c)
	}
	a := in.owner
	handle := e.since(in.accNs)
	ev := e.inEvent(EvEnded, in, a)
	ev.Handle = handle
	ev.Reason = ReasonEnded
	e.emitIn(ev, in, a)
	q := in.home
	if q.ahtN == 0 {
		q.aht = handle
	} else {
		q.aht += (handle - q.aht) / 8
	}
	q.ahtN++
	q.touch() // the estimates change with the handle time
	a.handled++
	in.endNs, in.endReason = e.nowNs, ReasonEnded
	if q.cfg.WrapUp > 0 {
		in.status = stWrapUp
		in.wrapT = e.arm(&in.waitTm, e.nowNs+int64(q.cfg.WrapUp), tWrapUp, in, a) // the wait timer is free by now
		e.touch(a)
		e.changed(in)
		return nil
	}
	e.finish(in)
	return nil
}

func (e *Engine) finish(in *interaction) {
	e.timers.remove(in.wrapT)
	in.wrapT = nil
	a := in.owner
	a.drop(in)
	a.lastActivity = e.now
	in.status = stEnded
	e.changed(in)
	e.retire(in)
	e.wantAgent(a)
}

func (e *Engine) wrapUpDone(agentID AgentID, id InteractionID) error {
	a, in, err := e.pair(agentID, id)
	if err != nil {
		return err
	}
	if in.owner != a {
		return errf(CodeNotAssigned, "interaction %q is not with %s", id, agentID)
	}
	if in.status != stWrapUp {
		return errf(CodeWrongState, "interaction %q is not in wrap-up", id)
	}
	e.emitIn(e.inEvent(EvWrapUpDone, in, a), in, a)
	e.finish(in)
	return nil
}

// --- offers and timers ---

func (e *Engine) offer(a *agent, in *interaction, via *queue, isXfer, consult bool) {
	e.tick++
	o := e.newOffer()
	*o = offer{ag: a, deadline: e.now.Add(via.cfg.OfferTimeout), xfer: isXfer, consult: consult, via: via}
	o.t = e.arm(&o.tm, e.nowNs+int64(via.cfg.OfferTimeout), tOffer, in, a)
	in.offers = append(in.offers, o)
	a.offer = in
	if via.cfg.Strategy == StrategyRoundRobin {
		if a.rr == nil {
			a.rr = make(map[QueueID]uint64)
		}
		a.rr[via.cfg.ID] = e.tick
	}
	e.touch(a)
	ev := e.inEvent(EvOffered, in, a)
	e.emitIn(ev, in, a)
	f := Offer{Interaction: in.id, Agent: a.cfg.ID, Queue: via.cfg.ID, Channel: in.ch, Deadline: o.deadline, Transfer: isXfer, Consult: consult}
	if in.xfer != nil {
		f.From = in.xfer.from.cfg.ID
	}
	e.emit(f)
}

// endOffer withdraws a pending offer the agent did not answer.
func (e *Engine) endOffer(in *interaction, o *offer, r Reason) {
	if o == nil {
		return
	}
	e.removeOffer(in, o)
	ev := e.inEvent(EvOfferWithdrawn, in, o.ag)
	ev.Reason = r
	e.emitIn(ev, in, o.ag)
	e.emit(OfferEnded{Interaction: in.id, Agent: o.ag.cfg.ID, Reason: r})
	e.wantAgent(o.ag)
	if r == ReasonWithdrawn && len(in.offers) == 0 && in.routable() {
		e.wantMatch(in)
	}
}

func (e *Engine) fire(t *timer) {
	if t.kind == tPositions {
		t.q.posT = nil
		t.q.touch() // the next Flush pushes
		return
	}
	in := t.in
	if e.lookup(in.id) != in {
		return
	}
	switch t.kind {
	case tOffer:
		o := in.offerTo(t.ag)
		if o == nil || o.t != t {
			return
		}
		a := t.ag
		e.removeOffer(in, o)
		e.skip(in, a, true)
		e.emitIn(e.inEvent(EvOfferTimeout, in, a), in, a)
		e.emit(OfferEnded{Interaction: in.id, Agent: a.cfg.ID, Reason: ReasonExpired})
		e.afterLostOffer(in, o)
		a.missed++
		if e.cfg.MaxMissedOffers > 0 && a.missed >= e.cfg.MaxMissedOffers && a.presence == PresenceAvailable {
			e.setPresence(a, PresenceAway, string(ReasonMissed))
		}
		e.wantAgent(a)
	case tMaxWait:
		in.waitT = nil
		if in.status == stWaiting || in.status == stParked {
			e.leave(in, EvTimedOut, ReasonTimeout)
		}
	case tStep:
		in.stepT = nil
		if in.status != stWaiting && in.status != stParked {
			return
		}
		e.applyStep(in, true)
		if in.status == stParked {
			in.removeFromLists()
		}
		e.armStep(in)
		e.wantMatch(in)
	case tWrapUp:
		in.wrapT = nil
		if in.status == stWrapUp {
			e.emitIn(e.inEvent(EvWrapUpDone, in, in.owner), in, in.owner)
			e.finish(in)
		}
	}
}

func (e *Engine) armStep(in *interaction) {
	if int(in.step) < len(in.home.cfg.Steps) {
		in.stepT = e.arm(&in.stepTm, in.arrNs+int64(in.home.cfg.Steps[in.step].After), tStep, in, nil)
	}
}

// applyStep applies the next step of in's queue.
func (e *Engine) applyStep(in *interaction, log bool) {
	s := in.home.cfg.Steps[in.step]
	in.step++
	if s.Skills != nil {
		in.req = joinReqs(s.Skills, in.own)
		if log {
			ev := e.inEvent(EvRelaxed, in, nil)
			ev.Step = int(in.step)
			e.emitIn(ev, in, nil)
		}
	}
	if fq := e.queues[s.Fallback]; fq != nil && !slices.Contains(in.overflow, fq) {
		in.overflow = append(in.overflow, fq)
		in.addToList(fq)
		if log {
			ev := e.inEvent(EvOverflowed, in, nil)
			ev.Target, ev.Step = string(fq.cfg.ID), int(in.step)
			e.emitIn(ev, in, nil)
		}
	}
}
