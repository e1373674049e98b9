package routing

import "slices"

// setChannel carries out SetChannel; its comment gives the rules.
func (e *Engine) setChannel(id InteractionID, ch Channel, back bool) error {
	if ch == "" {
		return invalid("channel is empty")
	}
	in, err := e.interaction(id)
	if err != nil {
		return err
	}
	if in.status == stWrapUp || in.status == stEnded {
		return errf(CodeWrongState, "interaction %q has already ended", id)
	}
	if in.ch == ch {
		return nil
	}
	// The agents on it: the owner and, during a warm transfer's
	// consultation, the consulted colleague. Both must have room.
	var holders [2]*agent
	if in.status == stConnected {
		holders[0], holders[1] = in.owner, in.consult
		for _, a := range holders {
			if a == nil || back {
				continue
			}
			if err := roomToSwitch(a, ch); err != nil {
				return err
			}
		}
	}
	// Nothing fails from here on.
	var target *agent // a transfer to an agent that was being offered
	if x := in.xfer; x != nil && x.toAgent != nil && in.offerTo(x.toAgent) != nil {
		target = x.toAgent
	}
	for _, o := range slices.Clone(in.offers) {
		e.endOffer(in, o, ReasonWithdrawn)
	}
	in.ch = ch
	for _, q := range in.lists {
		q.touch() // the estimate depends on the channel's slots
	}
	e.emitIn(e.inEvent(EvChannelChanged, in, in.owner), in, in.owner)
	e.changed(in)
	for _, a := range holders {
		if a == nil {
			continue
		}
		if x := a.offer; x != nil && offerConflicts(a, x, ch) {
			e.dropOffer(x, x.offerTo(a))
		}
		a.lastInfo = infoKey{} // Active changed: push the agent's info
		e.wantAgent(a)         // room freed on the old channel
	}
	switch {
	case in.routable():
		e.wantMatch(in)
	case target != nil && in.xfer != nil:
		if target.freeFor(ch) {
			e.offer(target, in, in.home, true, in.xfer.mode == TransferWarm)
			return nil
		}
		x := in.xfer
		in.xfer = nil
		ev := e.inEvent(EvTransferFailed, in, x.from)
		ev.Target, ev.Reason = string(target.cfg.ID), ReasonWithdrawn
		e.emitIn(ev, in, x.from)
	}
	return nil
}

// roomToSwitch says why a cannot hold one more interaction on ch, counting
// only the interactions a holds (a pending offer gives way).
func roomToSwitch(a *agent, ch Channel) error {
	c := a.capacity(ch)
	if c == 0 {
		return errf(CodeNotEligible, "agent %s takes no %s", a.cfg.ID, ch)
	}
	n := 0
	for _, h := range a.holds {
		if h.ch == ch {
			n++
		}
	}
	if n >= c {
		return errf(CodeNoCapacity, "agent %s has no free %s capacity", a.cfg.ID, ch)
	}
	return nil
}

// offerConflicts says whether a's pending offer of x no longer fits now
// that an interaction a holds moved to ch.
func offerConflicts(a *agent, x *interaction, ch Channel) bool {
	if x.ch == ch {
		n, _ := a.used(ch) // holds and the offer
		return n > a.capacity(ch)
	}
	return ch == ChannelVoice && x.ch == ChannelChat && a.cfg.VoiceBlocksChat
}

// dropOffer withdraws o, a pending offer of in that can no longer stand. A
// transfer to an agent whose offer is withdrawn fails, as if declined; a
// waiting interaction is routed elsewhere.
func (e *Engine) dropOffer(in *interaction, o *offer) {
	x := in.xfer
	e.endOffer(in, o, ReasonWithdrawn)
	if o.xfer && x != nil && x.toAgent == o.ag {
		in.xfer = nil
		ev := e.inEvent(EvTransferFailed, in, x.from)
		ev.Target, ev.Reason = string(o.ag.cfg.ID), ReasonWithdrawn
		e.emitIn(ev, in, x.from)
	}
}
