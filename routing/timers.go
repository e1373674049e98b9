package routing

// Timers: the engine's clock, arming and firing offer, wait, step and wrap-up timers.

import (
	"slices"
	"time"
)

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

func (e *Engine) armWaitTimers(in *interaction) {
	if q := in.home; q.cfg.MaxWait > 0 {
		in.waitT = e.arm(&in.waitTm, in.arrNs+int64(q.cfg.MaxWait), tMaxWait, in, nil)
	}
	e.armStep(in)
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
		if !in.absent || in.status != stWaiting {
			in.addToList(fq)
		}
		if log {
			ev := e.inEvent(EvOverflowed, in, nil)
			ev.Target, ev.Step = string(fq.cfg.ID), int(in.step)
			e.emitIn(ev, in, nil)
		}
	}
}
