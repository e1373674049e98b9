package routing

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// harness drives an Engine with a hand-moved clock and keeps its effects.
type harness struct {
	t    *testing.T
	e    *Engine
	now  time.Time
	effs []Effect
	all  []Effect
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{t: t, e: NewEngine(EngineConfig{PositionInterval: -1}), now: t0}
}

func (h *harness) do(c Command) error {
	h.t.Helper()
	err := h.e.Apply(h.now, c)
	h.e.Flush()
	out := h.e.Drain()
	h.effs = append(h.effs, out...)
	h.all = append(h.all, out...)
	return err
}

func (h *harness) must(cs ...Command) {
	h.t.Helper()
	for _, c := range cs {
		if err := h.do(c); err != nil {
			h.t.Fatalf("%T%+v: %v", c, c, err)
		}
	}
}

// wantErr applies c, expects an error with code, and checks that nothing
// changed: no effect and the same state dump.
func (h *harness) wantErr(c Command, code Code) {
	h.t.Helper()
	before := h.e.dump()
	h.effs = nil
	err := h.do(c)
	var re *Error
	if !errors.As(err, &re) || re.Code != code {
		h.t.Fatalf("%T%+v: got error %v, want code %s", c, c, err, code)
	}
	if !errors.Is(err, &Error{Code: code}) {
		h.t.Fatalf("errors.Is does not match code %s", code)
	}
	if len(h.effs) != 0 {
		h.t.Fatalf("%T failed but produced effects %+v", c, h.effs)
	}
	if after := h.e.dump(); after != before {
		h.t.Fatalf("%T failed but changed the state:\nbefore %s\nafter  %s", c, before, after)
	}
}

func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.must(Tick{})
}

func (h *harness) clear() { h.effs = nil }

func (h *harness) queue(c QueueConfig) { h.t.Helper(); h.must(SetQueue{Config: c}) }

// agent adds an available agent with the given skills (level 5 each
// unless written "skill:level") and default capacity.
func (h *harness) agent(id string, skills ...string) {
	h.t.Helper()
	sk := map[Skill]int{}
	for _, s := range skills {
		name, lvl, ok := strings.Cut(s, ":")
		n := 5
		if ok {
			n, _ = strconv.Atoi(lvl)
		}
		sk[Skill(name)] = n
	}
	h.must(SetAgent{Config: AgentConfig{ID: AgentID(id), Skills: sk}}, SetPresence{Agent: AgentID(id), Presence: PresenceAvailable})
}

func (h *harness) enqueue(id, q string, ch Channel) {
	h.t.Helper()
	h.must(Enqueue{Interaction: InteractionID(id), Queue: QueueID(q), Channel: ch})
}

// offers returns the offers made since the last clear, as "interaction>agent".
func (h *harness) offers() []string {
	var out []string
	for _, f := range h.effs {
		if o, ok := f.(Offer); ok {
			out = append(out, string(o.Interaction)+">"+string(o.Agent))
		}
	}
	return out
}

func (h *harness) wantOffers(want ...string) {
	h.t.Helper()
	got := h.offers()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("offers: got %v, want %v", got, want)
	}
	h.clear()
}

func effectsOf[T Effect](effs []Effect) []T {
	var out []T
	for _, f := range effs {
		if x, ok := f.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func (h *harness) events(t EventType) []Event {
	var out []Event
	for _, ev := range derefs(effectsOf[*Event](h.effs)) {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

// dump is a compact rendering of the engine state for "nothing changed"
// checks.
func (e *Engine) dump() string {
	s := fmt.Sprintf("seq=%d parked=%d timers=%d|", e.seq, e.parked, len(e.timers))
	for _, q := range e.QueueViews() {
		s += fmt.Sprintf("q %s w=%d p=%d c=%+v|", q.ID, q.Waiting, q.Parked, q.Counters)
	}
	for _, a := range e.AgentViews() {
		s += fmt.Sprintf("a %s %s %s %v %s|", a.ID, a.Presence, a.State, a.Active, a.Offered)
	}
	var ids []InteractionID
	for id := range e.inters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		in := e.lookup(id)
		s += fmt.Sprintf("i %s %s %d offers=%d skip=%v|", id, in.status, in.prio, len(in.offers), in.skip)
	}
	return s
}

func derefs[T any](ps []*T) []T {
	out := make([]T, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}
