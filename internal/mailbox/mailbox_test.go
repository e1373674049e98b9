package mailbox

import (
	"slices"
	"sync"
	"testing"
)

func TestItemsComeOutInTheOrderTheyWentIn(t *testing.T) {
	b := New[int]()
	if got := b.Take(0); got != nil {
		t.Fatalf("Take on an empty box = %v, want nil", got)
	}
	if n, ok := b.Put(1, 2); n != 2 || !ok {
		t.Fatalf("Put = %d, %v; want 2, true", n, ok)
	}
	b.Put(3)
	b.Put()
	if n := b.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if got := b.Take(0); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("Take(0) = %v, want [1 2 3]", got)
	}
	if b.Len() != 0 || b.Take(0) != nil {
		t.Fatal("the box is not empty after taking everything")
	}
}

func TestTakeWithALimitLeavesTheRestInOrder(t *testing.T) {
	b := New[int]()
	b.Put(1, 2, 3, 4, 5)
	first := b.Take(2)
	if !slices.Equal(first, []int{1, 2}) {
		t.Fatalf("Take(2) = %v, want [1 2]", first)
	}
	// Appending to the taken batch must not overwrite what is queued.
	_ = append(first, 99)
	b.Put(6)
	if got := b.Take(10); !slices.Equal(got, []int{3, 4, 5, 6}) {
		t.Fatalf("Take(10) = %v, want [3 4 5 6]", got)
	}
}

func TestABatchPutBackComesFirst(t *testing.T) {
	b := New[string]()
	b.Put("a", "b")
	batch := b.Take(0)
	b.Put("c")
	if !b.PutFront(batch) {
		t.Fatal("PutFront on an open box refused")
	}
	if got := b.Take(0); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("after PutFront: %v, want [a b c]", got)
	}
	if !b.PutFront(nil) || b.Len() != 0 {
		t.Fatal("PutFront(nil) refused or stored something")
	}
}

func TestOneWakeSignalStandsForManyPuts(t *testing.T) {
	b := New[int]()
	select {
	case <-b.Wake():
		t.Fatal("a new box signals")
	default:
	}
	b.Put(1)
	b.Put(2)
	b.PutFront([]int{0})
	<-b.Wake()
	select {
	case <-b.Wake():
		t.Fatal("three puts left two signals")
	default:
	}
	if got := b.Take(0); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Take = %v", got)
	}
}

func TestCloseHandsBackWhatWasQueuedAndRefusesMore(t *testing.T) {
	b := New[int]()
	b.Put(1, 2)
	if rest := b.Close(); !slices.Equal(rest, []int{1, 2}) {
		t.Fatalf("Close = %v, want [1 2]", rest)
	}
	if n, ok := b.Put(3); ok || n != 0 {
		t.Fatalf("Put after Close = %d, %v; want 0, false", n, ok)
	}
	if b.PutFront([]int{4}) || b.PutFront(nil) {
		t.Fatal("PutFront after Close accepted")
	}
	if b.Len() != 0 || b.Take(0) != nil || b.Close() != nil {
		t.Fatal("a closed box holds items")
	}
}

func TestARecycledBatchIsClearedAndReused(t *testing.T) {
	b := New[*int]()
	x := new(int)
	b.Put(x, x, x)
	batch := b.Take(0)
	b.Recycle(batch)
	if slices.ContainsFunc(batch, func(p *int) bool { return p != nil }) {
		t.Fatal("a recycled batch still holds its items")
	}
	b.Put(x)
	again := b.Take(0)
	if len(again) != 1 || again[0] != x {
		t.Fatalf("Take after Recycle = %v", again)
	}
	if &again[0] != &batch[0] {
		t.Error("the recycled array was not reused")
	}
}

// Producers race a consumer that closes the box midway: every item is
// taken, handed back by Close, or refused to its producer, exactly once.
func TestNoItemIsLostOrDuplicatedWhenClosingUnderLoad(t *testing.T) {
	const producers, each = 8, 2000
	b := New[int]()
	var wg sync.WaitGroup
	refused := make([][]int, producers)
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				v := p*each + i
				if _, ok := b.Put(v); !ok {
					refused[p] = append(refused[p], v)
				}
			}
		})
	}
	var got []int
	for len(got) < producers*each/2 {
		<-b.Wake()
		for batch := b.Take(100); batch != nil; batch = b.Take(100) {
			got = append(got, batch...)
		}
	}
	got = append(got, b.Close()...)
	wg.Wait()
	for _, r := range refused {
		got = append(got, r...)
	}
	slices.Sort(got)
	if len(got) != producers*each {
		t.Fatalf("%d items accounted for, want %d", len(got), producers*each)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("item %d missing or duplicated (at %d: %d)", i, i, v)
		}
	}
}

func TestEachProducersItemsKeepTheirOrder(t *testing.T) {
	const producers, each = 4, 1000
	b := New[[2]int]()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				b.Put([2]int{p, i})
			}
		})
	}
	next := make([]int, producers)
	for n := 0; n < producers*each; {
		<-b.Wake()
		batch := b.Take(0)
		for _, it := range batch {
			if it[1] != next[it[0]] {
				t.Fatalf("producer %d: got item %d, want %d", it[0], it[1], next[it[0]])
			}
			next[it[0]]++
		}
		n += len(batch)
		b.Recycle(batch)
	}
	wg.Wait()
}
