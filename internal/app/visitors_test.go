package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
)

// openNow is how many interactions routing holds (waiting, absent,
// connected or in wrap-up).
func openNow(t *testing.T, a *App) int {
	var n int
	a.Router().Query(t.Context(), func(e *routing.Engine) { n = e.OpenInteractions() })
	return n
}

// fromAddress is an HTTP client whose connections come from ip (another
// loopback address), so the server sees another client.
func fromAddress(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

// newSession asks hc for a widget session and returns its status and
// conversation.
func newSession(t *testing.T, hc *http.Client, base, name string) (int, string, string) {
	body, _ := json.Marshal(map[string]any{"queue": "sales", "name": name})
	req, _ := http.NewRequest("POST", base+"/api/widget/session", bytes.NewReader(body))
	req.Header.Set("Origin", base)
	resp, err := hc.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Conversation, Token string }
	json.Unmarshal(b, &out)
	return resp.StatusCode, out.Conversation, out.Token
}

func TestADeclinedRequestWaitsForTheAgentWhoBecomesAvailable(t *testing.T) {
	_, base, alice, bob := chatWorld(t, testConfig(t, ""))
	bob.must("presence", map[string]any{"presence": "away", "reason": "Lunch"})
	alice2, _ := staff(t, base, "alice", "pw-alice") // a second desk of alice's
	conv, token := visitorSession(t, base, "sales", "Di")
	visitor(t, base, token)
	alice.waitFor("offer", map[string]any{"conversation": conv})
	alice2.waitFor("offer", map[string]any{"conversation": conv})
	alice.must("decline", map[string]any{"interaction": conv})
	// Both of alice's desks clear the offer.
	alice.waitFor("offer_ended", map[string]any{"interaction": conv, "reason": "declined"})
	alice2.waitFor("offer_ended", map[string]any{"interaction": conv, "reason": "declined"})
	// Bob is logged in, so it waits for him rather than going back to alice.
	bob.must("presence", map[string]any{"presence": "available"})
	bob.waitFor("offer", map[string]any{"conversation": conv})
	var n int
	for _, o := range alice.all("offer") {
		if o["conversation"] == conv {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("alice was offered the request %d times; it went back to her after she declined while bob could take it", n)
	}
}

func TestAVisitorWhoLeftAnAcceptedChatEndsItForTheAgentAfterTheGrace(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = 200 * time.Millisecond
	_, base, alice, _ := chatWorld(t, cfg)
	conv, _, vis := connected(t, base, alice)
	vis.close()
	alice.waitFor("message", map[string]any{"conversation": conv, "event": "left", "sender": "visitor"})
	alice.waitFor("message", map[string]any{"conversation": conv, "event": "ended"})
	alice.waitFor("wrapup", map[string]any{"conversation": conv}) // the sales queue has wrap-up
}

func TestAWidgetSessionThatNeverConnectsLeavesTheQueue(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = 200 * time.Millisecond
	a, base, alice, _ := chatWorld(t, cfg)
	alice.must("presence", map[string]any{"presence": "away", "reason": "Break"})
	alice.waitFor("state", map[string]any{"presence": "away"})
	ghost, _ := visitorSession(t, base, "sales", "Ghost")
	conv, token := visitorSession(t, base, "sales", "Real")
	v := visitor(t, base, token)
	// The ghost is not counted ahead of the visitor who is there.
	v.waitFor("position", map[string]any{"position": 1})
	alice.must("presence", map[string]any{"presence": "available"})
	if o := alice.waitFor("offer", nil); o["conversation"] != conv {
		t.Fatalf("offered %v, want the visitor who is there (%s), not %s", o["conversation"], conv, ghost)
	}
	alice.must("accept", map[string]any{"interaction": conv})
	// And after the grace it is gone for good.
	waitUntil(t, "the session that never connected left", func() bool { return openNow(t, a) == 1 })
	if o := alice.all("offer"); len(o) != 1 {
		t.Fatalf("offers %v, want only the visitor who is there", o)
	}
}

func TestAVisitorWhosePageClosedIsOfferedToNobody(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = time.Hour // nothing here waits for the grace
	_, base, alice, _ := chatWorld(t, cfg)
	alice.must("presence", map[string]any{"presence": "away", "reason": "Break"})
	conv, token := visitorSession(t, base, "sales", "Gone")
	v := visitor(t, base, token)
	v.waitFor("position", map[string]any{"position": 1})
	v.close()
	conv2, token2 := visitorSession(t, base, "sales", "There")
	v2 := visitor(t, base, token2)
	// The visitor who closed the page is not ahead of the one who is there.
	v2.waitFor("position", map[string]any{"position": 1})
	alice.must("presence", map[string]any{"presence": "available"})
	if o := alice.waitFor("offer", nil); o["conversation"] != conv2 {
		t.Fatalf("offered %v, want the visitor who is there (%s), not %s whose page closed", o["conversation"], conv2, conv)
	}
	// Back within the grace, the first visitor has its place and its offer.
	alice.must("accept", map[string]any{"interaction": conv2})
	visitor(t, base, token)
	alice.waitFor("offer", map[string]any{"conversation": conv})
}

func TestAFloodOfSessionsFromOneAddressDoesNotPushARealVisitorBack(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.WidgetSessionsPerAddress, cfg.WidgetSessionRate = signaling.DefaultSessionsPerAddress, signaling.DefaultSessionRate
	cfg.VisitorGrace = 300 * time.Millisecond
	a, base, alice, _ := chatWorld(t, cfg)
	alice.must("presence", map[string]any{"presence": "away", "reason": "Break"})
	alice.waitFor("state", map[string]any{"presence": "away"})

	// The real visitor from another address is there first.
	_, real1, tok1 := newSession(t, fromAddress("127.0.0.2"), base, "First")
	if real1 == "" {
		t.Fatal("no session for the real visitor")
	}
	v1 := visitor(t, base, tok1)
	v1.waitFor("position", map[string]any{"position": 1})

	// 6,000 sessions from one address, 16 at a time.
	flood := fromAddress("127.0.0.1")
	var made, refused atomic.Int64
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				switch st, _, _ := newSession(t, flood, base, fmt.Sprint("bot", i)); st {
				case http.StatusCreated:
					made.Add(1)
				case http.StatusTooManyRequests:
					refused.Add(1)
				default:
					t.Errorf("flood session %d: status %d", i, st)
				}
			}
		})
	}
	for i := range 6000 {
		work <- i
	}
	close(work)
	wg.Wait()
	// At most the rate's burst is made, and of those at most the cap of
	// 10 wait at once (the others left already, never connected).
	if made.Load() > signaling.DefaultSessionRate || made.Load()+refused.Load() != 6000 {
		t.Fatalf("the flood made %d sessions (%d refused), want at most %d", made.Load(), refused.Load(), signaling.DefaultSessionRate)
	}
	if n := openNow(t, a); n > 1+signaling.DefaultSessionsPerAddress {
		t.Fatalf("%d in routing after the flood, want at most the real visitor and the per-address cap", n)
	}

	// Another real visitor, from a third address, still gets a session
	// and is next: the flood's sessions never connected, they count ahead
	// of nobody.
	_, real2, tok2 := newSession(t, fromAddress("127.0.0.3"), base, "Second")
	if real2 == "" {
		t.Fatal("the second real visitor got no session after the flood")
	}
	v2 := visitor(t, base, tok2)
	if p := v2.waitFor("position", nil); p["position"] != 2.0 {
		t.Fatalf("the second real visitor is at position %v, want 2", p["position"])
	}
	alice.must("presence", map[string]any{"presence": "available"})
	if o := alice.waitFor("offer", nil); o["conversation"] != real1 {
		t.Fatalf("offered %v first, want the first real visitor %s", o["conversation"], real1)
	}
	alice.must("accept", map[string]any{"interaction": real1})
	if o := alice.waitFor("offer", nil); o["conversation"] != real2 {
		t.Fatalf("offered %v next, want the second real visitor %s", o["conversation"], real2)
	}
	// The flood's sessions leave after the grace.
	waitUntil(t, "only the two real visitors left in routing", func() bool { return openNow(t, a) == 2 })
}

func TestAVisitorWhoDoesNotReconnectAfterARestartHasLeft(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = 300 * time.Millisecond
	a, base, alice, _ := chatWorld(t, cfg)
	_, _, vis := connected(t, base, alice) // in a chat with alice
	alice.must("presence", map[string]any{"presence": "away", "reason": "Break"})
	_, token := visitorSession(t, base, "sales", "Queued")
	visitor(t, base, token).waitFor("position", nil)
	vis.close()
	a.Close()

	b := start(t, cfg, io.Discard)
	if n := openNow(t, b); n != 2 {
		t.Fatalf("%d interactions restored, want the chat and the queued one", n)
	}
	// Neither visitor comes back: both conversations end after the grace
	// (the chat's agent goes into wrap-up).
	waitUntil(t, "the visitors who did not come back left", func() bool {
		open, err := b.Store().ListOpenConversations(t.Context())
		return err == nil && len(open) == 0
	})
}
