package callplan

import (
	"fmt"
	"strings"
	"testing"
)

// fakeLeg behaves as media's legs do: a leg hears one thing; Bridge and
// Hear unhook the legs' former partners, who then hear nothing.
type fakeLeg struct {
	name    string
	partner *fakeLeg
	tone    Tone
	calls   []string // what the board asked of this leg
}

func (l *fakeLeg) detach() {
	if p := l.partner; p != nil {
		p.partner, l.partner = nil, nil
		p.tone = Silence
	}
	l.tone = Silence
}

func (l *fakeLeg) Hear(t Tone) {
	l.calls = append(l.calls, "hear "+t.String())
	l.detach()
	l.tone = t
}

func (l *fakeLeg) Bridge(other Leg) {
	o := other.(*fakeLeg)
	l.calls = append(l.calls, "bridge "+o.name)
	l.detach()
	o.detach()
	l.partner, o.partner = o, l
}

// hearing is what the leg really hears now.
func (l *fakeLeg) hearing() string {
	if l.partner != nil {
		return l.partner.name
	}
	return l.tone.String()
}

type world struct {
	legs map[Party]*fakeLeg
}

func (w *world) leg(p Party) *fakeLeg {
	if w.legs[p] == nil {
		w.legs[p] = &fakeLeg{name: string(p)}
	}
	return w.legs[p]
}

func (w *world) asLegs() map[Party]Leg {
	m := map[Party]Leg{}
	for p, l := range w.legs {
		m[p] = l
	}
	return m
}

// calls returns and clears what the board asked of the legs.
func (w *world) calls() string {
	var out []string
	for _, p := range sortedParties(w.legs) {
		for _, c := range w.legs[p].calls {
			out = append(out, string(p)+": "+c)
		}
		w.legs[p].calls = nil
	}
	return strings.Join(out, ", ")
}

// A sequence of plans, as a call goes through its life: after each the
// legs hear what the plan says, and only the legs whose part changed were
// touched.
func TestTheBoardChangesOnlyWhatTheNewPlanChanges(t *testing.T) {
	w := &world{legs: map[Party]*fakeLeg{}}
	var b Board
	steps := []struct {
		name  string
		in    Input
		calls string
	}{
		{"the visitor's leg comes up in the queue",
			Input{Roles: roles(vis, Visitor), Legs: legs(vis)},
			"visitor: hear ringback"},
		{"the same plan again changes nothing",
			Input{Roles: roles(vis, Visitor), Legs: legs(vis)},
			""},
		{"an agent accepts; her leg is not up yet",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs(vis, "agent:alice~")},
			""},
		{"her leg comes up: bridged once",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs(vis, alice)},
			"agent:alice: bridge visitor"},
		{"hold",
			Input{Roles: roles(vis, Visitor, alice, Owner), Held: true, Talked: true, Legs: legs(vis, alice)},
			"agent:alice: hear silence, visitor: hear music"},
		{"a colleague joins on hold: the music goes on, not restarted",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Held: true, Talked: true, Legs: legs(vis, alice, "agent:bob~")},
			""},
		{"the colleague's leg comes up: the agents talk, the music goes on",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Held: true, Talked: true, Legs: legs(vis, alice, bob)},
			"agent:alice: bridge agent:bob"},
		{"resume during the consultation: nothing changes for the legs",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Talked: true, Legs: legs(vis, alice, bob)},
			""},
		{"hand-over: the visitor hears the new owner; the old one silence",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Owner), Leaving: alice, Talked: true, Legs: legs(vis, alice, bob)},
			"agent:alice: hear silence, agent:bob: bridge visitor"},
		{"the old owner's leg closes",
			Input{Roles: roles(vis, Visitor, bob, Owner), Talked: true, Legs: legs(vis, bob)},
			""},
		{"the visitor reloads: the old leg is down",
			Input{Roles: roles(vis, Visitor, bob, Owner), Talked: true, Legs: legs("visitor~", bob)},
			"agent:bob: hear silence"},
	}
	for _, st := range steps {
		if strings.HasSuffix(st.name, "reloads: the old leg is down") {
			// media unhooks a leg that ended: its partner hears nothing.
			w.legs[vis].detach()
		}
		if strings.HasSuffix(st.name, "old owner's leg closes") {
			w.legs[alice].detach()
			delete(w.legs, alice)
		}
		for p := range st.in.Legs {
			w.leg(p)
		}
		p := Decide(st.in)
		b.Apply(p, w.asLegs())
		if got := w.calls(); got != st.calls {
			t.Fatalf("%s: the legs were asked %q, want %q", st.name, got, st.calls)
		}
		checkHearing(t, st.name, w, p)
	}
	// The visitor's new leg replaces the old one: it is bridged at once.
	w.legs[vis] = &fakeLeg{name: "visitor(new)"}
	in := Input{Roles: roles(vis, Visitor, bob, Owner), Talked: true, Legs: legs(vis, bob)}
	p := Decide(in)
	b.Apply(p, w.asLegs())
	if got := w.calls(); got != "agent:bob: bridge visitor(new)" {
		t.Fatalf("a replaced leg: the legs were asked %q", got)
	}
	if w.legs[bob].hearing() != "visitor(new)" || w.legs[vis].hearing() != "agent:bob" {
		t.Fatalf("a replaced leg: bob hears %s, the visitor %s", w.legs[bob].hearing(), w.legs[vis].hearing())
	}
}

func checkHearing(t *testing.T, step string, w *world, p Plan) {
	t.Helper()
	for who, h := range p.Hears {
		want := h.String()
		if h.Party != "" {
			want = w.legs[h.Party].name
		}
		if got := w.legs[who].hearing(); got != want {
			t.Fatalf("%s: %s hears %s, want %s", step, who, got, want)
		}
	}
}

// From every plan to every other, the legs end up hearing what the new
// plan says, whatever they heard before.
func TestTheBoardReachesAnyPlanFromAnyOther(t *testing.T) {
	var inputs []Input
	for _, held := range []bool{false, true} {
		for _, r := range []map[Party]Role{
			roles(vis, Visitor),
			roles(vis, Visitor, alice, Owner),
			roles(vis, Visitor, alice, Owner, bob, Consult),
			roles(vis, Visitor, alice, Owner, bob, Owner),
			roles(vis, Visitor, bob, Owner),
		} {
			for mask := range 8 {
				l := map[Party]bool{}
				for i, p := range []Party{vis, alice, bob} {
					l[p] = mask&(1<<i) != 0
				}
				inputs = append(inputs, Input{Roles: r, Held: held, Leaving: alice, Talked: true, Legs: l})
			}
		}
	}
	for i, from := range inputs {
		for j, to := range inputs {
			w := &world{legs: map[Party]*fakeLeg{}}
			for _, p := range []Party{vis, alice, bob} {
				w.leg(p)
			}
			var b Board
			b.Apply(Decide(from), w.asLegs())
			// A leg that is down was unhooked by media.
			for p, up := range to.Legs {
				if !up {
					w.legs[p].detach()
				}
			}
			pt := Decide(to)
			b.Apply(pt, w.asLegs())
			checkHearing(t, fmt.Sprintf("from %d %s to %d %s", i, hears(Decide(from)), j, hears(pt)), w, pt)
			// Applying it again asks nothing.
			w.calls()
			b.Apply(pt, w.asLegs())
			if got := w.calls(); got != "" {
				t.Fatalf("the same plan again asked %q", got)
			}
		}
	}
}
