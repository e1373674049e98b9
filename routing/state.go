package routing

import (
	"slices"
	"strings"
	"time"
)

// queue is a queue's live state.
type queue struct {
	cfg QueueConfig
	// waiting is sorted by priority (highest first), then arrival, then
	// order. It holds this queue's waiting interactions, interactions of
	// other queues that overflowed into it, and warm transfers routed
	// through it.
	waiting []*interaction
	// members are the agents who meet the queue's requirement at its base
	// or at any step; ready are those of them who could be offered
	// something now (see agent.ready).
	members []*agent
	ready   []*agent
	aht     time.Duration // recent handle time, for the estimated wait
	ahtN    int
	dirty   bool // positions need to be pushed
	// slots caches, per channel, the capacity of the members who are
	// available; nil when it must be counted again.
	slots map[Channel]int
	// foreign counts entries of waiting that are not this queue's own
	// waiting interactions (overflow, warm transfers).
	foreign  int
	counters *QueueCounters // this queue's in the engine's Stats
	lastPush time.Time      // positions last pushed
	posT     *timer         // a deferred push
}

func (q *queue) isForeign(in *interaction) bool { return in.home != q || in.status != StatusWaiting }

// positionOf returns the position of one of the queue's own waiting
// interactions, counting only its own ahead of it.
func (q *queue) positionOf(in *interaction) int {
	i, _ := slices.BinarySearchFunc(q.waiting, in, func(e, t *interaction) int {
		if e == t {
			return 0
		}
		if ahead(e, t) {
			return -1
		}
		return 1
	})
	if q.foreign == 0 {
		return i + 1
	}
	pos := 1
	for _, e := range q.waiting[:i] {
		if !q.isForeign(e) {
			pos++
		}
	}
	return pos
}

// slotsFor returns the capacity on ch of the queue's available members.
func (q *queue) slotsFor(ch Channel) int {
	if q.slots == nil {
		q.slots = make(map[Channel]int, 2)
		for _, a := range q.members {
			if a.presence == PresenceAvailable {
				for _, c := range a.caps {
					q.slots[c.ch] += c.n
				}
			}
		}
	}
	return q.slots[ch]
}

// invalidate drops cached capacity and marks positions for a push.
func (q *queue) invalidate() { q.slots, q.dirty = nil, true }

// ahead says whether x goes before y in a waiting list.
func ahead(x, y *interaction) bool {
	if x.prio != y.prio {
		return x.prio > y.prio
	}
	if x.arrNs != y.arrNs {
		return x.arrNs < y.arrNs
	}
	return x.order < y.order
}

func (q *queue) insert(in *interaction) {
	i, _ := slices.BinarySearchFunc(q.waiting, in, func(e, t *interaction) int {
		if ahead(e, t) {
			return -1
		}
		if e == t {
			return 0
		}
		return 1
	})
	q.waiting = slices.Insert(q.waiting, i, in)
	if q.isForeign(in) {
		q.foreign++
	}
	q.dirty = true
}

func (q *queue) remove(in *interaction) {
	i, found := slices.BinarySearchFunc(q.waiting, in, func(e, t *interaction) int {
		if e == t {
			return 0
		}
		if ahead(e, t) {
			return -1
		}
		return 1
	})
	if !found {
		i = slices.Index(q.waiting, in)
		if i < 0 {
			return
		}
	}
	q.waiting = slices.Delete(q.waiting, i, i+1)
	if q.isForeign(in) {
		q.foreign--
	}
	q.dirty = true
}

// qualifies says whether a meets the queue's requirement at its base or at
// any step, which makes a a member.
func (q *queue) qualifies(a *agent) bool {
	if meets(a, q.cfg.Skills) {
		return true
	}
	for _, s := range q.cfg.Steps {
		if s.Skills != nil && meets(a, s.Skills) {
			return true
		}
	}
	return false
}

func (q *queue) setMember(a *agent, member bool) {
	i := slices.Index(q.members, a)
	switch {
	case member && i < 0:
		q.invalidate()
		q.members = append(q.members, a)
		a.queues = append(a.queues, q)
		a.readyAt = append(a.readyAt, -1)
		if a.ready {
			a.enterReady(len(a.queues) - 1)
		}
	case !member && i >= 0:
		q.invalidate()
		q.members = slices.Delete(q.members, i, i+1)
		if j := slices.Index(a.queues, q); j >= 0 {
			a.leaveReady(j)
			a.queues = slices.Delete(a.queues, j, j+1)
			a.readyAt = slices.Delete(a.readyAt, j, j+1)
		}
	}
}

// enterReady adds a to the ready list of its j-th queue.
func (a *agent) enterReady(j int) {
	q := a.queues[j]
	a.readyAt[j] = int32(len(q.ready))
	q.ready = append(q.ready, a)
}

// leaveReady takes a out of the ready list of its j-th queue, if it is in.
func (a *agent) leaveReady(j int) {
	i := a.readyAt[j]
	if i < 0 {
		return
	}
	q := a.queues[j]
	last := int32(len(q.ready) - 1)
	if i != last {
		moved := q.ready[last]
		q.ready[i] = moved
		moved.readyAt[slices.Index(moved.queues, q)] = i
	}
	q.ready[last] = nil
	q.ready = q.ready[:last]
	a.readyAt[j] = -1
}

// loggedIn says whether any member is logged in (available or away).
func (q *queue) loggedIn() bool {
	for _, a := range q.members {
		if a.presence != PresenceOffline {
			return true
		}
	}
	return false
}

// agent is an agent's live state.
type agent struct {
	cfg           AgentConfig
	presence      Presence
	reason        string
	presenceSince time.Time
	// holds are the interactions the agent is on: connected, consulting or
	// in wrap-up. offer is the one pending offer, if any.
	holds []*interaction
	offer *interaction
	// lastActivity is when the agent last got an interaction, finished
	// one, or became available: the key of longest-idle.
	lastActivity time.Time
	missed       int
	handled      int
	queues       []*queue
	rr           map[QueueID]uint64
	state        AgentState
	stateSince   time.Time
	dirty        bool
	lastInfo     infoKey
	// caps and skills are cfg.Capacity and cfg.Skills as slices, faster to
	// walk than the maps.
	caps     []chanCap
	skills   []skillLevel
	counters *AgentCounters // this agent's in the engine's Stats
	gone     bool           // removed from the engine
	// ready says the agent could be offered something now: available, no
	// pending offer, room on some channel. readyAt[j] is its index in the
	// ready list of queues[j], -1 when not in it.
	ready       bool
	readyAt     []int32
	readyQueued bool
}

// syncReady brings a.ready and the queues' ready lists up to date.
func (a *agent) syncReady() {
	r := a.presence == PresenceAvailable && a.offer == nil
	if r {
		r = false
		for _, c := range a.caps {
			if a.hasRoom(c.ch) {
				r = true
				break
			}
		}
	}
	if r == a.ready {
		return
	}
	a.ready = r
	for j := range a.queues {
		if r {
			a.enterReady(j)
		} else {
			a.leaveReady(j)
		}
	}
}

type skillLevel struct {
	s Skill
	l int
}

type chanCap struct {
	ch Channel
	n  int
}

func (a *agent) setConfig(c AgentConfig) {
	a.cfg = c
	a.caps = a.caps[:0]
	for ch, n := range c.Capacity {
		a.caps = append(a.caps, chanCap{ch, n})
	}
	slices.SortFunc(a.caps, func(x, y chanCap) int { return strings.Compare(string(x.ch), string(y.ch)) })
	a.skills = a.skills[:0]
	for sk, l := range c.Skills {
		a.skills = append(a.skills, skillLevel{sk, l})
	}
	slices.SortFunc(a.skills, func(x, y skillLevel) int { return strings.Compare(string(x.s), string(y.s)) })
}

// level is the agent's level in s, 0 without it.
func (a *agent) level(s Skill) int {
	for _, k := range a.skills {
		if k.s == s {
			return k.l
		}
	}
	return 0
}

// capacity is the agent's capacity on ch.
func (a *agent) capacity(ch Channel) int {
	for _, c := range a.caps {
		if c.ch == ch {
			return c.n
		}
	}
	return 0
}

type infoKey struct {
	presence Presence
	reason   string
	state    AgentState
	holds    int
	offer    InteractionID
}

func meets(a *agent, reqs []SkillReq) bool {
	for _, r := range reqs {
		l := a.level(r.Skill)
		if l == 0 || l < r.MinLevel {
			return false
		}
	}
	return true
}

// used counts the slots taken on ch, pending offer included.
func (a *agent) used(ch Channel) (n int, voiceConnected bool) {
	for _, in := range a.holds {
		if in.ch == ch {
			n++
		}
		if in.ch == ChannelVoice && in.status == StatusConnected {
			voiceConnected = true
		}
	}
	if a.offer != nil && a.offer.ch == ch {
		n++
	}
	return n, voiceConnected
}

// hasRoom says whether a has a free slot on ch, whatever its presence.
func (a *agent) hasRoom(ch Channel) bool {
	c := a.capacity(ch)
	if c == 0 {
		return false
	}
	n, voice := a.used(ch)
	if n >= c {
		return false
	}
	return !(ch == ChannelChat && a.cfg.VoiceBlocksChat && voice)
}

// freeFor says whether a can be offered an interaction on ch now.
func (a *agent) freeFor(ch Channel) bool {
	return a.presence == PresenceAvailable && a.offer == nil && a.hasRoom(ch)
}

func (a *agent) holding(in *interaction) bool { return slices.Contains(a.holds, in) }

func (a *agent) drop(in *interaction) {
	if i := slices.Index(a.holds, in); i >= 0 {
		a.holds = slices.Delete(a.holds, i, i+1)
	}
}

func (a *agent) derive() AgentState {
	switch a.presence {
	case PresenceOffline:
		return StateOffline
	case PresenceAway:
		return StateAway
	}
	for _, in := range a.holds {
		if in.status == StatusWrapUp && in.owner == a {
			return StateWrapUp
		}
	}
	for _, c := range a.caps {
		if a.hasRoom(c.ch) {
			return StateAvailable
		}
	}
	return StateBusy
}

func (a *agent) info() AgentInfo {
	active := make(map[Channel]int, 2)
	for _, in := range a.holds {
		active[in.ch]++
	}
	var off InteractionID
	if a.offer != nil {
		off = a.offer.id
	}
	return AgentInfo{
		ID: a.cfg.ID, Presence: a.presence, AwayReason: a.reason, PresenceSince: a.presenceSince,
		State: a.state, StateSince: a.stateSince, Active: active, Offered: off, Handled: a.handled,
	}
}

// interaction is an interaction's live state.
type interaction struct {
	id        InteractionID
	ch        Channel
	home      *queue
	own       []SkillReq // the interaction's own requirement
	req       []SkillReq // effective requirement in home: queue's (or a step's) plus own
	preferred AgentID
	prio      int
	arrival   time.Time // entered home
	arrNs     int64     // arrival in Unix nanoseconds, for ordering
	order     uint64
	status    string
	step      int      // steps applied
	lists     []*queue // waiting lists holding it
	overflow  []*queue // fallback queues added by steps
	offers    []*offer
	skip      map[AgentID]bool // declined or let lapse
	expired   map[AgentID]bool // let lapse
	owner     *agent
	consult   *agent
	xfer      *xfer
	accepted  time.Time
	ended     time.Time
	endReason Reason
	waitT     *timer // maximum wait
	stepT     *timer // next step
	wrapT     *timer // wrap-up limit
	lastPos   int
	lastEWT   time.Duration
	gone      bool // left routing
}

type offer struct {
	ag       *agent
	deadline time.Time
	t        *timer
	xfer     bool
	consult  bool
	via      *queue
}

// xfer is a pending transfer or a warm transfer's consultation.
type xfer struct {
	mode    TransferMode
	from    *agent
	toAgent *agent
	toQueue *queue
}

func (in *interaction) offerTo(a *agent) *offer {
	for _, o := range in.offers {
		if o.ag == a {
			return o
		}
	}
	return nil
}

func (in *interaction) removeOffer(h *timerHeap, o *offer) {
	h.remove(o.t)
	if i := slices.Index(in.offers, o); i >= 0 {
		in.offers = slices.Delete(in.offers, i, i+1)
	}
	if o.ag.offer == in {
		o.ag.offer = nil
	}
}

// routable says whether in is looking for an agent: waiting, or a warm
// transfer routed through a queue.
func (in *interaction) routable() bool {
	return in.status == StatusWaiting || (in.xfer != nil && in.xfer.toQueue != nil && in.consult == nil)
}

func (in *interaction) info() InteractionInfo {
	inf := InteractionInfo{
		ID: in.id, Channel: in.ch, Queue: in.home.cfg.ID, Skills: in.own, PreferredAgent: in.preferred,
		Priority: in.prio, Status: in.status, EnqueuedAt: in.arrival, AcceptedAt: in.accepted,
		EndedAt: in.ended, EndReason: in.endReason,
	}
	if in.owner != nil {
		inf.Agent = in.owner.cfg.ID
	}
	return inf
}

func (in *interaction) removeFromLists() {
	for _, q := range in.lists {
		q.remove(in)
	}
	in.lists = in.lists[:0]
}

func (in *interaction) addToList(q *queue) {
	if !slices.Contains(in.lists, q) {
		q.insert(in)
		in.lists = append(in.lists, q)
	}
}

func (in *interaction) dropList(q *queue) {
	if i := slices.Index(in.lists, q); i >= 0 {
		q.remove(in)
		in.lists = slices.Delete(in.lists, i, i+1)
	}
}

func joinReqs(a, b []SkillReq) []SkillReq {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	return append(slices.Clip(a), b...)
}
