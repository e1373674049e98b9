package routing

// waitEntry is an interaction's place in a waiting list: its sort key and
// its slot in the engine's table of interactions. Entries hold no pointer,
// so inserting and removing (which moves the entries behind) costs the
// garbage collector nothing, and the list is searched without following
// pointers.
type waitEntry struct {
	arr   int64 // arrival, on the engine's clock
	order uint64
	slot  int32
	prio  int16 // within ±MaxPriority
	// foreign says it is not one of the queue's own waiting interactions
	// (an overflow from another queue or a warm transfer): fixed while it
	// is in the list.
	foreign bool
}

// noEntry stands for no entry, as the head of an empty list.
var noEntry = waitEntry{slot: -1}

// ahead says whether x goes before y in a waiting list.
func (x waitEntry) ahead(y waitEntry) bool {
	if x.prio != y.prio {
		return x.prio > y.prio
	}
	if x.arr != y.arr {
		return x.arr < y.arr
	}
	return x.order < y.order
}

// search returns where w goes in q.waiting, and whether the entry there is
// w's own (order is unique to an interaction).
func (q *queue) search(w waitEntry) (int, bool) {
	ws := q.waiting.entries()
	n := len(ws)
	// The usual cases first: a newcomer goes (or is) last, and an agent
	// takes the head.
	switch {
	case n == 0 || ws[n-1].ahead(w):
		return n, false
	case ws[n-1].order == w.order:
		return n - 1, true
	case !ws[0].ahead(w):
		return 0, ws[0].order == w.order
	}
	lo, hi := 1, n-1 // ws[0] is ahead of w, ws[n-1] is not
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ws[m].ahead(w) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(ws) && ws[lo].order == w.order
}

// waitList holds a queue's waiting entries in order, in buf[lo:hi], with
// room kept at both ends of buf. The usual moves, a newcomer joining at the
// back and an agent taking the head, then shift nothing; an entry elsewhere
// shifts the entries on its shorter side. Entries hold no pointer, so what
// is left outside buf[lo:hi] needs no clearing.
type waitList struct {
	buf    []waitEntry
	lo, hi int
}

// entries returns the entries in order. The slice is valid until the next
// insert or delete.
func (l *waitList) entries() []waitEntry { return l.buf[l.lo:l.hi] }

func (l *waitList) len() int { return l.hi - l.lo }

// insert puts w at index i (0 ≤ i ≤ len).
func (l *waitList) insert(i int, w waitEntry) {
	n := l.hi - l.lo
	front := i < n-i // fewer entries to shift towards the front
	if front && l.lo == 0 || !front && l.hi == len(l.buf) {
		l.recenter(n + 1)
	}
	if front {
		copy(l.buf[l.lo-1:], l.buf[l.lo:l.lo+i])
		l.lo--
	} else {
		copy(l.buf[l.lo+i+1:], l.buf[l.lo+i:l.hi])
		l.hi++
	}
	l.buf[l.lo+i] = w
}

// delete takes out the entry at index i.
func (l *waitList) delete(i int) {
	if i < l.hi-l.lo-1-i {
		copy(l.buf[l.lo+1:], l.buf[l.lo:l.lo+i])
		l.lo++
	} else {
		copy(l.buf[l.lo+i:], l.buf[l.lo+i+1:l.hi])
		l.hi--
	}
}

// recenter moves the entries to the middle of buf, first making buf twice
// as large as need or more. Each end then has room for a quarter of buf at
// least, so the cost of moving is spread over as many inserts.
func (l *waitList) recenter(need int) {
	n := l.hi - l.lo
	buf := l.buf
	if len(buf) < 2*need {
		buf = make([]waitEntry, max(16, 4*need))
	}
	lo := (len(buf) - n) / 2
	copy(buf[lo:], l.buf[l.lo:l.hi]) // copy handles an overlap
	l.buf, l.lo, l.hi = buf, lo, lo+n
}
