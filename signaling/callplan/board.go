package callplan

// Leg is a party's voice leg as the plan drives it. A browser's WebRTC
// leg and a phone's plain RTP leg are two implementations; legs of one
// call must be able to bridge to each other whatever their kind. Legs are
// compared with ==, so an implementation is a pointer or another
// comparable value.
type Leg interface {
	// Hear makes the leg hear t instead of what it heard; the leg it was
	// bridged to stops hearing it (and hears nothing).
	Hear(t Tone)
	// Bridge makes the leg and other hear each other; the legs they were
	// bridged to before hear nothing.
	Bridge(other Leg)
}

// told is what a leg was last told: a partner leg, or a tone.
type told struct {
	partner Leg
	tone    Tone
}

// Board applies plans to legs. It remembers what every leg was told and,
// for a new plan, tells only the legs whose part changed, so music or
// ringback that goes on is not restarted and a bridge that stays is not
// touched. A Board belongs to one call; its caller serializes Apply.
type Board struct {
	told map[Leg]told
}

// Apply makes legs hear what p says. legs maps parties to their current
// leg (a party's leg may be replaced, e.g. after a browser reload); a
// party in p with no leg here is skipped. Legs the board knew that are no
// longer in p (closed, or not up) are forgotten; a leg that was bridged to
// one of them is told again what to hear, whatever its kind did when its
// partner went away.
func (b *Board) Apply(p Plan, legs map[Party]Leg) {
	if b.told == nil {
		b.told = map[Leg]told{}
	}
	current := map[Leg]bool{}
	for who := range p.Hears {
		if l := legs[who]; l != nil {
			current[l] = true
		}
	}
	for l, t := range b.told {
		if !current[l] {
			delete(b.told, l)
			if t.partner != nil && b.told[t.partner].partner == l {
				delete(b.told, t.partner)
			}
		}
	}
	// Tones first, then bridges; in the parties' order, so what happens
	// does not depend on map order.
	order := sortedParties(p.Hears)
	for _, who := range order {
		h, l := p.Hears[who], legs[who]
		if l == nil || h.Party != "" {
			continue
		}
		if t, ok := b.told[l]; !ok || t.partner != nil || t.tone != h.Tone {
			l.Hear(h.Tone)
			b.forget(l)
			b.told[l] = told{tone: h.Tone}
		}
	}
	for _, who := range order {
		h, l := p.Hears[who], legs[who]
		o := legs[h.Party]
		if l == nil || h.Party == "" || o == nil {
			continue
		}
		if b.told[l].partner == o && b.told[o].partner == l {
			continue
		}
		l.Bridge(o)
		b.forget(l)
		b.forget(o)
		b.told[l], b.told[o] = told{partner: o}, told{partner: l}
	}
}

// forget drops what l was told; whoever was bridged to l hears nothing
// now (that is what a leg does when its partner leaves it).
func (b *Board) forget(l Leg) {
	if t, ok := b.told[l]; ok && t.partner != nil {
		if b.told[t.partner].partner == l {
			b.told[t.partner] = told{tone: Silence}
		}
	}
	delete(b.told, l)
}
