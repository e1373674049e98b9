package app

import (
	"io"
	"testing"
	"time"

	"github.com/contactd/contactd/routing"
)

// After a restart no visitor is connected: a queued one is away (offered
// to nobody, not waiting in the supervisor's view) until its widget
// connects again, and then offered as before.
func TestAQueuedVisitorIsAwayAfterARestartUntilItReconnects(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = time.Hour // this test ends before it
	a, base, alice, _ := chatWorld(t, cfg)
	alice.must("presence", map[string]any{"presence": "away", "reason": "Break"})
	conv, token := visitorSession(t, base, "sales", "Queued")
	vis := visitor(t, base, token)
	vis.waitFor("position", nil)
	vis.close()
	alice.close()
	a.Close()

	b := start(t, cfg, io.Discard)
	setPassword(t, b, "alice", "pw-alice")
	base = "http://" + b.Addr()
	desk, _ := staff(t, base, "alice", "pw-alice")
	desk.must("presence", map[string]any{"presence": "available"})
	var sales routing.QueueView
	if err := b.Router().Query(t.Context(), func(e *routing.Engine) { sales = e.QueueViews()[0] }); err != nil {
		t.Fatal(err)
	}
	if sales.Waiting != 0 || sales.LongestWait != 0 || sales.AgentsAvailable != 1 {
		t.Fatalf("sales before the visitor is back: %+v; want nobody waiting for an available alice", sales)
	}
	visitor(t, base, token)
	desk.waitFor("offer", map[string]any{"conversation": conv})
}
