package routing

import (
	"slices"
	"strings"
	"time"
)

// settle runs the matching that the last input made possible.
func (e *Engine) settle() {
	for len(e.pendIn) > 0 || len(e.pendAg) > 0 {
		for len(e.pendIn) > 0 {
			in := e.pendIn[len(e.pendIn)-1]
			e.pendIn[len(e.pendIn)-1] = nil
			e.pendIn = e.pendIn[:len(e.pendIn)-1]
			if !in.gone && in.routable() {
				e.matchInteraction(in)
			}
		}
		for len(e.pendAg) > 0 {
			a := e.pendAg[len(e.pendAg)-1]
			e.pendAg[len(e.pendAg)-1] = nil
			e.pendAg = e.pendAg[:len(e.pendAg)-1]
			if !a.gone {
				e.matchAgent(a)
			}
		}
	}
	e.recycle()
}

// reqOK says whether a meets what in requires when reached through q.
func reqOK(a *agent, in *interaction, q *queue) bool {
	if q == in.home && in.xfer == nil {
		return meets(a, in.req)
	}
	return meets(a, q.cfg.Skills) && meets(a, in.own)
}

// eligibleAny says whether a meets in's requirement through its queue or
// any queue it overflowed into.
func (e *Engine) eligibleAny(a *agent, in *interaction) bool {
	if meets(a, in.req) {
		return true
	}
	for _, q := range in.overflow {
		if reqOK(a, in, q) {
			return true
		}
	}
	return false
}

// candidate says whether a may be offered in through q now, leaving aside
// earlier declines.
func candidate(a *agent, in *interaction, q *queue) bool {
	if !a.freeFor(in.ch) || a.holding(in) || !reqOK(a, in, q) {
		return false
	}
	return in.xfer == nil || in.xfer.from != a
}

// othersCould says whether an agent who has not declined or missed in could
// take it, now or once free or back from away (logged in, eligible, with
// capacity on its channel): then those who declined are not asked again.
func (e *Engine) othersCould(in *interaction) bool {
	for _, q := range in.lists {
		for _, ai := range q.members {
			if a := e.tab.agents[ai]; a.presence != PresenceOffline && !in.skip[a.cfg.ID] && a.capacity(in.ch) > 0 &&
				reqOK(a, in, q) && (in.xfer == nil || in.xfer.from != a) {
				return true
			}
		}
	}
	return false
}

func (e *Engine) strategyOf(in *interaction) (*queue, Strategy) {
	q := in.home
	if in.xfer != nil && in.xfer.toQueue != nil {
		q = in.xfer.toQueue
	}
	return q, q.cfg.Strategy
}

func (e *Engine) matchInteraction(in *interaction) {
	e.syncReady()
	sq, strat := e.strategyOf(in)
	ring := strat == StrategyRingAll
	if len(in.offers) > 0 && !ring {
		return
	}
	if in.preferred != "" && len(in.offers) == 0 {
		if a := e.agents[in.preferred]; a != nil && !in.skip[a.cfg.ID] {
			for _, q := range in.lists {
				if candidate(a, in, q) {
					e.offerVia(a, in, q)
					return
				}
			}
		}
	}
	var best *agent
	var bestQ *queue
	var declined, ringing []*agent
	var declinedQ, ringingQ []*queue
	for _, q := range in.lists {
		for _, ai := range q.ready {
			a := e.tab.agents[ai]
			if !candidate(a, in, q) {
				continue
			}
			if in.skip[a.cfg.ID] {
				declined = append(declined, a)
				declinedQ = append(declinedQ, q)
				continue
			}
			if ring {
				if !slices.Contains(ringing, a) {
					ringing = append(ringing, a)
					ringingQ = append(ringingQ, q)
				}
				continue
			}
			if best == nil || better(strat, sq, in, a, best) {
				best, bestQ = a, q
			}
		}
	}
	if len(ringing) > 0 {
		e.ringAll(in, ringing, ringingQ)
		return
	}
	if best != nil {
		e.offerVia(best, in, bestQ)
		return
	}
	if len(declined) == 0 || len(in.offers) > 0 || e.othersCould(in) {
		return
	}
	// Nobody else can take it: those who declined are asked again.
	if ring {
		e.ringAll(in, declined, declinedQ)
		return
	}
	for i, a := range declined {
		if best == nil || better(strat, sq, in, a, best) {
			best, bestQ = a, declinedQ[i]
		}
	}
	if best != nil {
		e.offerVia(best, in, bestQ)
	}
}

// ringAll offers in to every agent given, in order of id so that the
// effects come out the same way every time.
func (e *Engine) ringAll(in *interaction, agents []*agent, qs []*queue) {
	idx := make([]int, len(agents))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int { return strings.Compare(string(agents[x].cfg.ID), string(agents[y].cfg.ID)) })
	for _, i := range idx {
		if agents[i].freeFor(in.ch) {
			e.offerVia(agents[i], in, qs[i])
		}
	}
}

func (e *Engine) offerVia(a *agent, in *interaction, q *queue) {
	if in.xfer != nil {
		e.offer(a, in, q, true, true)
		return
	}
	e.offer(a, in, q, false, false)
}

// better says whether agent x beats y for in under strategy s of queue q.
func better(s Strategy, q *queue, in *interaction, x, y *agent) bool {
	switch s {
	case StrategyLeastOccupied:
		if len(x.holds) != len(y.holds) {
			return len(x.holds) < len(y.holds)
		}
	case StrategyRoundRobin:
		rx, ry := x.rr[q.cfg.ID], y.rr[q.cfg.ID]
		if rx != ry {
			return rx < ry
		}
	case StrategyBestSkill:
		sx, sy := skillScore(x, in.req), skillScore(y, in.req)
		if sx != sy {
			return sx > sy
		}
	}
	if !x.lastActivity.Equal(y.lastActivity) {
		return x.lastActivity.Before(y.lastActivity)
	}
	return x.cfg.ID < y.cfg.ID
}

func skillScore(a *agent, reqs []SkillReq) int {
	n := 0
	for _, r := range reqs {
		n += a.level(r.Skill)
	}
	return n
}

// matchAgent finds the interaction a free agent should be offered: the
// first in order (priority, then waiting time) among the lists of the
// queues the agent serves.
func (e *Engine) matchAgent(a *agent) {
	if a.presence != PresenceAvailable || a.offer != nil {
		return
	}
	if !a.anyRoom() {
		return // full on every channel: nothing to scan for
	}
	if in, q := e.pickFor(a); in != nil {
		e.offerVia(a, in, q)
	}
}

// pickFor finds what a free agent should be offered, and through which
// of its queues.
func (e *Engine) pickFor(a *agent) (*interaction, *queue) {
	// The answer is the first acceptable entry over all the agent's queues;
	// when the same interaction is first in several (overflow), the queue
	// that comes first in a.queues. The queue with the first head is
	// scanned first, so that the others can mostly be passed over on their
	// cached heads alone, without touching them.
	heads := e.tab.heads
	first := -1
	var min *waitEntry
	for j, qi := range a.queues {
		if h := &heads[qi]; h.slot >= 0 && (min == nil || h.ahead(*min)) {
			first, min = j, h
		}
	}
	if first < 0 {
		return nil, nil // nothing waiting
	}
	m := agentMatch{e: e, a: a}
	m.scan(first, e.tab.queues[a.queues[first]])
	if m.best != nil && m.bestW.order == min.order {
		// The first head of all is taken: nothing comes before it, and no
		// earlier queue has it (it would be that queue's head, and first).
		return m.best, m.bestQ
	}
	for j, qi := range a.queues {
		if h := &heads[qi]; j != first && h.slot >= 0 && m.mayBeat(j, *h) {
			m.scan(j, e.tab.queues[qi])
		}
	}
	return m.best, m.bestQ
}

// agentMatch is matchAgent's search: the best entry found so far, and
// where.
type agentMatch struct {
	e     *Engine
	a     *agent
	best  *interaction
	bestW waitEntry
	bestQ *queue
	bestJ int // index of bestQ in a.queues
}

// mayBeat says whether w, an entry of the agent's j-th queue, would replace
// the best: it comes first, or it is the same interaction in a queue that
// comes earlier in a.queues.
func (m *agentMatch) mayBeat(j int, w waitEntry) bool {
	if m.best == nil || w.ahead(m.bestW) {
		return true
	}
	return j < m.bestJ && w.order == m.bestW.order
}

// scan looks through q, the agent's j-th queue, from its head for the
// first entry the agent may be offered that beats the best.
func (m *agentMatch) scan(j int, q *queue) {
	e, a := m.e, m.a
	for _, w := range q.waiting.entries() {
		if !m.mayBeat(j, w) {
			return
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
				continue // it goes to its preferred agent
			}
		}
		if in.skip[a.cfg.ID] && e.othersCould(in) {
			continue
		}
		m.best, m.bestW, m.bestQ, m.bestJ = in, w, q, j
		return
	}
}

// Flush pushes the positions and agent states that changed since the last
// call. The loop calls it once per batch of inputs, so bursts coalesce.
func (e *Engine) Flush() {
	for _, a := range e.dirtyAg {
		if !a.dirty || a.gone {
			continue
		}
		a.dirty = false
		if s := a.derive(); s != a.state {
			a.state, a.stateSince = s, e.now
		}
		k := infoKey{presence: a.presence, reason: a.reason, state: a.state, holds: len(a.holds)}
		if a.offer != nil {
			k.offer = a.offer.id
		}
		if k != a.lastInfo {
			a.lastInfo = k
			e.emit(e.agentInfo(a))
		}
	}
	clear(e.dirtyAg)
	e.dirtyAg = e.dirtyAg[:0]
	qs := e.dirtyQ
	for i, q := range qs {
		qs[i] = nil
		q.listed = false
		if !q.dirty || q.gone || q.posT != nil { // a pending push timer touches it again
			continue
		}
		if next := q.lastPush.Add(e.cfg.PositionInterval); e.cfg.PositionInterval > 0 && e.now.Before(next) {
			q.posTm = timer{at: e.clock(next), kind: tPositions, q: q}
			q.posT = &q.posTm
			e.timers.push(q.posT)
			continue
		}
		q.dirty = false
		q.lastPush = e.now
		e.positions(q)
	}
	e.dirtyQ = qs[:0]
}

// EstimateGranularity is how much an estimated wait must move before a new
// Position is pushed when the position itself did not change.
const EstimateGranularity = 5 * time.Second

func (e *Engine) positions(q *queue) {
	pos := 0
	var lastCh Channel
	slots := 0
	for _, w := range q.waiting.entries() {
		if w.foreign {
			continue
		}
		in := e.slots[w.slot]
		pos++
		if in.ch != lastCh {
			lastCh, slots = in.ch, e.tab.slotsFor(q, in.ch)
		}
		ewt := estimate(q.aht, pos, slots)
		d := ewt - in.lastEWT
		if int32(pos) != in.lastPos || (ewt < 0) != (in.lastEWT < 0) || d >= EstimateGranularity || d <= -EstimateGranularity {
			in.lastPos, in.lastEWT = int32(pos), ewt
			e.emit(Position{Interaction: in.id, Queue: q.cfg.ID, Position: pos, EstimatedWait: ewt})
		}
	}
}

// estimate is the expected wait of the interaction at position pos:
//
//	EWT = AHT × pos / slots
//
// where AHT is the queue's recent average handle time (an exponentially
// weighted mean, weight 1/8 for the newest sample, seeded with the queue's
// default handle time) and slots the total capacity on the channel of the
// queue's members who are available: the queue gets through about slots
// interactions per AHT, so the one at position pos waits pos of those
// shares. With no available slots the estimate is unknown (-1). It is rounded
// up to whole seconds. Interactions that an agent is being offered stay in
// the count until accepted.
func estimate(aht time.Duration, pos, slots int) time.Duration {
	if slots == 0 {
		return -1
	}
	w := time.Duration(int64(aht) * int64(pos) / int64(slots))
	return (w + time.Second - 1).Truncate(time.Second)
}
