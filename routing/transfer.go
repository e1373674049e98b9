package routing

// Transfers: blind and warm, to an agent or a queue, and consultations.

import (
	"slices"
)

func (e *Engine) transfer(c Transfer) error {
	a, in, err := e.pair(c.Agent, c.Interaction)
	if err != nil {
		return err
	}
	if in.owner != a || in.status != stConnected {
		return errf(CodeNotAssigned, "interaction %q is not with %s", c.Interaction, c.Agent)
	}
	if in.xfer != nil {
		return errf(CodeWrongState, "a transfer of %q is already under way", c.Interaction)
	}
	if (c.ToAgent == "") == (c.ToQueue == "") {
		return invalid("a transfer names exactly one of an agent or a queue")
	}
	switch c.Mode {
	case "":
		c.Mode = TransferBlind
	case TransferBlind, TransferWarm:
	default:
		return invalid("transfer mode is not one of blind, warm")
	}
	if c.Priority < -MaxPriority || c.Priority > MaxPriority {
		return invalid("transfer priority is out of range")
	}
	if c.ToAgent != "" {
		t, err := e.agent(c.ToAgent)
		if err != nil {
			return err
		}
		switch {
		case t == a:
			return invalid("an agent cannot transfer to themselves")
		case t.presence != PresenceAvailable:
			return errf(CodeAgentUnavailable, "agent %s is %s", t.cfg.ID, t.presence)
		case t.capacity(in.ch) == 0:
			return errf(CodeNotEligible, "agent %s takes no %s", t.cfg.ID, in.ch)
		case !t.freeFor(in.ch):
			return errf(CodeNoCapacity, "agent %s has no free %s capacity", t.cfg.ID, in.ch)
		}
		in.xfer = &xfer{mode: c.Mode, from: a, toAgent: t}
		e.offer(t, in, in.home, true, c.Mode == TransferWarm)
		return nil
	}
	q, err := e.queue(c.ToQueue)
	if err != nil {
		return err
	}
	if q.cfg.NoAgents == NoAgentsLeave && !e.tab.loggedIn(q) {
		return errf(CodeAgentUnavailable, "nobody is logged in to queue %s", q.cfg.ID)
	}
	if c.Mode == TransferWarm {
		in.xfer = &xfer{mode: TransferWarm, from: a, toQueue: q}
		in.addToList(q)
		e.wantMatch(in)
		return nil
	}
	// Blind to a queue: the agent lets go at once and the interaction waits
	// again, keeping or raising its priority.
	ev := e.inEvent(EvTransferred, in, a)
	ev.Target, ev.Mode = string(q.cfg.ID), string(TransferBlind)
	e.emitIn(ev, in, a)
	a.drop(in)
	a.lastActivity = e.now
	e.emit(Unassigned{Interaction: in.id, Agent: a.cfg.ID, Reason: "transferred"})
	e.wantAgent(a)
	in.owner, in.accNs = nil, 0
	in.prio = max(in.prio, c.Priority)
	e.order++
	in.order = e.order
	e.place(in, q)
	return nil
}

func (e *Engine) acceptTransfer(t *agent, in *interaction, o *offer) {
	x := in.xfer
	if x.toQueue != nil {
		for _, other := range slices.Clone(in.offers) {
			e.endOffer(in, other, ReasonTaken)
		}
		in.dropList(x.toQueue)
	}
	t.holds = append(t.holds, in)
	e.wantAgent(t)
	if o.consult {
		in.consult = t
		ev := e.inEvent(EvConsultStarted, in, x.from)
		ev.Target = string(t.cfg.ID)
		e.emitIn(ev, in, x.from)
		e.emit(Assigned{Interaction: in.id, Agent: t.cfg.ID, Channel: in.ch, From: x.from.cfg.ID, Consult: true})
		return
	}
	e.handOver(in, t, TransferBlind)
}

// handOver moves in from the transferring agent to t.
func (e *Engine) handOver(in *interaction, t *agent, mode TransferMode) {
	x := in.xfer
	from := x.from
	ev := e.inEvent(EvTransferred, in, from)
	ev.Target, ev.Mode = string(t.cfg.ID), string(mode)
	e.emitIn(ev, in, from)
	from.drop(in)
	from.lastActivity = e.now
	e.emit(Unassigned{Interaction: in.id, Agent: from.cfg.ID, Reason: "transferred"})
	e.wantAgent(from)
	in.xfer, in.consult, in.owner = nil, nil, t
	if x.toQueue != nil {
		in.home = x.toQueue
	}
	if mode == TransferBlind {
		e.emit(Assigned{Interaction: in.id, Agent: t.cfg.ID, Channel: in.ch, From: from.cfg.ID})
	}
	e.changed(in)
}

func (e *Engine) completeTransfer(agentID AgentID, id InteractionID) error {
	a, in, err := e.pair(agentID, id)
	if err != nil {
		return err
	}
	if in.xfer == nil || in.xfer.from != a {
		return errf(CodeWrongState, "%s has no transfer of %q under way", agentID, id)
	}
	if in.consult == nil {
		return errf(CodeWrongState, "the colleague has not joined %q yet", id)
	}
	e.handOver(in, in.consult, TransferWarm)
	return nil
}

func (e *Engine) cancelTransfer(agentID AgentID, id InteractionID) error {
	a, in, err := e.pair(agentID, id)
	if err != nil {
		return err
	}
	x := in.xfer
	if x == nil || x.from != a {
		return errf(CodeWrongState, "%s has no transfer of %q under way", agentID, id)
	}
	in.xfer = nil
	for _, o := range slices.Clone(in.offers) {
		e.removeOffer(in, o)
		ev := e.inEvent(EvOfferWithdrawn, in, o.ag)
		ev.Reason = ReasonWithdrawn
		e.emitIn(ev, in, o.ag)
		e.emit(OfferEnded{Interaction: in.id, Agent: o.ag.cfg.ID, Reason: ReasonWithdrawn})
		e.wantAgent(o.ag)
	}
	if x.toQueue != nil {
		in.dropList(x.toQueue)
	}
	if c := in.consult; c != nil {
		in.consult = nil
		c.drop(in)
		c.lastActivity = e.now
		ev := e.inEvent(EvConsultEnded, in, a)
		ev.Target = string(c.cfg.ID)
		e.emitIn(ev, in, a)
		e.emit(Unassigned{Interaction: in.id, Agent: c.cfg.ID, Reason: "consult_cancelled"})
		e.wantAgent(c)
		return nil
	}
	ev := e.inEvent(EvTransferFailed, in, a)
	ev.Reason = ReasonWithdrawn
	e.emitIn(ev, in, a)
	return nil
}
