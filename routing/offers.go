package routing

// Offers: making one, and the agent's answers (accept, decline, park) or its lapse.

import (
	"slices"
)

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
	e.emit(OfferEnded{Interaction: in.id, Agent: a.cfg.ID, Reason: ReasonDeclined})
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
	e.emit(OfferEnded{Interaction: in.id, Agent: a.cfg.ID, Reason: ReasonParked})
	e.changed(in)
	e.wantAgent(a)
	return nil
}
