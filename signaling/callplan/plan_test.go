package callplan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

const (
	vis   Party = "visitor"
	alice Party = "agent:alice"
	bob   Party = "agent:bob"
	carol Party = "agent:carol"
)

// hears renders a plan's Hears as "a>b a>music", sorted, for tables.
func hears(p Plan) string {
	var out []string
	for _, who := range sortedParties(p.Hears) {
		out = append(out, short(who)+">"+short(Party(p.Hears[who].String())))
	}
	return strings.Join(out, " ")
}

func short(p Party) string { s, _ := strings.CutPrefix(string(p), "agent:"); return s }

func roles(kv ...any) map[Party]Role {
	m := map[Party]Role{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(Party)] = kv[i+1].(Role)
	}
	return m
}

func legs(up ...Party) map[Party]bool {
	m := map[Party]bool{}
	for _, p := range up {
		if s, ok := strings.CutSuffix(string(p), "~"); ok { // "~": the leg exists, not up yet
			m[Party(s)] = false
		} else {
			m[p] = true
		}
	}
	return m
}

func TestTheCallPlanSaysWhoHearsWhom(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    Input
		state State
		hears string
	}{
		{"a queued visitor hears ringback",
			Input{Roles: roles(vis, Visitor), Legs: legs(vis)}, Waiting, "visitor>ringback"},
		{"a queued visitor whose leg is not up yet hears nothing",
			Input{Roles: roles(vis, Visitor), Legs: legs("visitor~")}, Waiting, ""},
		{"an owner whose leg is not up yet leaves the visitor on ringback",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs(vis, "agent:alice~")}, Waiting, "visitor>ringback"},
		{"visitor and owner connected",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs(vis, alice)}, Connected, "alice>visitor visitor>alice"},
		{"an owner whose visitor's leg is not up (a reload) hears silence",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs("visitor~", alice), Talked: true}, Waiting, "alice>silence"},
		{"an owner with a visitor who has no leg (voice not started) hears silence",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs(alice)}, Waiting, "alice>silence"},
		{"on hold the visitor hears music and the owner silence",
			Input{Roles: roles(vis, Visitor, alice, Owner), Held: true, Legs: legs(vis, alice)}, Held, "alice>silence visitor>music"},
		{"on hold before the owner's leg is up",
			Input{Roles: roles(vis, Visitor, alice, Owner), Held: true, Legs: legs(vis)}, Held, "visitor>music"},
		{"a consulted colleague with no leg yet: music and silence",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Legs: legs(vis, alice), Talked: true}, Consulting, "alice>silence visitor>music"},
		{"the consulted colleague's leg is up: owner and colleague talk",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Legs: legs(vis, alice, bob), Talked: true}, Consulting, "alice>bob bob>alice visitor>music"},
		{"a consultation on hold: owner and colleague talk",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Held: true, Legs: legs(vis, alice, bob)}, Held, "alice>bob bob>alice visitor>music"},
		{"a consultation while the visitor reloads: the agents talk",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Legs: legs("visitor~", alice, bob)}, Waiting, "alice>bob bob>alice"},
		{"a consultation with only the colleague up: the colleague hears silence",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Consult), Legs: legs(vis, bob)}, Consulting, "bob>silence visitor>music"},
		{"transfer complete: the visitor hears the new owner, not the one leaving",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Owner), Leaving: alice, Legs: legs(vis, alice, bob), Talked: true}, Connected, "alice>silence bob>visitor visitor>bob"},
		{"transfer complete, the leaving owner sorted last",
			Input{Roles: roles(vis, Visitor, carol, Owner, bob, Owner), Leaving: carol, Legs: legs(vis, carol, bob), Talked: true}, Connected, "bob>visitor carol>silence visitor>bob"},
		{"transfer complete before the new owner's leg is up: music, not the old owner",
			Input{Roles: roles(vis, Visitor, alice, Owner, bob, Owner), Leaving: alice, Legs: legs(vis, alice), Talked: true}, Waiting, "alice>silence visitor>music"},
		{"transfer complete and the old owner gone: the new owner talks",
			Input{Roles: roles(vis, Visitor, bob, Owner), Legs: legs(vis, alice, bob), Talked: true}, Connected, "alice>silence bob>visitor visitor>bob"},
		{"a blind transfer under way: the visitor hears music",
			Input{Roles: roles(vis, Visitor), Legs: legs(vis), Talked: true}, Waiting, "visitor>music"},
		{"transfer cancelled: the colleague's leg hears silence until it closes",
			Input{Roles: roles(vis, Visitor, alice, Owner), Legs: legs(vis, alice, bob), Talked: true}, Connected, "alice>visitor bob>silence visitor>alice"},
		{"transfer cancelled on hold",
			Input{Roles: roles(vis, Visitor, alice, Owner), Held: true, Legs: legs(vis, alice, bob)}, Held, "alice>silence bob>silence visitor>music"},
		{"an agent who left hears silence",
			Input{Roles: roles(vis, Visitor), Legs: legs(vis, alice)}, Waiting, "alice>silence visitor>ringback"},
		{"ended: nobody hears anything",
			Input{Ended: true, Roles: roles(vis, Visitor, alice, Owner), Legs: legs(vis, alice)}, Ended, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(tc.in)
			if p.State != tc.state || hears(p) != tc.hears {
				t.Fatalf("got %s %q, want %s %q", p.State, hears(p), tc.state, tc.hears)
			}
		})
	}
}

// Every combination of the conversation's state and its legs, checked
// against the rules that hold whatever the case.
func TestTheCallPlanKeepsItsRulesInEveryState(t *testing.T) {
	n := 0
	legStates := []string{"none", "down", "up"}
	for _, ended := range []bool{false, true} {
		for _, held := range []bool{false, true} {
			for _, talked := range []bool{false, true} {
				for _, owners := range []string{"none", "alice", "alice+bob leaving alice", "alice+bob leaving bob"} {
					for _, consult := range []bool{false, true} {
						for _, vl := range legStates {
							for _, al := range legStates {
								for _, bl := range legStates {
									for _, cl := range legStates {
										in := Input{Ended: ended, Held: held, Talked: talked, Roles: roles(vis, Visitor), Legs: map[Party]bool{}}
										switch owners {
										case "alice":
											in.Roles[alice] = Owner
										case "alice+bob leaving alice":
											in.Roles[alice], in.Roles[bob], in.Leaving = Owner, Owner, alice
										case "alice+bob leaving bob":
											in.Roles[alice], in.Roles[bob], in.Leaving = Owner, Owner, bob
										}
										if consult {
											in.Roles[carol] = Consult
										}
										for p, s := range map[Party]string{vis: vl, alice: al, bob: bl, carol: cl} {
											if s != "none" {
												in.Legs[p] = s == "up"
											}
										}
										name := fmt.Sprintf("ended=%t held=%t talked=%t owners=%s consult=%t legs=%v", ended, held, talked, owners, consult, in.Legs)
										checkRules(t, name, in, Decide(in))
										n++
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n != 2*2*2*4*2*81 {
		t.Fatalf("checked %d cases", n)
	}
}

func checkRules(t *testing.T, name string, in Input, p Plan) {
	t.Helper()
	fail := func(f string, a ...any) {
		t.Helper()
		t.Fatalf("%s: %s; got %s %q", name, fmt.Sprintf(f, a...), p.State, hears(p))
	}
	if in.Ended {
		if p.State != Ended || len(p.Hears) != 0 {
			fail("an ended call must leave every leg alone")
		}
		return
	}
	// Exactly the legs that are up are told something.
	for who, up := range in.Legs {
		if _, ok := p.Hears[who]; ok != up {
			fail("%s (up=%t) told=%t", who, up, ok)
		}
	}
	if len(p.Hears) != len(slices.Collect(func(yield func(Party) bool) {
		for who, up := range in.Legs {
			if up && !yield(who) {
				return
			}
		}
	})) {
		fail("a party without a leg up is told something")
	}
	owner := ""
	for _, who := range sortedParties(in.Roles) {
		if in.Roles[who] == Owner && (owner == "" || Party(owner) == in.Leaving) {
			owner = string(who)
		}
	}
	consulting := slices.Contains(slices.Collect(maps.Values(in.Roles)), Consult)
	for who, h := range p.Hears {
		if h.Party == "" {
			continue
		}
		// Bridges are symmetric and between two legs that are up.
		if back := p.Hears[h.Party]; back.Party != who {
			fail("%s hears %s who hears %s", who, h.Party, back)
		}
		if h.Party == who {
			fail("%s hears itself", who)
		}
		// The visitor hears the owner who stays, only when not held and
		// nobody is consulted.
		if who == vis && (string(h.Party) != owner || in.Held || consulting) {
			fail("the visitor hears %s", h.Party)
		}
		// Agents talk to each other only owner with consult.
		if who != vis && h.Party != vis && !(string(who) == owner && in.Roles[h.Party] == Consult || string(h.Party) == owner && in.Roles[who] == Consult) {
			fail("%s hears %s", who, h.Party)
		}
		// Whoever is not a participant, or is leaving, talks to nobody.
		if r := in.Roles[who]; r == None || (who == in.Leaving && owner != string(who)) {
			fail("%s (not in the call) hears %s", who, h.Party)
		}
	}
	vh, vup := p.Hears[vis]
	switch {
	case !in.Legs[vis]:
		if p.State != Waiting {
			fail("a call with no visitor up is waiting")
		}
	case in.Held:
		if p.State != Held || vh.Tone != Music || vh.Party != "" {
			fail("a held visitor hears music")
		}
	case consulting:
		if p.State != Consulting || vh.Tone != Music || vh.Party != "" {
			fail("a visitor hears music during a consultation")
		}
	case owner != "" && in.Legs[Party(owner)]:
		if p.State != Connected || vh.Party != Party(owner) {
			fail("visitor and owner are connected")
		}
	default:
		want := Ringback
		if in.Talked {
			want = Music
		}
		if !vup || p.State != Waiting || vh.Party != "" || vh.Tone != want {
			fail("a waiting visitor hears %s", want)
		}
	}
	// Owner and colleague talk whenever the visitor cannot hear the owner.
	if consulting && owner != "" && in.Legs[Party(owner)] && in.Legs[carol] && p.Hears[carol].Party != Party(owner) {
		fail("owner and colleague, both up, do not talk")
	}
	// Music and ringback are for the visitor only.
	for who, h := range p.Hears {
		if who != vis && h.Party == "" && h.Tone != Silence {
			fail("%s hears %s", who, h.Tone)
		}
	}
}
