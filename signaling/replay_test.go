package signaling

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestSeqSetKeepsDisjointRangesAndAnswersLikeAPlainSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var s seqSet
		plain := map[int64]bool{}
		for range 30 {
			lo := r.Int64N(60)
			hi := lo + r.Int64N(4) - 1 // sometimes empty
			s = s.add(lo, hi)
			for v := lo; v <= hi; v++ {
				plain[v] = true
			}
			for i := range s {
				if s[i].lo > s[i].hi || (i > 0 && s[i-1].hi+1 >= s[i].lo) {
					t.Fatalf("round %d: ranges not sorted, disjoint and apart: %v", round, s)
				}
			}
		}
		for v := int64(-1); v < 70; v++ {
			if s.has(v) != plain[v] {
				t.Fatalf("round %d: has(%d) = %v, want %v in %v", round, v, s.has(v), plain[v], s)
			}
			want := v
			for plain[want+1] {
				want++
			}
			if got := s.reach(v); got != want {
				t.Fatalf("round %d: reach(%d) = %d, want %d in %v", round, v, got, want, fmt.Sprint(s))
			}
		}
	}
}

func TestReplaysTakeEachSeqOnce(t *testing.T) {
	var r replays
	if !r.take("c", 5) || r.take("c", 5) {
		t.Fatal("seq 5 taken twice, or not at all")
	}
	if !r.take("d", 5) {
		t.Fatal("another conversation's seq 5 refused")
	}
	r.sent["c"] = r.sent["c"].add(1, 10)
	for seq := int64(1); seq <= 10; seq++ {
		if r.take("c", seq) {
			t.Fatalf("seq %d taken again after the range 1..10 was sent", seq)
		}
	}
	if !r.take("c", 11) {
		t.Fatal("seq 11 refused")
	}
}
