package signaling

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Defaults of the per-address widget session limits.
const (
	DefaultSessionsPerAddress = 10 // waiting at once
	DefaultSessionRate        = 30 // new sessions a minute, also the burst
)

// waitingLimits counts, per client address, the widget sessions still
// waiting in a queue, so that one address cannot fill the queue ahead of
// everybody else. A session stops counting once its conversation is no
// longer queued (answered, ended, left); that is checked when the address
// asks for another, so nothing needs telling.
//
// An address that asks for no other session is not checked that way: sweep
// (every sweepEvery, started from a new session's request) checks every
// address, so that the map holds the addresses with sessions still waiting
// rather than every address ever seen.
type waitingLimits struct {
	max int

	mu        sync.Mutex
	by        map[string][]store.ConversationID
	pending   map[string]int // sessions being created, not yet listed
	lastSweep time.Time
	sweeping  bool
}

// sweepEvery is how often waitingLimits forgets the sessions no longer
// waiting of every address.
const sweepEvery = time.Minute

// sweepDue says whether a sweep is to start now (and then, that it has).
func (l *waitingLimits) sweepDue(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sweeping || now.Sub(l.lastSweep) < sweepEvery {
		return false
	}
	l.sweeping, l.lastSweep = true, now
	return true
}

// sweep drops, for every address, the sessions no longer queued, and the
// addresses left with none.
func (l *waitingLimits) sweep(ctx context.Context, queued func(context.Context, store.ConversationID) bool) {
	l.mu.Lock()
	ips := make([]string, 0, len(l.by))
	for ip := range l.by {
		ips = append(ips, ip)
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.sweeping = false
		l.mu.Unlock()
	}()
	for _, ip := range ips {
		if ctx.Err() != nil {
			return
		}
		l.prune(ctx, ip, queued)
	}
}

// prune drops ip's sessions no longer queued, and ip when none is left.
func (l *waitingLimits) prune(ctx context.Context, ip string, queued func(context.Context, store.ConversationID) bool) {
	l.mu.Lock()
	ids := slices.Clone(l.by[ip])
	l.mu.Unlock()
	var over []store.ConversationID
	for _, id := range ids {
		if !queued(ctx, id) {
			over = append(over, id)
		}
	}
	if len(over) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := slices.DeleteFunc(l.by[ip], func(id store.ConversationID) bool { return slices.Contains(over, id) })
	if len(kept) == 0 {
		delete(l.by, ip)
	} else {
		l.by[ip] = kept
	}
}

func newWaitingLimits(max int) *waitingLimits {
	return &waitingLimits{max: max, by: map[string][]store.ConversationID{}, pending: map[string]int{}}
}

// reserve takes a place for a new session from ip, or says there is none;
// queued says whether a conversation still waits. A reservation ends with
// done (the session was made) or cancel.
func (l *waitingLimits) reserve(ctx context.Context, ip string, queued func(context.Context, store.ConversationID) bool) bool {
	l.prune(ctx, ip, queued)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.by[ip])+l.pending[ip] >= l.max {
		return false
	}
	l.pending[ip]++
	return true
}

func (l *waitingLimits) done(ip string, id store.ConversationID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unpend(ip)
	l.by[ip] = append(l.by[ip], id)
}

func (l *waitingLimits) cancel(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unpend(ip)
}

func (l *waitingLimits) unpend(ip string) {
	if l.pending[ip]--; l.pending[ip] <= 0 {
		delete(l.pending, ip)
	}
}

// stillQueued says whether conversation id still waits for an agent.
func (s *Server) stillQueued(ctx context.Context, id store.ConversationID) bool {
	rec, _, err := s.chat.Info(ctx, id)
	return err == nil && rec.Status == store.ConvQueued
}

// expectVisitor starts the grace period for a visitor who has a session
// but no connection yet: one who never connects leaves, as one who closed
// the page and did not come back does.
func (h *hub) expectVisitor(conv string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.visitors[conv]) > 0 || h.gone[conv] != nil {
		return
	}
	h.afterGrace(h.visitors, h.gone, conv, h.visitorGone(conv))
}

// visitorGone is what happens to a visitor away past the grace period.
func (h *hub) visitorGone(conv string) func(context.Context) error {
	return func(ctx context.Context) error {
		// The ids of the visitor's commands go with them: a page that
		// comes back this late starts afresh (the cache grew without end).
		h.mu.Lock()
		delete(h.replies, "visitor:"+conv)
		h.mu.Unlock()
		return h.s.coord.VisitorLeft(ctx, store.ConversationID(conv))
	}
}

// absentSync tells routing whether each visitor is connected (SetAbsent):
// one command at a time per conversation, repeated until routing has what
// is true after the last change, so that a close and a quick reconnect
// cannot arrive in the wrong order.
type absentSync struct {
	mu    sync.Mutex
	busy  map[string]bool // a goroutine is telling routing about it
	again map[string]bool // it changed meanwhile
}

// syncAbsent tells routing whether conv's visitor is connected now.
func (h *hub) syncAbsent(conv string) {
	a := &h.absent
	a.mu.Lock()
	if a.busy == nil {
		a.busy, a.again = map[string]bool{}, map[string]bool{}
	}
	if a.busy[conv] {
		a.again[conv] = true
		a.mu.Unlock()
		return
	}
	a.busy[conv] = true
	a.mu.Unlock()
	for {
		h.mu.Lock()
		absent := len(h.visitors[conv]) == 0
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(h.s.baseCtx, 15*time.Second)
		err := h.s.router.Do(ctx, routing.SetAbsent{Interaction: routing.InteractionID(conv), Absent: absent})
		cancel()
		if err != nil && !errors.Is(err, routing.ErrUnknownInteraction) {
			h.s.log.Debug("telling routing whether the visitor is there", "conversation", conv, "absent", absent, "err", err)
		}
		a.mu.Lock()
		if !a.again[conv] {
			delete(a.busy, conv)
			a.mu.Unlock()
			return
		}
		delete(a.again, conv)
		a.mu.Unlock()
	}
}
