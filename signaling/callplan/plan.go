// Package callplan decides who hears whom in a call, and applies that to
// the call's legs.
//
// Decide is a pure function: from the conversation's state (its
// participants and their roles, hold, a hand-over under way, whether the
// visitor talked to an agent already) and the legs that are up, it returns
// the call's state and, for every leg that is up, what it hears: another
// party's leg, ringback, music, or silence. A Board applies plans to legs:
// it remembers what each leg was last told and changes only what differs.
//
// Nothing here knows what kind a leg is. A browser's WebRTC leg and a
// phone's plain RTP leg are two implementations of Leg; a SIP call joins
// the same plan by adding its leg under a party.
package callplan

import (
	"slices"
)

// Party names who a leg belongs to: the visitor or an agent (the
// conversation's sender names: "visitor", "agent:alice").
type Party string

// Role is a party's part in the conversation, as far as the call cares.
type Role int

// Roles.
const (
	// None: not (or no longer) a participant, e.g. an agent who left
	// after a transfer whose leg is not closed yet.
	None Role = iota
	// Visitor: the customer.
	Visitor
	// Owner: the agent handling the conversation. During a hand-over two
	// agents are owners for a moment; the one leaving is Input.Leaving.
	Owner
	// Consult: the colleague of a warm transfer, before the hand-over.
	Consult
)

func (r Role) String() string {
	switch r {
	case Visitor:
		return "visitor"
	case Owner:
		return "owner"
	case Consult:
		return "consult"
	}
	return "none"
}

// State is the call's state as participants are told ("call" messages).
type State string

// States.
const (
	Waiting    State = "waiting"   // the visitor has no agent on the line
	Connected  State = "connected" // visitor and owner hear each other
	Held       State = "held"      // on hold: music for the visitor
	Consulting State = "consult"   // the owner talks to a colleague; music for the visitor
	Ended      State = "ended"
)

// Tone is what a leg hears when it hears no other leg.
type Tone int

// Tones.
const (
	Silence Tone = iota
	Ringback
	Music
)

func (t Tone) String() string {
	switch t {
	case Ringback:
		return "ringback"
	case Music:
		return "music"
	}
	return "silence"
}

// Hear is what one leg hears: the leg of Party when it is set, else Tone.
type Hear struct {
	Party Party
	Tone  Tone
}

func (h Hear) String() string {
	if h.Party != "" {
		return string(h.Party)
	}
	return h.Tone.String()
}

// Input is everything the plan depends on.
type Input struct {
	// Ended: the call is over; nobody hears anything.
	Ended bool
	// Roles are the conversation's participants. Parties with a leg and
	// no role here hear silence.
	Roles map[Party]Role
	// Held: the conversation is on hold.
	Held bool
	// Leaving is an owner who handed the conversation over and is about
	// to leave: the other owner is the one the visitor hears.
	Leaving Party
	// Talked: the visitor and an owner were connected once, so a visitor
	// with no agent on the line hears music (a transfer), not ringback.
	Talked bool
	// Legs are the parties that have a leg, and whether it is up (media
	// flows). A leg that is not up is left alone: it hears nothing and is
	// heard by nobody.
	Legs map[Party]bool
}

// Plan is the outcome of Decide.
type Plan struct {
	State State
	// Hears has an entry for every leg that is up. Bridges are symmetric:
	// when a hears b, b hears a.
	Hears map[Party]Hear
}

// Decide returns who hears whom. The rules, first match wins:
//
//   - ended: nobody hears anything (the legs are closing);
//   - the visitor's leg is not up: waiting; the owner and a consulted
//     colleague, both up, talk to each other; anybody else hears silence;
//   - on hold: held; the visitor hears music, owner and colleague talk
//     when both are up;
//   - a colleague is consulted (warm transfer): consult; as on hold;
//   - the owner's leg is up: connected; visitor and owner talk;
//   - otherwise waiting: the visitor hears ringback (queued) or music (it
//     talked to an agent before: a transfer under way).
//
// Every other leg that is up hears silence.
func Decide(in Input) Plan {
	p := Plan{Hears: map[Party]Hear{}}
	if in.Ended {
		p.State = Ended
		return p
	}
	var visitor, owner, consult Party
	consulting := false
	for _, who := range sortedParties(in.Roles) {
		switch in.Roles[who] {
		case Visitor:
			if visitor == "" {
				visitor = who
			}
		case Owner:
			// The owner who stays wins over the one leaving.
			if owner == "" || owner == in.Leaving {
				owner = who
			}
		case Consult:
			consulting = true
			if consult == "" {
				consult = who
			}
		}
	}
	up := func(who Party) bool { return who != "" && in.Legs[who] }
	bridge := func(a, b Party) {
		p.Hears[a], p.Hears[b] = Hear{Party: b}, Hear{Party: a}
	}
	tone := func(who Party, t Tone) {
		if up(who) {
			p.Hears[who] = Hear{Tone: t}
		}
	}
	// The owner and the colleague talk while the visitor cannot hear them.
	agentsTalk := func() {
		if up(owner) && up(consult) {
			bridge(owner, consult)
		}
	}
	switch {
	case !up(visitor):
		p.State = Waiting
		agentsTalk()
	case in.Held:
		p.State = Held
		tone(visitor, Music)
		agentsTalk()
	case consulting:
		p.State = Consulting
		tone(visitor, Music)
		agentsTalk()
	case up(owner):
		p.State = Connected
		bridge(visitor, owner)
	default:
		p.State = Waiting
		if in.Talked {
			tone(visitor, Music)
		} else {
			tone(visitor, Ringback)
		}
	}
	for who, isUp := range in.Legs {
		if _, told := p.Hears[who]; isUp && !told {
			p.Hears[who] = Hear{Tone: Silence}
		}
	}
	return p
}

func sortedParties[V any](m map[Party]V) []Party {
	out := make([]Party, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
