package routing

import (
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
	case SetAbsent:
		err = e.setAbsent(c.Interaction, c.Absent)
	default:
		err = errf(CodeInvalid, "unknown command %T", c)
	}
	e.settle()
	return err
}

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

func (e *Engine) emit(f Effect) { e.out = append(e.out, f) }

func (e *Engine) putEvent(ev Event) { e.out = append(e.out, carve(&e.evSlab, ev)) }

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
