// Package mailbox is the queue between a goroutine that must never block
// (a routing loop's sink, a pion callback, an HTTP handler) and the one
// goroutine that consumes: an unbounded FIFO under a mutex, with a wake
// channel of capacity 1 that holds at most one pending signal.
//
// The consumer waits on Wake, then takes what is queued (all of it or a
// bounded batch), and takes again until the box is empty: one signal may
// stand for many puts. A batch that could not be handled goes back in front
// with PutFront. Close refuses later puts and hands back what was queued, so
// every item put is either taken, returned by Close, or refused to its
// producer (Put says so): none is lost.
package mailbox

import "sync"

// Box is an unbounded FIFO mailbox. The zero value is not usable: use New.
// Every method is safe for concurrent use.
type Box[T any] struct {
	mu     sync.Mutex
	items  []T
	spare  []T // a taken batch's backing array, given back by Recycle
	closed bool
	wake   chan struct{}
}

// New returns an empty, open box.
func New[T any]() *Box[T] {
	return &Box[T]{wake: make(chan struct{}, 1)}
}

// Put appends items and signals Wake. It never blocks. It returns how many
// items are queued after the call, and false (storing nothing) once the box
// is closed.
func (b *Box[T]) Put(items ...T) (queued int, ok bool) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, false
	}
	b.items = append(b.items, items...)
	n := len(b.items)
	b.mu.Unlock()
	b.signal()
	return n, true
}

// PutFront puts items back in front of what is queued, in their order (a
// batch taken but not handled), and signals Wake. On a closed box it
// returns false and stores nothing.
func (b *Box[T]) PutFront(items []T) bool {
	if len(items) == 0 {
		return !b.isClosed()
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.items = append(items[:len(items):len(items)], b.items...)
	b.mu.Unlock()
	b.signal()
	return true
}

// Wake receives a value after a Put or PutFront that the consumer has not
// yet been woken for. It is never closed.
func (b *Box[T]) Wake() <-chan struct{} { return b.wake }

// Take removes and returns up to limit items from the front (all of them
// when limit < 1), nil when the box is empty. The returned slice belongs to
// the caller; a caller that takes everything in a loop may hand it back
// with Recycle to save an allocation per batch.
func (b *Box[T]) Take(limit int) []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.items)
	if n == 0 {
		return nil
	}
	if limit < 1 || limit >= n {
		batch := b.items
		b.items, b.spare = b.spare[:0], nil
		return batch
	}
	batch := b.items[:limit:limit]
	b.items = b.items[limit:]
	return batch
}

// Recycle gives back a batch returned by Take once the caller is done with
// it: its items are zeroed (so they can be collected) and its array is
// reused by a later Put. Optional.
func (b *Box[T]) Recycle(batch []T) {
	clear(batch)
	b.mu.Lock()
	switch {
	case b.closed || cap(batch) == 0:
	case b.items == nil:
		b.items = batch[:0]
	case b.spare == nil:
		b.spare = batch[:0]
	}
	b.mu.Unlock()
}

// Len is the number of items queued.
func (b *Box[T]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

// Close refuses every later Put and PutFront and returns what was still
// queued, in order. Closing again returns nothing.
func (b *Box[T]) Close() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	rest := b.items
	b.items, b.spare = nil, nil
	return rest
}

func (b *Box[T]) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *Box[T]) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
