package app

import (
	"net/http"
	"runtime"
	"testing"
	"time"
)

// An idle WebSocket costs the server one goroutine (its reader): the writer
// runs only while there is something to send, the heartbeat is a timer,
// and the HTTP handler returns after the upgrade.
func TestAnIdleConnectionCostsTheServerOneGoroutine(t *testing.T) {
	_, base, _, _ := chatWorld(t, testConfig(t, ""))
	const n = 50
	tokens := make([]string, n)
	for i := range tokens {
		_, tokens[i] = visitorSession(t, base, "sales", "Idle")
	}
	http.DefaultClient.CloseIdleConnections()
	// settled waits until the count is at most limit, or stops changing.
	settled := func(limit int) int {
		g := runtime.NumGoroutine()
		for deadline := time.Now().Add(10 * time.Second); g > limit && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			prev := g
			if g = runtime.NumGoroutine(); g == prev && limit == 0 {
				break
			}
		}
		return g
	}
	before := settled(0) // once the closed keep-alive connections are gone
	for _, tok := range tokens {
		v := visitor(t, base, tok) // a client goroutine reads each
		v.must("resume", map[string]any{"after": 0})
	}
	// Each visitor: the test's reader and the server's reader. Allow a few
	// for timers firing meanwhile.
	if got := settled(before + 2*n + 5); got > before+2*n+5 {
		t.Fatalf("%d idle connections added %d goroutines, want at most %d (two per connection, one on each side)", n, got-before, 2*n+5)
	}
}
