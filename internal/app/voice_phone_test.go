package app

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/callplan"
)

// phoneLeg stands in for a phone's plain RTP leg: a leg kind that is not
// a browser's. It records what the call plan asks of it.
type phoneLeg struct {
	mu    sync.Mutex
	asked []string
	gain  float64
	wake  chan struct{}
}

func newPhoneLeg() *phoneLeg { return &phoneLeg{wake: make(chan struct{}, 1)} }

func (p *phoneLeg) note(s string) {
	p.mu.Lock()
	p.asked = append(p.asked, s)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *phoneLeg) Hear(t callplan.Tone) { p.note("hear " + t.String()) }
func (p *phoneLeg) Bridge(o callplan.Leg) {
	name := fmt.Sprintf("%T", o)
	if m, ok := o.(interface{ MediaLeg() *media.Leg }); ok {
		name = m.MediaLeg().ID()
	}
	p.note("bridge " + name)
}
func (p *phoneLeg) SetOutputGain(g float64) {
	p.mu.Lock()
	p.gain = g
	p.mu.Unlock()
}
func (p *phoneLeg) Close() { p.note("close") }

// last is the last thing asked of the leg.
func (p *phoneLeg) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.asked) == 0 {
		return ""
	}
	return p.asked[len(p.asked)-1]
}

func (p *phoneLeg) waitLast(t *testing.T, what string, ok func(string) bool) {
	t.Helper()
	waitUntilOr(t, what, func() bool { return ok(p.last()) }, func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return fmt.Sprintf("the phone leg was asked %q", p.asked)
	})
}

var _ signaling.Leg = (*phoneLeg)(nil)

// A leg of another kind (a SIP phone's, here a fake) joins a browser
// visitor's call through signaling.Leg: the same plan bridges, holds and
// ends it, with no change to the plan.
func TestALegThatIsNotABrowsersJoinsTheSameCallPlan(t *testing.T) {
	a, base, alice, _ := chatWorld(t, testConfig(t, ""))
	conv, token := visitorSessionOn(t, base, "sales", "Vic", "voice")
	vis := visitor(t, base, token)
	v := joinCall(t, vis, conv, 0xA1)
	vis.waitFor("call", map[string]any{"state": "waiting"})
	alice.waitFor("offer", map[string]any{"conversation": conv})
	alice.must("accept", map[string]any{"interaction": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})

	// A stranger's phone is refused, as a stranger's offer is.
	stranger := newPhoneLeg()
	if _, err := a.edges.AddLeg(t.Context(), store.ConversationID(conv), chat.AgentSender("mallory"), stranger); err == nil || stranger.last() != "close" {
		t.Fatalf("a stranger's leg: %v, asked %q", err, stranger.asked)
	}

	phone := newPhoneLeg()
	rep, err := a.edges.AddLeg(t.Context(), store.ConversationID(conv), chat.AgentSender("alice"), phone)
	if err != nil {
		t.Fatal(err)
	}
	rep.Up()
	vis.waitFor("call", map[string]any{"state": "connected"})
	phone.waitLast(t, "the phone bridged to the visitor", func(s string) bool { return strings.HasPrefix(s, "bridge "+conv+"/visitor/") })

	alice.must("hold", map[string]any{"conversation": conv})
	vis.waitFor("call", map[string]any{"state": "held"})
	phone.waitLast(t, "the phone hears silence on hold", func(s string) bool { return s == "hear silence" })
	v.hears("music on hold", 0, 20)
	alice.must("unhold", map[string]any{"conversation": conv})
	vis.waitFor("call", map[string]any{"state": "connected"})
	phone.waitLast(t, "the phone bridged again", func(s string) bool { return strings.HasPrefix(s, "bridge "+conv+"/visitor/") })

	alice.must("call_gain", map[string]any{"conversation": conv, "gain": 2})
	phone.mu.Lock()
	g := phone.gain
	phone.mu.Unlock()
	if g != 2 {
		t.Fatalf("the phone's gain is %v", g)
	}

	// The phone's audio stops: the call ends and the legs close.
	rep.Ended(media.CauseMediaTimeout)
	if m := vis.waitFor("call", map[string]any{"state": "ended"}); m["cause"] != media.CauseMediaTimeout {
		t.Fatalf("the call ended with %v", m)
	}
	phone.waitLast(t, "the phone leg closed", func(s string) bool { return s == "close" })
	waitUntil(t, "the visitor's leg closed", func() bool { return a.media.Legs() == 0 })
}
