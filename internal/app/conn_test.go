package app

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
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
	// The baseline, once the closed keep-alive connections are gone: the
	// count no longer changes over 100 ms (nothing signals their end).
	settled := func() int {
		g := runtime.NumGoroutine()
		for range 100 {
			time.Sleep(100 * time.Millisecond)
			prev := g
			if g = runtime.NumGoroutine(); g == prev {
				break
			}
		}
		return g
	}
	before := settled()
	for _, tok := range tokens {
		v := visitor(t, base, tok) // a client goroutine reads each
		v.must("resume", map[string]any{"after": 0})
	}
	// Each visitor: the test's reader and the server's reader. Allow a few
	// for timers firing meanwhile. (GoroutinesAtMost fails with every
	// goroutine's stack.)
	testutil.GoroutinesAtMost(t, before+2*n+5)
}
