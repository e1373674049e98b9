package routing

// Views: what supervisors and the edges read of the engine's state.

import (
	"slices"
	"time"
)

// QueueView is a queue as a supervisor sees it.
type QueueView struct {
	ID              QueueID
	Name            string
	Waiting         int // waiting for an offer or offered; parked and absent (customer not connected) excluded
	Parked          int
	LongestWait     time.Duration // of those counted in Waiting and Parked
	AgentsLoggedIn  int
	AgentsAvailable int // with free capacity and presence available
	HandleEstimate  time.Duration
	ServiceLevelT   time.Duration
	Counters        QueueCounters
}

// QueueViews returns every queue's live view, ordered by id.
func (e *Engine) QueueViews() []QueueView {
	views := make([]QueueView, 0, len(e.queues))
	longest := make(map[*queue]int64)
	parked := make(map[*queue]int)
	for _, in := range e.inters {
		if in.status != stWaiting && in.status != stParked {
			continue
		}
		if in.status == stWaiting && in.absent {
			continue // not there: waiting for nobody (as in Waiting)
		}
		if in.status == stParked {
			parked[in.home]++
		}
		if t, ok := longest[in.home]; !ok || in.arrNs < t {
			longest[in.home] = in.arrNs
		}
	}
	for _, q := range e.queues {
		v := QueueView{ID: q.cfg.ID, Name: q.cfg.Name, Parked: parked[q], HandleEstimate: q.aht, ServiceLevelT: q.cfg.ServiceLevel}
		if c := e.stats.Queues[q.cfg.ID]; c != nil {
			v.Counters = *c
		}
		v.Waiting = q.waiting.len() - q.foreign
		if t, ok := longest[q]; ok {
			v.LongestWait = e.since(t)
		}
		for _, ai := range q.members {
			a := e.tab.agents[ai]
			if a.presence != PresenceOffline {
				v.AgentsLoggedIn++
			}
			if a.presence == PresenceAvailable && a.offer == nil && a.derive() != StateBusy {
				v.AgentsAvailable++
			}
		}
		views = append(views, v)
	}
	slices.SortFunc(views, func(a, b QueueView) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return views
}

// AgentViews returns every agent's state, ordered by id.
func (e *Engine) AgentViews() []AgentInfo {
	out := make([]AgentInfo, 0, len(e.agents))
	for _, a := range e.agents {
		if s := a.derive(); s != a.state {
			a.state, a.stateSince = s, e.now
		}
		out = append(out, e.agentInfo(a))
	}
	slices.SortFunc(out, func(x, y AgentInfo) int {
		if x.ID < y.ID {
			return -1
		}
		if x.ID > y.ID {
			return 1
		}
		return 0
	})
	return out
}

// Now is the engine's current time: the latest time it was given.
func (e *Engine) Now() time.Time { return e.now }

// OpenInteractions counts the interactions routing still holds: waiting,
// parked, connected or in wrap-up.
func (e *Engine) OpenInteractions() int { return e.nOpen }
