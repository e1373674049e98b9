package routing

// Agents: their configuration and presence.

import (
	"fmt"
	"slices"
)

func (e *Engine) setAgent(c AgentConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.WithDefaults()
	a := e.agents[c.ID]
	if a == nil {
		a = &agent{presence: PresenceOffline, presenceSince: e.now, state: StateOffline, stateSince: e.now, lastActivity: e.now}
		a.holds = a.holdsBuf[:0]
		e.agents[c.ID] = a
		e.tab.addAgent(a)
	}
	a.setConfig(c)
	for _, q := range e.queues {
		e.tab.setMember(q, a, q.qualifies(a))
	}
	for _, qi := range a.queues {
		e.tab.queues[qi].invalidate() // capacity may have changed
	}
	e.wantAgent(a)
	e.known = nil
	return nil
}

func (e *Engine) removeAgent(id AgentID) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if len(a.holds) > 0 || a.offer != nil {
		return errf(CodeWrongState, "agent %q still holds interactions", id)
	}
	for _, qi := range slices.Clone(a.queues) {
		e.tab.setMember(e.tab.queues[qi], a, false)
	}
	a.ready = false
	a.gone = true
	e.tab.dropAgent(a)
	delete(e.agents, id)
	e.known = nil
	return nil
}

func (e *Engine) setPresenceCmd(c SetPresence) error {
	a, err := e.agent(c.Agent)
	if err != nil {
		return err
	}
	switch c.Presence {
	case PresenceAvailable, PresenceOffline:
		c.Reason = ""
	case PresenceAway:
		if len(c.Reason) > 200 {
			return invalid("away reason is longer than 200 bytes")
		}
	default:
		return invalid(fmt.Sprintf("presence %q is not one of available, away, offline", c.Presence))
	}
	e.setPresence(a, c.Presence, c.Reason)
	return nil
}

func (e *Engine) setPresence(a *agent, p Presence, reason string) {
	if a.presence == p && a.reason == reason {
		return
	}
	was := a.presence
	a.presence, a.reason, a.presenceSince = p, reason, e.now
	for _, qi := range a.queues {
		e.tab.queues[qi].invalidate()
	}
	e.event(Event{Type: EvAgentState, Agent: a.cfg.ID, State: p, Reason: Reason(reason)})
	e.touch(a)
	if p == PresenceAvailable {
		a.missed = 0
		a.lastActivity = e.now
		e.wantAgent(a)
		return
	}
	if in := a.offer; in != nil {
		e.endOffer(in, in.offerTo(a), ReasonWithdrawn)
	}
	if p == PresenceOffline && was != PresenceOffline {
		e.leaveIfNobody(a)
		e.rematchDeclined(a)
	}
}

// rematchDeclined looks again for an agent for the waiting interactions of
// a's queues that somebody declined or let lapse: a, who logged out, may
// have been the last one who could take them besides those agents, who
// are asked again now.
func (e *Engine) rematchDeclined(a *agent) {
	for _, qi := range a.queues {
		for _, w := range e.tab.queues[qi].waiting.entries() {
			if in := e.slots[w.slot]; len(in.skip) > 0 && len(in.offers) == 0 && !in.gone {
				e.wantMatch(in)
			}
		}
	}
}

// leaveIfNobody lets the waiting interactions of a's queues whose policy is
// leave go when none of their agents is logged in any more.
func (e *Engine) leaveIfNobody(a *agent) {
	for _, qi := range a.queues {
		q := e.tab.queues[qi]
		if q.cfg.NoAgents != NoAgentsLeave || e.tab.loggedIn(q) {
			continue
		}
		for _, w := range slices.Clone(q.waiting.entries()) {
			if in := e.slots[w.slot]; !w.foreign && !in.gone {
				e.leave(in, EvNoAgents, ReasonNoAgents)
			}
		}
	}
}
