package signaling

import (
	"testing"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling/callplan"
)

// The conversation's roles and the call's legs reach the plan as they are.
func TestACallGivesThePlanItsRolesLegsAndHandOver(t *testing.T) {
	alice, bob := chat.AgentSender("alice"), chat.AgentSender("bob")
	c := newCall("c1", time.Now(), true, nil)
	c.legs[chat.SenderVisitor] = &callLeg{up: true}
	c.legs[alice] = &callLeg{up: false}
	c.leaving = routing.AgentID("alice")
	c.talking = time.Now()
	in := c.planInput(map[chat.Sender]chat.Role{chat.SenderVisitor: chat.RoleVisitor, alice: chat.RoleOwner, bob: chat.RoleConsult, "agent:sup": "observer"}, true)
	want := callplan.Input{
		Roles:   map[callplan.Party]callplan.Role{"visitor": callplan.Visitor, "agent:alice": callplan.Owner, "agent:bob": callplan.Consult, "agent:sup": callplan.None},
		Held:    true,
		Leaving: "agent:alice",
		Talked:  true,
		Legs:    map[callplan.Party]bool{"visitor": true, "agent:alice": false},
	}
	if in.Ended || in.Held != want.Held || in.Leaving != want.Leaving || in.Talked != want.Talked ||
		len(in.Roles) != len(want.Roles) || len(in.Legs) != len(want.Legs) {
		t.Fatalf("got %+v, want %+v", in, want)
	}
	for p, r := range want.Roles {
		if in.Roles[p] != r {
			t.Fatalf("%s is %s, want %s", p, in.Roles[p], r)
		}
	}
	for p, up := range want.Legs {
		if got, ok := in.Legs[p]; !ok || got != up {
			t.Fatalf("leg of %s: up=%t (there: %t), want %t", p, got, ok, up)
		}
	}
	c.ended = true
	if !c.planInput(nil, false).Ended {
		t.Fatal("an ended call's plan is not ended")
	}
}

// Browser legs do what the plan says on the media engine, also through a
// wrapper (tests wrap legs to hold an offer).
func TestBrowserLegsHearAndBridgeOnTheEngine(t *testing.T) {
	eng, err := media.New(media.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	legs := BrowserLegsOn(eng)
	mk := func(id string) BrowserLeg {
		l, err := legs.NewBrowserLeg(id, media.LegHandler{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	v, a := mk("v"), mk("a")
	wrapped := struct{ BrowserLeg }{mk("b")}
	var b callplan.Board
	apply := func(in callplan.Input) {
		b.Apply(callplan.Decide(in), map[callplan.Party]callplan.Leg{"visitor": v, "agent:a": a, "agent:b": wrapped})
	}
	roles := map[callplan.Party]callplan.Role{"visitor": callplan.Visitor, "agent:a": callplan.Owner}
	up := map[callplan.Party]bool{"visitor": true}
	apply(callplan.Input{Roles: roles, Legs: up})
	if s := v.MediaLeg().Stats(); s.Sound != media.SoundRingback {
		t.Fatalf("queued, the visitor hears %v", s.Sound)
	}
	up["agent:a"] = true
	apply(callplan.Input{Roles: roles, Legs: up})
	if s := v.MediaLeg().Stats(); s.BridgedTo != "a" {
		t.Fatalf("connected, the visitor hears %q/%v", s.BridgedTo, s.Sound)
	}
	apply(callplan.Input{Roles: roles, Legs: up, Held: true, Talked: true})
	if s, sa := v.MediaLeg().Stats(), a.MediaLeg().Stats(); s.Sound != media.SoundMusic || s.BridgedTo != "" || sa.BridgedTo != "" || sa.Sound != media.SoundSilence {
		t.Fatalf("held: the visitor hears %q/%v, the agent %q/%v", s.BridgedTo, s.Sound, sa.BridgedTo, sa.Sound)
	}
	roles["agent:b"], up["agent:b"] = callplan.Consult, true
	apply(callplan.Input{Roles: roles, Legs: up, Talked: true})
	if s := wrapped.MediaLeg().Stats(); s.BridgedTo != "a" {
		t.Fatalf("consulting, the colleague (a wrapped leg) hears %q/%v", s.BridgedTo, s.Sound)
	}
}
