package routing

import (
	"time"
)

// QueueCounters are a queue's statistics since the log began. All are
// computed from events alone, so replaying the event log rebuilds them.
type QueueCounters struct {
	Waiting      int64         // waiting now (parked included)
	Entered      int64         // interactions that entered the queue
	Offers       int64         // offers made to agents
	Answered     int64         // accepted or taken from the parked list
	AnsweredInSL int64         // answered within the service-level threshold
	Abandoned    int64         // the customer left while waiting
	TimedOut     int64         // left after the queue's maximum wait
	NoAgents     int64         // left because nobody was logged in
	Closed       int64         // closed at a restart
	Transferred  int64         // transferred away by an agent
	Handled      int64         // ended after being answered
	AnswerWait   time.Duration // total wait of the answered ones
	HandleTime   time.Duration // total handle time of the handled ones
}

// ServiceLevel is the share of interactions answered within the threshold
// among those that finished waiting by being answered, abandoned or timing
// out: AnsweredInSL / (Answered + Abandoned + TimedOut). It is 1 when none
// did.
func (c QueueCounters) ServiceLevel() float64 {
	d := c.Answered + c.Abandoned + c.TimedOut
	if d == 0 {
		return 1
	}
	return float64(c.AnsweredInSL) / float64(d)
}

// AverageSpeedOfAnswer is AnswerWait / Answered.
func (c QueueCounters) AverageSpeedOfAnswer() time.Duration {
	if c.Answered == 0 {
		return 0
	}
	return c.AnswerWait / time.Duration(c.Answered)
}

// AverageHandleTime is HandleTime / Handled.
func (c QueueCounters) AverageHandleTime() time.Duration {
	if c.Handled == 0 {
		return 0
	}
	return c.HandleTime / time.Duration(c.Handled)
}

// AgentCounters are an agent's statistics since the log began.
type AgentCounters struct {
	Offers   int64 // offers received
	Accepted int64 // offers accepted and parked interactions taken
	Declined int64
	Missed   int64 // offers let lapse
	Handled  int64 // interactions ended while with the agent
}

// Stats folds events into counters. It is what the engine keeps live and
// what a replay of the stored event log rebuilds.
type Stats struct {
	sl     func(QueueID) time.Duration
	Queues map[QueueID]*QueueCounters
	Agents map[AgentID]*AgentCounters
}

// NewStats returns empty statistics; sl gives each queue's service-level
// threshold (nil: DefaultServiceLevel for every queue).
func NewStats(sl func(QueueID) time.Duration) *Stats {
	if sl == nil {
		sl = func(QueueID) time.Duration { return DefaultServiceLevel }
	}
	return &Stats{sl: sl, Queues: make(map[QueueID]*QueueCounters), Agents: make(map[AgentID]*AgentCounters)}
}

func (s *Stats) queue(id QueueID) *QueueCounters {
	c := s.Queues[id]
	if c == nil {
		c = &QueueCounters{}
		s.Queues[id] = c
	}
	return c
}

func (s *Stats) agent(id AgentID) *AgentCounters {
	c := s.Agents[id]
	if c == nil {
		c = &AgentCounters{}
		s.Agents[id] = c
	}
	return c
}

// Apply folds one event into the counters.
func (s *Stats) Apply(ev Event) {
	if ev.Type == EvAgentState {
		return
	}
	var ac *AgentCounters
	if ev.Agent != "" {
		ac = s.agent(ev.Agent)
	}
	s.apply(&ev, s.queue(ev.Queue), ac)
}

// apply folds ev into the counters of its queue and agent (ac is nil for
// events without an agent). The engine calls it with counters it keeps at
// hand; Apply looks them up.
func (s *Stats) apply(ev *Event, q *QueueCounters, ac *AgentCounters) {
	if ac == nil {
		ac = &AgentCounters{} // an event without an agent counts for no agent
	}
	switch ev.Type {
	case EvEntered:
		q.Entered++
		q.Waiting++
	case EvOffered:
		q.Offers++
		ac.Offers++
	case EvAccepted, EvTaken:
		q.Waiting--
		q.Answered++
		q.AnswerWait += ev.Wait
		if ev.Wait <= s.sl(ev.Queue) {
			q.AnsweredInSL++
		}
		ac.Accepted++
	case EvDeclined:
		ac.Declined++
	case EvOfferTimeout:
		ac.Missed++
	case EvAbandoned:
		q.Waiting--
		q.Abandoned++
	case EvTimedOut:
		q.Waiting--
		q.TimedOut++
	case EvNoAgents:
		q.Waiting--
		q.NoAgents++
	case EvClosed:
		q.Waiting--
		q.Closed++
	case EvTransferred:
		q.Transferred++
	case EvEnded:
		q.Handled++
		q.HandleTime += ev.Handle
		ac.Handled++
	}
}

// Clone returns a deep copy.
func (s *Stats) Clone() *Stats {
	c := NewStats(s.sl)
	for k, v := range s.Queues {
		cp := *v
		c.Queues[k] = &cp
	}
	for k, v := range s.Agents {
		cp := *v
		c.Agents[k] = &cp
	}
	return c
}
