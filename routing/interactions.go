package routing

// Interactions: entering a queue, waiting, being taken, leaving, ending and wrap-up.

import (
	"fmt"
	"slices"
)

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
	in.absent = c.Absent
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
	if !in.absent {
		in.addToList(q)
	}
	ev := e.inEvent(EvEntered, in, nil)
	ev.Priority = in.prio
	e.emitIn(ev, in, nil)
	e.changed(in)
	if q.cfg.NoAgents == NoAgentsLeave && !e.tab.loggedIn(q) {
		e.leave(in, EvNoAgents, ReasonNoAgents)
		return
	}
	e.armWaitTimers(in)
	if in.absent {
		return // no place to tell, nobody to offer it to, until it is back
	}
	e.wantMatch(in)
	e.firstPosition(in)
}

// setAbsent marks in's customer away or back (see SetAbsent).
func (e *Engine) setAbsent(id InteractionID, absent bool) error {
	in, err := e.interaction(id)
	if err != nil {
		return err
	}
	if in.absent == absent {
		return nil
	}
	in.absent = absent
	if in.status != stWaiting {
		return nil
	}
	if absent {
		for _, o := range slices.Clone(in.offers) {
			e.endOffer(in, o, ReasonWithdrawn)
		}
		in.removeFromLists()
		return nil
	}
	q := in.home
	if q.cfg.NoAgents == NoAgentsLeave && !e.tab.loggedIn(q) {
		e.leave(in, EvNoAgents, ReasonNoAgents)
		return nil
	}
	in.addToList(q)
	for _, fq := range in.overflow {
		in.addToList(fq)
	}
	e.wantMatch(in)
	e.firstPosition(in)
	return nil
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
