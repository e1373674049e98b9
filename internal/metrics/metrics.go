// Package metrics owns contactd's Prometheus collectors. Everything is in
// the namespace "cc", in base units (seconds), with "_total" only on
// counters. Label values come from fixed vocabularies: queue ids are
// configured by the administrator, states and operations are enums; never
// a visitor, interaction or phone number. Agent logins label the per-agent
// series (cc_agent_*) only when WithPerAgent asks for them.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/contactd/contactd/routing"
)

const ns = "cc"

// Snapshot is what the routing collector reads at each scrape.
type Snapshot struct {
	Now    time.Time
	Queues []routing.QueueView
	Agents []routing.AgentInfo
	Stats  *routing.Stats
}

// SnapshotFunc takes a snapshot of routing, or fails (the loop stopped, the
// scrape timed out).
type SnapshotFunc func(ctx context.Context) (Snapshot, error)

// Metrics holds the collectors updated by the process itself; routing
// figures are read at scrape time through a SnapshotFunc.
type Metrics struct {
	StoreErrors     *prometheus.CounterVec
	RecorderBacklog prometheus.Gauge
	StoreWrite      *prometheus.HistogramVec
	ChatBatch       prometheus.Histogram
	Draining        prometheus.Gauge
}

// Option adjusts what New collects.
type Option func(*routingCollector)

// WithPerAgent adds the per-agent series (cc_agent_state,
// cc_agent_state_seconds, cc_agent_handled_total), labelled with agent
// logins. Off by default: logins are personal data, and one series per
// agent grows with the staff.
func WithPerAgent() Option { return func(c *routingCollector) { c.perAgent = true } }

// New registers every collector on reg.
func New(reg prometheus.Registerer, snap SnapshotFunc, opts ...Option) *Metrics {
	rc := &routingCollector{snap: snap}
	for _, o := range opts {
		o(rc)
	}
	m := &Metrics{
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "store", Name: "errors_total",
			Help: "Store operations that failed (and were retried), by operation.",
		}, []string{"op"}),
		RecorderBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: "store", Name: "backlog_effects",
			Help: "Routing effects waiting to be written to the store.",
		}),
		StoreWrite: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "store", Name: "write_seconds",
			Help:    "Time to commit one batch to the store, by operation: append_events (routing effects), chat_commit (a group commit of chat messages and conversations, retries included).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		ChatBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "store", Name: "chat_batch_writes",
			Help:    "Writes (messages and new conversations) held by one chat group commit.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		Draining: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "draining",
			Help: "1 while the process is shutting down and takes no new interactions.",
		}),
	}
	for _, op := range []string{"append_events", "interaction", "presence"} {
		m.StoreErrors.WithLabelValues(op) // series exist from the start, at 0
	}
	m.StoreWrite.WithLabelValues("append_events")
	m.StoreWrite.WithLabelValues("chat_commit")
	reg.MustRegister(m.StoreErrors, m.RecorderBacklog, m.StoreWrite, m.ChatBatch, m.Draining,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		rc)
	return m
}

func desc(sub, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, sub, name), help, labels, nil)
}

var (
	dWaiting     = desc("queue", "waiting", "Interactions waiting in the queue (offered included, parked excluded).", "queue")
	dParked      = desc("queue", "parked", "Interactions parked in the shared communication queue.", "queue")
	dLongest     = desc("queue", "longest_wait_seconds", "How long the longest-waiting interaction has waited.", "queue")
	dLoggedIn    = desc("queue", "agents_logged_in", "Agents of the queue who are logged in (available or away).", "queue")
	dAvailable   = desc("queue", "agents_available", "Agents of the queue who could be offered an interaction now.", "queue")
	dSL          = desc("queue", "service_level_ratio", "Answered within the threshold / (answered + abandoned + timed out), since the log began.", "queue")
	dSLT         = desc("queue", "service_level_threshold_seconds", "The queue's service-level answer-time threshold.", "queue")
	dAHTEst      = desc("queue", "handle_time_estimate_seconds", "Recent average handle time used for estimated waits.", "queue")
	dEntered     = desc("queue", "entered_total", "Interactions that entered the queue.", "queue")
	dOffers      = desc("queue", "offers_total", "Offers made to agents.", "queue")
	dAnswered    = desc("queue", "answered_total", "Interactions answered (accepted or taken from the parked list).", "queue")
	dAnsweredSL  = desc("queue", "answered_within_threshold_total", "Interactions answered within the service-level threshold.", "queue")
	dLeft        = desc("queue", "left_total", "Interactions that left the queue unanswered, by reason.", "queue", "reason")
	dTransferred = desc("queue", "transferred_total", "Interactions transferred away by an agent.", "queue")
	dHandled     = desc("queue", "handled_total", "Interactions answered and ended.", "queue")
	dAnswerWait  = desc("queue", "answer_wait_seconds_total", "Total waiting time of answered interactions (divide by answered_total for the average speed of answer).", "queue")
	dHandleTime  = desc("queue", "handle_seconds_total", "Total handle time of handled interactions (divide by handled_total for the average handle time).", "queue")
	dAgents      = desc("", "agents", "Agents by state.", "state")
	dAgentState  = desc("agent", "state", "1 for the agent's current state, 0 for the others.", "agent", "state")
	dAgentSince  = desc("agent", "state_seconds", "Time the agent has been in the current state.", "agent")
	dAgentDone   = desc("agent", "handled_total", "Interactions the agent handled to the end.", "agent")
	dScrapeErr   = desc("routing", "scrape_errors_total", "Scrapes that could not read the routing state.")
)

var agentStates = []routing.AgentState{routing.StateOffline, routing.StateAvailable, routing.StateAway, routing.StateBusy, routing.StateWrapUp}

type routingCollector struct {
	snap     SnapshotFunc
	perAgent bool
	errors   float64
}

func (c *routingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dWaiting, dParked, dLongest, dLoggedIn, dAvailable, dSL, dSLT, dAHTEst, dEntered,
		dOffers, dAnswered, dAnsweredSL, dLeft, dTransferred, dHandled, dAnswerWait, dHandleTime, dAgents, dScrapeErr} {
		ch <- d
	}
	if c.perAgent {
		ch <- dAgentState
		ch <- dAgentSince
		ch <- dAgentDone
	}
}

func (c *routingCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.snap(ctx)
	if err != nil {
		c.errors++
		ch <- prometheus.MustNewConstMetric(dScrapeErr, prometheus.CounterValue, c.errors)
		return
	}
	ch <- prometheus.MustNewConstMetric(dScrapeErr, prometheus.CounterValue, c.errors)
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, q := range s.Queues {
		id := string(q.ID)
		k := q.Counters
		gauge(dWaiting, float64(q.Waiting), id)
		gauge(dParked, float64(q.Parked), id)
		gauge(dLongest, q.LongestWait.Seconds(), id)
		gauge(dLoggedIn, float64(q.AgentsLoggedIn), id)
		gauge(dAvailable, float64(q.AgentsAvailable), id)
		gauge(dSL, k.ServiceLevel(), id)
		gauge(dSLT, q.ServiceLevelT.Seconds(), id)
		gauge(dAHTEst, q.HandleEstimate.Seconds(), id)
		counter(dEntered, float64(k.Entered), id)
		counter(dOffers, float64(k.Offers), id)
		counter(dAnswered, float64(k.Answered), id)
		counter(dAnsweredSL, float64(k.AnsweredInSL), id)
		counter(dLeft, float64(k.Abandoned), id, string(routing.ReasonAbandoned))
		counter(dLeft, float64(k.TimedOut), id, string(routing.ReasonTimeout))
		counter(dLeft, float64(k.NoAgents), id, string(routing.ReasonNoAgents))
		counter(dLeft, float64(k.Closed), id, string(routing.ReasonRestart))
		counter(dTransferred, float64(k.Transferred), id)
		counter(dHandled, float64(k.Handled), id)
		counter(dAnswerWait, k.AnswerWait.Seconds(), id)
		counter(dHandleTime, k.HandleTime.Seconds(), id)
	}
	byState := map[routing.AgentState]int{}
	for _, a := range s.Agents {
		byState[a.State]++
		if !c.perAgent {
			continue
		}
		for _, st := range agentStates {
			v := 0.0
			if a.State == st {
				v = 1
			}
			gauge(dAgentState, v, string(a.ID), string(st))
		}
		gauge(dAgentSince, s.Now.Sub(a.StateSince).Seconds(), string(a.ID))
		var handled int64
		if s.Stats != nil {
			if c := s.Stats.Agents[a.ID]; c != nil {
				handled = c.Handled
			}
		}
		counter(dAgentDone, float64(handled), string(a.ID))
	}
	for _, st := range agentStates {
		gauge(dAgents, float64(byState[st]), string(st))
	}
}
