package routing

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWaitListMatchesASlice applies random inserts and deletes, biased to
// the ends as in real use, to a waitList and to a plain slice, and checks
// they always hold the same entries.
func TestWaitListMatchesASlice(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var l waitList
		var ref []waitEntry
		for step := range 3000 {
			n := len(ref)
			pick := func(limit int) int {
				switch r.IntN(4) {
				case 0:
					return 0
				case 1:
					return limit
				default:
					return r.IntN(limit + 1)
				}
			}
			if n > 0 && r.IntN(5) < 2 {
				i := pick(n - 1)
				l.delete(i)
				ref = slices.Delete(ref, i, i+1)
			} else {
				i := pick(n)
				w := waitEntry{order: uint64(step), slot: int32(step)}
				l.insert(i, w)
				ref = slices.Insert(ref, i, w)
			}
			if l.len() != len(ref) || !slices.Equal(l.entries(), ref) {
				t.Fatalf("seed %d step %d: list %v, want %v", seed, step, l.entries(), ref)
			}
		}
	}
}

// TestSearchFindsTheFirstEntryNotAhead checks queue.search against a linear
// scan while a list fills with random priorities and arrivals, mostly in
// arrival order as in real use, and loses random entries.
func TestSearchFindsTheFirstEntryNotAhead(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	q := &queue{}
	for step := range 4000 {
		ws := q.waiting.entries()
		if len(ws) > 0 && r.IntN(3) == 0 {
			w := ws[r.IntN(len(ws))]
			i, found := q.search(w)
			if !found || ws[i] != w {
				t.Fatalf("step %d: search of an entry gives %d %v", step, i, found)
			}
			q.waiting.delete(i)
			continue
		}
		w := waitEntry{arr: int64(step - r.IntN(3)), order: uint64(step), prio: int16(r.IntN(3))}
		want := len(ws)
		for i, x := range ws {
			if !x.ahead(w) {
				want = i
				break
			}
		}
		if i, found := q.search(w); i != want || found {
			t.Fatalf("step %d: search gives %d %v, want %d", step, i, found, want)
		}
		q.waiting.insert(want, w)
	}
}
