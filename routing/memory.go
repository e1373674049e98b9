package routing

import "hash/maphash"

// How the engine keeps the garbage collector's work small at high rates:
// effects are carved from blocks, interaction and offer structs are reused,
// interactions are found by id through a map without pointers, agents and
// queues are numbered so the lists between them hold no pointers either,
// and AgentInfo.Active maps are shared.

// idIndex finds interactions by id: a map from a hash of the id to the
// interaction's slot, with nothing in it for the collector to trace and
// no string to compare but the one of the interaction found. The rare id
// whose hash another open id already has is kept in a plain map.
type idIndex struct {
	seed   maphash.Seed
	mask   uint64 // all ones; tests narrow it to make hashes clash
	byHash map[uint64]int32
	clash  map[InteractionID]int32
}

func newIDIndex() idIndex {
	return idIndex{seed: maphash.MakeSeed(), mask: ^uint64(0), byHash: make(map[uint64]int32)}
}

func (x *idIndex) hash(id InteractionID) uint64 { return maphash.String(x.seed, string(id)) & x.mask }

// lookup returns the open interaction with id, or nil.
func (e *Engine) lookup(id InteractionID) *interaction {
	x := &e.ids
	if s, ok := x.byHash[x.hash(id)]; ok {
		if in := e.slots[s]; in.id == id {
			return in
		}
	}
	if s, ok := x.clash[id]; ok {
		return e.slots[s]
	}
	return nil
}

// open adds in, whose id is not open yet, to the open interactions.
func (e *Engine) open(in *interaction) {
	x := &e.ids
	h := x.hash(in.id)
	if _, taken := x.byHash[h]; !taken {
		x.byHash[h] = in.slot
	} else {
		if x.clash == nil {
			x.clash = make(map[InteractionID]int32)
		}
		x.clash[in.id] = in.slot
	}
	e.nOpen++
}

// close takes in out of the open interactions.
func (e *Engine) close(in *interaction) {
	x := &e.ids
	e.nOpen--
	if _, ok := x.clash[in.id]; ok {
		delete(x.clash, in.id)
		return
	}
	delete(x.byHash, x.hash(in.id)) // ids in clash stay there: lookup tries both
}

// inters yields every open interaction (in no particular order), with its
// id.
func (e *Engine) inters(yield func(InteractionID, *interaction) bool) {
	for _, in := range e.slots {
		if in != nil && in.status != 0 && !in.gone && !yield(in.id, in) {
			return
		}
	}
}

// tables number the agents and queues, so that the lists relating them
// (a queue's members and ready agents, an agent's queues) are slices of
// int32: nothing there for the garbage collector to trace at every cycle.
type tables struct {
	agents     []*agent
	queues     []*queue
	freeAgents []int32
	freeQueues []int32
	// heads holds each queue's first waiting entry (slot -1 when none),
	// side by side, so that an agent's queues can be compared without
	// touching them.
	heads []waitEntry
}

func (t *tables) addAgent(a *agent) {
	if n := len(t.freeAgents) - 1; n >= 0 {
		a.idx = t.freeAgents[n]
		t.freeAgents = t.freeAgents[:n]
		t.agents[a.idx] = a
		return
	}
	a.idx = int32(len(t.agents))
	t.agents = append(t.agents, a)
}

func (t *tables) dropAgent(a *agent) {
	t.agents[a.idx] = nil
	t.freeAgents = append(t.freeAgents, a.idx)
}

func (t *tables) addQueue(q *queue) {
	q.tab = t
	if n := len(t.freeQueues) - 1; n >= 0 {
		q.idx = t.freeQueues[n]
		t.freeQueues = t.freeQueues[:n]
		t.queues[q.idx] = q
	} else {
		q.idx = int32(len(t.queues))
		t.queues = append(t.queues, q)
		t.heads = append(t.heads, waitEntry{})
	}
	t.heads[q.idx] = noEntry
}

func (t *tables) dropQueue(q *queue) {
	t.queues[q.idx] = nil
	t.freeQueues = append(t.freeQueues, q.idx)
}

// retire takes in out of routing. The struct is reused after the engine
// settles; until then pending matches see it gone.
func (e *Engine) retire(in *interaction) {
	in.gone = true
	e.close(in)
	e.retiredIn = append(e.retiredIn, in)
}

// maxFree bounds the free lists, so that a burst does not keep its
// memory for ever (an interaction's block goes once all of its
// interactions are let go).
const maxFree = 1024

// inBlock is how many interactions are allocated together: the collector
// marks and scans a few larger objects much faster than many of 416
// bytes (about a sixth less work per cycle in the routing benchmark).
const inBlock = 8

// recycle makes what retired since the last call reusable. It runs when
// the engine has settled: no pending match, offer or timer refers to it.
func (e *Engine) recycle() {
	for i, in := range e.retiredIn {
		e.retiredIn[i] = nil
		if len(e.freeIn) < maxFree {
			lists, offers, slot := in.lists[:0], in.offers[:0], in.slot
			*in = interaction{lists: lists, offers: offers, slot: slot}
			e.freeIn = append(e.freeIn, in)
		} else {
			e.slots[in.slot] = nil
			e.freeSlots = append(e.freeSlots, in.slot)
		}
	}
	e.retiredIn = e.retiredIn[:0]
	for i, o := range e.retiredOffers {
		e.retiredOffers[i] = nil
		if len(e.freeOffers) < maxFree {
			*o = offer{}
			e.freeOffers = append(e.freeOffers, o)
		}
	}
	e.retiredOffers = e.retiredOffers[:0]
}

func (e *Engine) newInteraction() *interaction {
	n := len(e.freeIn) - 1
	if n < 0 {
		if len(e.inBlock) == 0 {
			e.inBlock = make([]interaction, inBlock)
		}
		in := &e.inBlock[0]
		e.inBlock = e.inBlock[1:]
		in.lists, in.offers = in.listBuf[:0], in.offerBuf[:0]
		if k := len(e.freeSlots) - 1; k >= 0 {
			in.slot = e.freeSlots[k]
			e.freeSlots = e.freeSlots[:k]
			e.slots[in.slot] = in
		} else {
			in.slot = int32(len(e.slots))
			e.slots = append(e.slots, in)
		}
		return in
	}
	in := e.freeIn[n]
	e.freeIn[n] = nil
	e.freeIn = e.freeIn[:n]
	return in
}

func (e *Engine) newOffer() *offer {
	n := len(e.freeOffers) - 1
	if n < 0 {
		return new(offer)
	}
	o := e.freeOffers[n]
	e.freeOffers[n] = nil
	e.freeOffers = e.freeOffers[:n]
	return o
}

const slabSize = 128

// cell returns the next free cell of slab, zero, allocating a new block of
// slabSize cells when it is used up. Filling a cell in place spares a copy
// of the whole struct.
func cell[T any](slab *[]T) *T {
	if len(*slab) == 0 {
		*slab = make([]T, slabSize)
	}
	p := &(*slab)[0]
	*slab = (*slab)[1:]
	return p
}

// carve returns a pointer to v's copy in the next free cell of slab.
func carve[T any](slab *[]T, v T) *T {
	p := cell(slab)
	*p = v
	return p
}

// activeKey is the content of an AgentInfo.Active map for up to four
// channels, in order of channel name, as a map key.
type activeKey struct {
	ch [4]Channel
	n  [4]int32
}

// oneActive is a shared Active map with n interactions on one channel.
type oneActive struct {
	ch Channel
	n  int
	m  map[Channel]int
}

// maxShared bounds the number of distinct Active maps the engine keeps.
const maxShared = 256

// active counts the interactions a holds per channel. Maps with the same
// content are shared between AgentInfos, which are read-only, so pushing
// an agent's state does not allocate a map every time.
func (e *Engine) active(a *agent) map[Channel]int {
	// The usual cases, without hashing: nothing held, or everything on
	// one channel.
	if len(a.holds) == 0 {
		if e.noActive == nil {
			e.noActive = map[Channel]int{}
		}
		return e.noActive
	}
	ch, n := a.holds[0].ch, len(a.holds)
	for _, in := range a.holds[1:] {
		if in.ch != ch {
			n = 0
			break
		}
	}
	if n > 0 {
		for _, s := range e.oneActive {
			if s.n == n && s.ch == ch {
				return s.m
			}
		}
		m := map[Channel]int{ch: n}
		if len(e.oneActive) < maxShared {
			e.oneActive = append(e.oneActive, oneActive{ch, n, m})
		}
		return m
	}
	var k activeKey
	used := 0
	for _, in := range a.holds {
		i := 0
		for i < used && k.ch[i] != in.ch {
			i++
		}
		if i == used {
			if used == len(k.ch) {
				return countActive(a)
			}
			k.ch[i] = in.ch
			used++
		}
		k.n[i]++
	}
	for i := 1; i < used; i++ { // insertion sort: at most four
		for j := i; j > 0 && k.ch[j] < k.ch[j-1]; j-- {
			k.ch[j], k.ch[j-1] = k.ch[j-1], k.ch[j]
			k.n[j], k.n[j-1] = k.n[j-1], k.n[j]
		}
	}
	if m, ok := e.actives[k]; ok {
		return m
	}
	m := countActive(a)
	if e.actives == nil {
		e.actives = make(map[activeKey]map[Channel]int)
	}
	if len(e.actives) < maxShared {
		e.actives[k] = m
	}
	return m
}

func countActive(a *agent) map[Channel]int {
	m := make(map[Channel]int, 2)
	for _, in := range a.holds {
		m[in.ch]++
	}
	return m
}
