package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/contactd/contactd/routing"
)

func TestRoutingFiguresAreExposedWithLintCleanNames(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	stats := routing.NewStats(nil)
	stats.Agents["alice"] = &routing.AgentCounters{Handled: 7}
	snap := func(context.Context) (Snapshot, error) {
		return Snapshot{
			Now: now,
			Queues: []routing.QueueView{{ID: "sales", Waiting: 3, Parked: 1, LongestWait: 90 * time.Second,
				Counters: routing.QueueCounters{Answered: 3, AnsweredInSL: 2, Abandoned: 1, AnswerWait: 30 * time.Second}}},
			Agents: []routing.AgentInfo{{ID: "alice", State: routing.StateBusy, StateSince: now.Add(-time.Minute)}},
			Stats:  stats,
		}, nil
	}
	reg := prometheus.NewRegistry()
	New(reg, snap, WithPerAgent())
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "cc_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	want := `
# HELP cc_queue_waiting Interactions waiting in the queue (offered included, parked excluded).
# TYPE cc_queue_waiting gauge
cc_queue_waiting{queue="sales"} 3
# HELP cc_queue_longest_wait_seconds How long the longest-waiting interaction has waited.
# TYPE cc_queue_longest_wait_seconds gauge
cc_queue_longest_wait_seconds{queue="sales"} 90
# HELP cc_queue_service_level_ratio Answered within the threshold / (answered + abandoned + timed out), since the log began.
# TYPE cc_queue_service_level_ratio gauge
cc_queue_service_level_ratio{queue="sales"} 0.5
# HELP cc_agent_state_seconds Time the agent has been in the current state.
# TYPE cc_agent_state_seconds gauge
cc_agent_state_seconds{agent="alice"} 60
# HELP cc_agent_handled_total Interactions the agent handled to the end.
# TYPE cc_agent_handled_total counter
cc_agent_handled_total{agent="alice"} 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cc_queue_waiting", "cc_queue_longest_wait_seconds",
		"cc_queue_service_level_ratio", "cc_agent_state_seconds", "cc_agent_handled_total"); err != nil {
		t.Fatal(err)
	}
}

func TestNoAgentLoginIsALabelValueUnlessPerAgentSeriesAreAskedFor(t *testing.T) {
	snap := func(context.Context) (Snapshot, error) {
		return Snapshot{Now: time.Now(), Agents: []routing.AgentInfo{{ID: "alice.login", State: routing.StateBusy}}, Stats: routing.NewStats(nil)}, nil
	}
	reg := prometheus.NewRegistry()
	New(reg, snap)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	agents := false
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "cc_agent_") {
			t.Errorf("%s is exposed without WithPerAgent", mf.GetName())
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "alice.login" {
					t.Errorf("%s has the login as the value of label %s", mf.GetName(), l.GetName())
				}
			}
		}
		if mf.GetName() == "cc_agents" {
			agents = true
		}
	}
	if !agents {
		t.Error("cc_agents (agents by state) is missing")
	}
}

func TestAFailedSnapshotIsCountedNotFatal(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, func(context.Context) (Snapshot, error) { return Snapshot{}, errors.New("loop stopped") })
	for range 2 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cc_routing_scrape_errors_total Scrapes that could not read the routing state.
# TYPE cc_routing_scrape_errors_total counter
cc_routing_scrape_errors_total 3
`), "cc_routing_scrape_errors_total"); err != nil {
		t.Fatal(err)
	}
}
