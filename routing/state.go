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
	// through it, as entries without pointers (see waitEntry).
	waiting waitList
	// members are the agents who meet the queue's requirement at its base
	// or at any step; ready are those of them who could be offered
	// something now (see agent.ready). Both hold agents' numbers in the
	// engine's tables.
	members []int32
	ready   []int32
	idx     int32 // number in the engine's tables
	tab     *tables
	aht     time.Duration // recent handle time, for the estimated wait
	ahtN    int
	dirty   bool // positions need to be pushed
	// listed says q is in the engine's list of queues to look at in the
	// next Flush, dirtyList.
	listed    bool
	dirtyList *[]*queue
	gone      bool // removed from the engine
	// slots caches, per channel, the capacity of the members who are
	// available; nil when it must be counted again.
	slots map[Channel]int
	// foreign counts entries of waiting that are not this queue's own
	// waiting interactions (overflow, warm transfers).
	foreign  int
	counters *QueueCounters // this queue's in the engine's Stats
	lastPush time.Time      // positions last pushed
	posT     *timer         // a deferred push: posTm while armed
	posTm    timer
}

// entry is in's key in q's waiting list.
func (q *queue) entry(in *interaction) waitEntry {
	// Priorities are within ±MaxPriority (restored ones, from a store,
	// are clamped here: they keep their order among the valid ones).
	return waitEntry{arr: in.arrNs, order: in.order, slot: in.slot, prio: int16(min(max(in.prio, -MaxPriority), MaxPriority)),
		foreign: in.home != q || in.status != stWaiting}
}

// positionOf returns the position of one of the queue's own waiting
// interactions, counting only its own ahead of it.
func (q *queue) positionOf(in *interaction) int {
	i, _ := q.search(q.entry(in))
	if q.foreign == 0 {
		return i + 1
	}
	pos := 1
	for _, w := range q.waiting.entries()[:i] {
		if !w.foreign {
			pos++
		}
	}
	return pos
}

// slotsFor returns the capacity on ch of the queue's available members.
func (t *tables) slotsFor(q *queue, ch Channel) int {
	if q.slots == nil {
		q.slots = make(map[Channel]int, 2)
		for _, ai := range q.members {
			if a := t.agents[ai]; a.presence == PresenceAvailable {
				for _, c := range a.caps {
					q.slots[c.ch] += c.n
				}
			}
		}
	}
	return q.slots[ch]
}

// invalidate drops cached capacity and marks positions for a push.
func (q *queue) invalidate() { q.slots = nil; q.touch() }

// touch marks the positions for a push at the next Flush, which looks only
// at the queues touched since the last one.
func (q *queue) touch() {
	q.dirty = true
	if !q.listed && q.dirtyList != nil {
		q.listed = true
		*q.dirtyList = append(*q.dirtyList, q)
	}
}

func (q *queue) insert(in *interaction) {
	w := q.entry(in)
	i, _ := q.search(w)
	q.waiting.insert(i, w)
	if w.foreign {
		q.foreign++
	}
	if i == 0 {
		q.tab.heads[q.idx] = w
	}
	q.touch()
}

func (q *queue) remove(in *interaction) {
	i, found := q.search(q.entry(in))
	ws := q.waiting.entries()
	if !found || ws[i].slot != in.slot {
		i = slices.IndexFunc(ws, func(w waitEntry) bool { return w.slot == in.slot })
		if i < 0 {
			return
		}
	}
	if ws[i].foreign {
		q.foreign--
	}
	q.waiting.delete(i)
	if i == 0 {
		q.tab.heads[q.idx] = noEntry
		if q.waiting.len() > 0 {
			q.tab.heads[q.idx] = q.waiting.entries()[0]
		}
	}
	q.touch()
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

func (t *tables) setMember(q *queue, a *agent, member bool) {
	i := slices.Index(q.members, a.idx)
	switch {
	case member && i < 0:
		q.invalidate()
		q.members = append(q.members, a.idx)
		a.queues = append(a.queues, q.idx)
		a.readyAt = append(a.readyAt, -1)
		if a.ready {
			t.enterReady(a, len(a.queues)-1)
		}
	case !member && i >= 0:
		q.invalidate()
		q.members = slices.Delete(q.members, i, i+1)
		if j := slices.Index(a.queues, q.idx); j >= 0 {
			t.leaveReady(a, j)
			a.queues = slices.Delete(a.queues, j, j+1)
			a.readyAt = slices.Delete(a.readyAt, j, j+1)
		}
	}
}

// enterReady adds a to the ready list of its j-th queue.
func (t *tables) enterReady(a *agent, j int) {
	q := t.queues[a.queues[j]]
	a.readyAt[j] = int32(len(q.ready))
	q.ready = append(q.ready, a.idx)
}

// leaveReady takes a out of the ready list of its j-th queue, if it is in.
func (t *tables) leaveReady(a *agent, j int) {
	i := a.readyAt[j]
	if i < 0 {
		return
	}
	q := t.queues[a.queues[j]]
	last := int32(len(q.ready) - 1)
	if i != last {
		moved := q.ready[last]
		q.ready[i] = moved
		m := t.agents[moved]
		m.readyAt[slices.Index(m.queues, q.idx)] = i
	}
	q.ready = q.ready[:last]
	a.readyAt[j] = -1
}

// loggedIn says whether any member of q is logged in (available or away).
func (t *tables) loggedIn(q *queue) bool {
	for _, ai := range q.members {
		if t.agents[ai].presence != PresenceOffline {
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
	holds    []*interaction
	holdsBuf [1]*interaction // backs holds while it has one entry
	offer    *interaction
	// lastActivity is when the agent last got an interaction, finished
	// one, or became available: the key of longest-idle.
	lastActivity time.Time
	missed       int
	handled      int
	queues       []int32 // numbers of the queues it is a member of
	idx          int32   // number in the engine's tables
	rr           map[QueueID]uint64
	state        AgentState
	stateSince   time.Time
	dirty        bool
	lastInfo     infoKey
	// caps and skills are the config's Capacity and Skills as sorted
	// slices (cfg keeps neither map), faster to walk than maps.
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
func (t *tables) syncReady(a *agent) {
	r := a.presence == PresenceAvailable && a.offer == nil && a.anyRoom()
	if r == a.ready {
		return
	}
	a.ready = r
	for j := range a.queues {
		if r {
			t.enterReady(a, j)
		} else {
			t.leaveReady(a, j)
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

// setConfig takes c, keeping its maps as sorted slices (the engine keeps
// no reference to the caller's maps).
func (a *agent) setConfig(c AgentConfig) {
	a.cfg = c
	a.cfg.Skills, a.cfg.Capacity = nil, nil
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
		if in.ch == ChannelVoice && in.status == stConnected {
			voiceConnected = true
		}
	}
	if a.offer != nil && a.offer.ch == ch {
		n++
	}
	return n, voiceConnected
}

// hasRoom says whether a has a free slot on ch, whatever its presence.
func (a *agent) hasRoom(ch Channel) bool { return a.roomOn(chanCap{ch, a.capacity(ch)}) }

// roomOn says whether a has a free slot on c.ch, whose capacity is c.n.
func (a *agent) roomOn(c chanCap) bool {
	if c.n == 0 {
		return false
	}
	n, voice := a.used(c.ch)
	if n >= c.n {
		return false
	}
	return !(c.ch == ChannelChat && a.cfg.VoiceBlocksChat && voice)
}

// anyRoom says whether a has a free slot on some channel.
func (a *agent) anyRoom() bool {
	for _, c := range a.caps {
		if a.roomOn(c) {
			return true
		}
	}
	return false
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
		if in.status == stWrapUp && in.owner == a {
			return StateWrapUp
		}
	}
	if a.anyRoom() {
		return StateAvailable
	}
	return StateBusy
}

func (e *Engine) agentInfo(a *agent) AgentInfo {
	var off InteractionID
	if a.offer != nil {
		off = a.offer.id
	}
	return AgentInfo{
		ID: a.cfg.ID, Presence: a.presence, AwayReason: a.reason, PresenceSince: a.presenceSince,
		State: a.state, StateSince: a.stateSince, Active: e.active(a), Offered: off, Handled: a.handled,
	}
}

// status is an interaction's status: InteractionInfo.Status as a small
// number.
type status uint8

const (
	stWaiting status = iota + 1
	stParked
	stConnected
	stWrapUp
	stEnded
)

var statusNames = [...]string{"", StatusWaiting, StatusParked, StatusConnected, StatusWrapUp, StatusEnded}

func (s status) String() string { return statusNames[s] }

// parseStatus reads an InteractionInfo.Status; 0 for anything else.
func parseStatus(s string) status {
	for i, n := range statusNames {
		if i > 0 && n == s {
			return status(i)
		}
	}
	return 0
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
	arrNs     int64 // entered home (times are on the engine's clock, 0 unset)
	accNs     int64 // accepted
	endNs     int64 // ended
	order     uint64
	slot      int32 // index in the engine's table, kept while it is reused
	lastPos   int32
	step      int32 // steps applied
	status    status
	gone      bool     // left routing
	absent    bool     // the customer is away: waiting, it is in no list
	lists     []*queue // waiting lists holding it
	overflow  []*queue // fallback queues added by steps
	offers    []*offer
	skip      map[AgentID]bool // declined or let lapse
	expired   map[AgentID]bool // let lapse
	owner     *agent
	consult   *agent
	xfer      *xfer
	endReason Reason
	waitT     *timer // maximum wait: waitTm while armed
	stepT     *timer // next step: stepTm while armed
	wrapT     *timer // wrap-up limit: waitTm too, free once connected
	waitTm    timer
	stepTm    timer
	lastEWT   time.Duration
	// listBuf and offerBuf back lists and offers while they hold one
	// entry, as they mostly do: no separate objects to allocate and trace.
	listBuf  [1]*queue
	offerBuf [1]*offer
}

type offer struct {
	ag       *agent
	deadline time.Time
	t        *timer // tm while armed
	tm       timer
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

// removeOffer takes o off in and its agent. The caller may still read o
// until the engine settles; then it is reused.
func (e *Engine) removeOffer(in *interaction, o *offer) {
	e.timers.remove(o.t)
	if i := slices.Index(in.offers, o); i >= 0 {
		in.offers = slices.Delete(in.offers, i, i+1)
	}
	if o.ag.offer == in {
		o.ag.offer = nil
	}
	e.retiredOffers = append(e.retiredOffers, o)
}

// routable says whether in is looking for an agent: waiting, or a warm
// transfer routed through a queue.
func (in *interaction) routable() bool {
	return (in.status == stWaiting && !in.absent) || (in.xfer != nil && in.xfer.toQueue != nil && in.consult == nil)
}

// infoInto fills inf, a zero InteractionInfo, with in's state; fields that
// are unset stay untouched.
func (e *Engine) infoInto(in *interaction, inf *InteractionInfo) {
	inf.ID, inf.Channel, inf.Queue, inf.Priority, inf.Status = in.id, in.ch, in.home.cfg.ID, in.prio, in.status.String()
	inf.EnqueuedAt = e.timeOf(in.arrNs)
	if in.own != nil {
		inf.Skills = in.own
	}
	if in.preferred != "" {
		inf.PreferredAgent = in.preferred
	}
	if in.accNs != 0 {
		inf.AcceptedAt = e.timeOf(in.accNs)
	}
	if in.endNs != 0 {
		inf.EndedAt, inf.EndReason = e.timeOf(in.endNs), in.endReason
	}
	if in.owner != nil {
		inf.Agent = in.owner.cfg.ID
	}
}

func (in *interaction) removeFromLists() {
	for _, q := range in.lists {
		q.remove(in)
	}
	clear(in.lists)
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
