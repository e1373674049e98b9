package routing

// Queues: their configuration and the skills they know.

import (
	"slices"
)

func (e *Engine) setQueue(c QueueConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.WithDefaults()
	q := e.queues[c.ID]
	if q == nil {
		q = &queue{cfg: c, aht: c.DefaultHandleTime, dirtyList: &e.dirtyQ}
		e.queues[c.ID] = q
		e.tab.addQueue(q)
	} else {
		q.cfg = c
		q.invalidate()
		if q.ahtN == 0 {
			q.aht = c.DefaultHandleTime
		}
	}
	for _, a := range e.agents {
		e.tab.setMember(q, a, q.qualifies(a))
		e.wantAgent(a)
	}
	e.known = nil
	return nil
}

func (e *Engine) removeQueue(id QueueID) error {
	q, err := e.queue(id)
	if err != nil {
		return err
	}
	for _, in := range e.inters {
		if in.home == q || (in.xfer != nil && in.xfer.toQueue == q) {
			return errf(CodeWrongState, "queue %q still has interactions", id)
		}
	}
	for _, w := range slices.Clone(q.waiting.entries()) { // overflow entries from other queues
		in := e.slots[w.slot]
		in.dropList(q)
		if i := slices.Index(in.overflow, q); i >= 0 {
			in.overflow = slices.Delete(in.overflow, i, i+1)
		}
	}
	for _, ai := range slices.Clone(q.members) {
		e.tab.setMember(q, e.tab.agents[ai], false)
	}
	e.timers.remove(q.posT)
	q.gone = true
	e.tab.dropQueue(q)
	delete(e.queues, id)
	e.known = nil
	return nil
}

// knownSkill says whether any queue or agent mentions s.
func (e *Engine) knownSkill(s Skill) bool {
	if e.known == nil {
		e.known = make(map[Skill]bool)
		for _, q := range e.queues {
			for _, r := range q.cfg.Skills {
				e.known[r.Skill] = true
			}
			for _, st := range q.cfg.Steps {
				for _, r := range st.Skills {
					e.known[r.Skill] = true
				}
			}
		}
		for _, a := range e.agents {
			for _, s := range a.skills {
				e.known[s.s] = true
			}
		}
	}
	return e.known[s]
}
