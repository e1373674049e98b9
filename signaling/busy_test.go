package signaling

import (
	"testing"
	"time"

	"github.com/contactd/contactd/routing"
)

// A visitor whose request was declined reads "busy" again when its page
// reconnects while it waits, and not once an agent has it.
func TestTheBusyWordAfterADeclineIsToldAgainOnReconnect(t *testing.T) {
	e := newEdge(t, Config{})
	e.f.info = conversationOf
	e.s.hub.effect(&routing.Event{Type: routing.EvDeclined, Interaction: "c1", Agent: "ann"})
	v, _, err := e.dial(t, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	v.next("hello")
	v.next("busy")
	v.ws.CloseNow()

	e.s.hub.effect(&routing.InteractionInfo{ID: "c1", Status: routing.StatusConnected, Agent: "bob"})
	v, _, err = e.dial(t, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	v.next("hello")
	// Nothing more comes but what the visitor asks for: a probe's reply
	// arrives with no busy before it.
	v.sendRaw(`{"type":"no_such_type","id":"probe"}`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-v.in:
			if !ok {
				t.Fatal("the connection closed")
			}
			if m["type"] == "busy" {
				t.Fatal("busy told to a visitor an agent has")
			}
			if m["id"] == "probe" {
				return
			}
		case <-timeout:
			t.Fatal("no reply to the probe")
		}
	}
}
