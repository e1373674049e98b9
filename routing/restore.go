package routing

import (
	"fmt"
	"time"
)

// RestoreState is what a restart brings back from the store.
type RestoreState struct {
	// LastSeq is the highest stored event number; new events go on from it.
	LastSeq int64
	Queues  []QueueConfig
	Agents  []AgentRestore
	// Interactions are the open ones, highest priority first, then by the
	// time they entered their queue.
	Interactions []InteractionInfo
	// Stats, when not nil, are the counters replayed from the event log.
	Stats *Stats
	// Absent are the interactions whose customer is away at restore (as
	// SetAbsent): waiting or parked, they are offered to nobody, counted
	// ahead of nobody and left out of Waiting and LongestWait until
	// SetAbsent says the customer is back. Whether a customer was away is
	// not stored: after a restart of the process that holds the customers'
	// connections nobody is connected, so the caller lists every
	// interaction whose customer connects through it.
	Absent map[InteractionID]bool
}

// AgentRestore is an agent with the presence it had chosen.
type AgentRestore struct {
	Config   AgentConfig
	Presence Presence
	Reason   string
	Since    time.Time
}

// Restore rebuilds an empty engine after a restart. Waiting and parked
// interactions come back in order with their waiting time (steps that fell
// due meanwhile apply at once; an overdue maximum wait fires on the next
// input). Offers are not restored, so no agent stays offered: the
// interactions are offered again. Connected interactions come back to their
// agent. What cannot be restored (its queue or agent is gone) is closed with
// reason restart; an interaction in wrap-up is finished.
func (e *Engine) Restore(now time.Time, s RestoreState) error {
	if len(e.queues) > 0 || len(e.agents) > 0 || e.nOpen > 0 {
		return errf(CodeWrongState, "restore needs an empty engine")
	}
	e.setNow(now)
	e.seq = s.LastSeq
	if s.Stats != nil {
		e.stats = s.Stats
		e.stats.sl = e.serviceLevel
	}
	for _, q := range s.Queues {
		if err := e.setQueue(q); err != nil {
			return fmt.Errorf("restore queue %s: %w", q.ID, err)
		}
	}
	for _, ar := range s.Agents {
		if err := e.setAgent(ar.Config); err != nil {
			return fmt.Errorf("restore agent %s: %w", ar.Config.ID, err)
		}
		a := e.agents[ar.Config.ID]
		switch ar.Presence {
		case PresenceAvailable, PresenceAway:
			a.presence, a.reason = ar.Presence, ar.Reason
		}
		a.presenceSince = ar.Since
		a.lastActivity = ar.Since
	}
	for _, info := range s.Interactions {
		e.restoreInteraction(info, s.Absent[info.ID])
	}
	for _, q := range e.queues {
		c := e.stats.queue(q.cfg.ID)
		c.Waiting = 0
	}
	for _, in := range e.inters {
		if in.status == stWaiting || in.status == stParked {
			e.stats.queue(in.home.cfg.ID).Waiting++
		}
	}
	for _, a := range e.agents {
		e.wantAgent(a)
	}
	e.settle()
	return nil
}

func (e *Engine) restoreInteraction(info InteractionInfo, absent bool) {
	q := e.queues[info.Queue]
	closeIt := func(t EventType, a AgentID) {
		ev := Event{Type: t, Interaction: info.ID, Queue: info.Queue, Channel: info.Channel, Agent: a, Reason: ReasonRestart}
		if t == EvEnded && !info.AcceptedAt.IsZero() {
			ev.Handle = e.now.Sub(info.AcceptedAt)
		} else {
			ev.Wait = e.now.Sub(info.EnqueuedAt)
			e.emit(Left{Interaction: info.ID, Queue: info.Queue, Reason: ReasonRestart})
		}
		e.event(ev)
		info.Status, info.EndedAt, info.EndReason = StatusEnded, e.now, ReasonRestart
		e.putInfo(info)
	}
	if info.ID == "" || e.lookup(info.ID) != nil {
		return
	}
	switch info.Status {
	case StatusWaiting, StatusParked:
		if q == nil {
			closeIt(EvClosed, "")
			return
		}
	case StatusConnected:
		a := e.agents[info.Agent]
		if q == nil || a == nil {
			closeIt(EvEnded, info.Agent)
			return
		}
	case StatusWrapUp:
		info.Status = StatusEnded
		e.putInfo(info)
		return
	default:
		return
	}
	e.order++
	in := e.newInteraction()
	in.id, in.ch, in.home, in.own, in.preferred = info.ID, info.Channel, q, info.Skills, info.PreferredAgent
	in.prio, in.arrNs, in.order, in.status, in.lastPos = info.Priority, e.clock(info.EnqueuedAt), e.order, parseStatus(info.Status), -1
	in.accNs = e.clock(info.AcceptedAt)
	in.req = joinReqs(q.cfg.Skills, in.own)
	e.open(in)
	switch info.Status {
	case StatusConnected:
		a := e.agents[info.Agent]
		in.owner = a
		a.holds = append(a.holds, in)
		return
	case StatusWaiting:
		in.absent = absent
		if !in.absent {
			in.addToList(q)
		}
	case StatusParked:
		in.absent = absent
		e.parked++
	}
	for int(in.step) < len(q.cfg.Steps) && in.arrNs+int64(q.cfg.Steps[in.step].After) <= e.nowNs {
		e.applyStep(in, false)
	}
	if in.status == stParked {
		in.removeFromLists()
	}
	e.armWaitTimers(in)
	if in.status == stWaiting && !in.absent {
		e.wantMatch(in)
	}
}
