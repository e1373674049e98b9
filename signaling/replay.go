package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
)

// Replay (resume, history): a conversation's stored messages after a seq,
// read from the store a page at a time and handed to the connection's
// outbox only while it has room, so a long conversation never overflows
// it and never sits in memory whole. A connection runs its replays one
// after the other on a goroutine of their own (started on demand, ended
// when none is left): its reader and its other commands go on meanwhile.
//
// Each seq of a conversation reaches a connection at most once: the
// connection remembers which seqs it was sent (or needs not be: notes, for
// a visitor). While a conversation is being replayed, live messages of it
// are held back from that connection (the replay reads them from the
// store, where they are before they are delivered); the replay ends only
// once it has read past the last one held back. Then synced says how far
// every seq after the asked one has been sent: none of those comes after
// it.
//
// A conversation's record goes once no live message of it can reach the
// connection any more: it ended, or the connection's agent left it. A
// long-lived desk keeps records only of the conversations it is in (and
// a later history of an ended one sends it again).
const (
	// replayPage is how many messages a replay reads from the store at a
	// time: with texts of up to 8 KiB, at most 800 KiB.
	replayPage = 100
	// replayWindow is how many frames a replay lets wait in the outbox; the
	// rest of OutboxSize is left for live traffic.
	replayWindow = OutboxSize / 2
	// maxReplays bounds the resume and history commands waiting on one
	// connection.
	maxReplays = 4
	// maxReplayConversations bounds the conversations of one resume.
	maxReplayConversations = 200
)

// errReplyLater says that the command's reply is sent by the replay, after
// its messages and synced.
var errReplyLater = errors.New("the reply follows the replay")

var errTooManyReplays = &Error{CodeRateLimited, "too many resume and history commands under way; wait for their replies"}

// replays is a connection's replay state, guarded by conn.mu.
type replays struct {
	jobs    []replayJob
	running bool          // a goroutine runs the jobs
	waiting bool          // it waits for room in the outbox
	room    chan struct{} // wakes it (capacity 1)
	// active maps a conversation being replayed to the highest seq of the
	// live messages held back meanwhile.
	active map[string]int64
	// sent holds, per conversation, the seqs this connection was sent or
	// must not be sent (invisible to it).
	sent map[string]seqSet
	// over marks the conversations whose last message for this connection
	// (see sendMessage) was held back by their replay: their record goes
	// when the replay ends.
	over map[string]bool
}

type replayJob struct {
	id    string // the command's, for the reply
	who   chat.Sender
	convs []replayConv
}

type replayConv struct {
	id    store.ConversationID
	after int64
}

// take marks seq of conv as sent and says whether it was not yet; c.mu is
// held.
func (r *replays) take(conv string, seq int64) bool {
	s := r.sent[conv]
	if s.has(seq) {
		return false
	}
	if r.sent == nil {
		r.sent = map[string]seqSet{}
	}
	r.sent[conv] = s.add(seq, seq)
	return true
}

// endReplay ends the replay of conv: live messages of it are no longer
// held back, and its record goes if its last message came meanwhile; c.mu
// is held.
func (r *replays) endReplay(conv string) {
	delete(r.active, conv)
	if r.over[conv] {
		delete(r.over, conv)
		delete(r.sent, conv)
	}
}

// sendMessage queues a live message (b) of conversation conv with seq for
// the client, unless the connection was sent that seq already or replays
// conv (the replay sends it). A nil b marks seq as not to be sent: a
// message this client may not see. last says that no later message of
// conv can reach this connection (it ended, or this agent left it): the
// record of conv goes.
func (c *conn) sendMessage(conv string, seq int64, b []byte, last bool) {
	c.mu.Lock()
	if held, ok := c.rp.active[conv]; ok {
		c.rp.active[conv] = max(held, seq)
		if last {
			if c.rp.over == nil {
				c.rp.over = map[string]bool{}
			}
			c.rp.over[conv] = true
		}
		c.mu.Unlock()
		return
	}
	fresh := c.rp.take(conv, seq)
	if last {
		delete(c.rp.sent, conv)
	}
	if !fresh || b == nil {
		c.mu.Unlock()
		return
	}
	c.push(b)
}

// sendPaced queues b once the outbox holds fewer than replayWindow frames;
// with conv set, only when seq of conv was not sent yet. It fails once the
// connection closes.
func (c *conn) sendPaced(conv string, seq int64, b []byte) error {
	c.mu.Lock()
	for !c.closing && len(c.outbox) >= replayWindow {
		c.rp.waiting = true
		c.mu.Unlock()
		select {
		case <-c.rp.room:
		case <-c.ctx.Done():
		}
		c.mu.Lock()
	}
	c.rp.waiting = false
	switch {
	case c.closing:
		c.mu.Unlock()
		return context.Canceled
	case conv != "" && !c.rp.take(conv, seq):
		c.mu.Unlock()
		return nil
	}
	c.push(b)
	return nil
}

// startReplay checks a resume or history and queues it on the connection:
// the messages after each conversation's seq, then synced, then the reply
// to command id. It returns errReplyLater, or the error to answer at once.
func (s *Server) startReplay(ctx context.Context, c *conn, id string, who chat.Sender, convs map[string]int64) error {
	if len(convs) > maxReplayConversations {
		return badRequest("at most 200 conversations per resume")
	}
	list := make([]replayConv, 0, len(convs))
	for conv, after := range convs {
		if conv == "" || len(conv) > 128 {
			return badRequest("a conversation id is empty or too long")
		}
		_, ok, err := s.chat.RoleOf(ctx, store.ConversationID(conv), who)
		if err != nil {
			return err
		}
		if !ok {
			return chat.ErrNotParticipant
		}
		list = append(list, replayConv{store.ConversationID(conv), max(after, 0)})
	}
	slices.SortFunc(list, func(a, b replayConv) int { return strings.Compare(string(a.id), string(b.id)) })
	c.mu.Lock()
	if len(c.rp.jobs) >= maxReplays {
		c.mu.Unlock()
		return errTooManyReplays
	}
	c.rp.jobs = append(c.rp.jobs, replayJob{id: id, who: who, convs: list})
	start := !c.rp.running
	c.rp.running = true
	c.mu.Unlock()
	if start {
		s.wg.Add(1)
		go s.runReplays(c)
	}
	return errReplyLater
}

// runReplays runs the connection's replays until none is left.
func (s *Server) runReplays(c *conn) {
	defer s.wg.Done()
	for {
		c.mu.Lock()
		if len(c.rp.jobs) == 0 || c.closing {
			c.rp.jobs, c.rp.running = nil, false
			c.mu.Unlock()
			return
		}
		j := c.rp.jobs[0]
		c.rp.jobs = c.rp.jobs[1:]
		c.mu.Unlock()
		s.runReplay(c, j)
	}
}

// runReplay replays each conversation of j, then sends synced and the
// reply; after a failure, only the error reply.
func (s *Server) runReplay(c *conn, j replayJob) {
	synced := make(map[string]int64, len(j.convs))
	var err error
	for _, rc := range j.convs {
		var upTo int64
		if upTo, err = s.replayConv(c, j.who, rc); err != nil {
			break
		}
		synced[string(rc.id)] = upTo
	}
	if c.ctx.Err() != nil {
		return
	}
	var reply []byte
	if err != nil {
		code, msg := codeOf(err)
		if code == CodeInternal {
			c.log.Error("replay failed", "err", err)
		}
		reply, _ = json.Marshal(errorReply(j.id, code, msg))
	} else {
		b, _ := json.Marshal(syncedOut{Conversations: synced, Type: "synced"})
		if c.sendPaced("", 0, b) != nil {
			return
		}
		reply, _ = json.Marshal(ackOut{ID: j.id, Result: struct{}{}, Type: "ack"})
	}
	c.sendPaced("", 0, reply)
}

// replayConv sends the messages of rc.id after rc.after that who may see
// and this connection was not sent yet, and returns the seq up to which
// every one after rc.after was sent (or is not for who).
func (s *Server) replayConv(c *conn, who chat.Sender, rc replayConv) (int64, error) {
	conv := string(rc.id)
	rec, _, err := s.chat.Info(c.ctx, rc.id)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.rp.active == nil {
		c.rp.active = map[string]int64{}
	}
	if c.rp.sent == nil {
		c.rp.sent = map[string]seqSet{}
	}
	if c.rp.over == nil {
		c.rp.over = map[string]bool{}
	}
	c.rp.active[conv] = 0
	c.mu.Unlock()
	done := false
	defer func() {
		if !done {
			c.mu.Lock()
			c.rp.endReplay(conv)
			c.mu.Unlock()
		}
	}()
	out := make([]messageOut, 0, replayPage)
	for after := rc.after; ; {
		ctx, cancel := context.WithTimeout(c.ctx, CommandTimeout)
		msgs, upTo, full, err := s.chat.HistoryPage(ctx, rc.id, who, after, replayPage)
		cancel()
		if err != nil {
			return 0, err
		}
		// The agents' names under the hub's lock; the encoding, of up to
		// 800 KiB a page, outside it.
		out = out[:0]
		s.hub.mu.Lock()
		for _, m := range msgs {
			out = append(out, s.hub.msgPayload(m, rec.VisitorName))
		}
		s.hub.mu.Unlock()
		for i, m := range msgs {
			b, err := json.Marshal(&out[i])
			if err != nil {
				return 0, err
			}
			out[i] = messageOut{}
			if err := c.sendPaced(conv, m.Seq, b); err != nil {
				return 0, err
			}
		}
		c.mu.Lock()
		if upTo > after {
			// What was read is sent now, or was before, or is not for who.
			c.rp.sent[conv] = c.rp.sent[conv].add(after+1, upTo)
		}
		if !full && c.rp.active[conv] <= upTo {
			done = true
			reach := c.rp.sent[conv].reach(rc.after)
			if rec.Status == store.ConvEnded {
				c.rp.over[conv] = true // nothing comes after its end
			}
			c.rp.endReplay(conv)
			c.mu.Unlock()
			return reach, nil
		}
		c.mu.Unlock()
		after = upTo
	}
}

// seqSet is a set of seqs as sorted, disjoint, non-adjacent ranges.
type seqSet []seqRange

type seqRange struct{ lo, hi int64 }

func (s seqSet) find(seq int64) (int, bool) {
	return slices.BinarySearchFunc(s, seq, func(r seqRange, seq int64) int {
		switch {
		case r.hi < seq:
			return -1
		case r.lo > seq:
			return 1
		}
		return 0
	})
}

func (s seqSet) has(seq int64) bool {
	_, ok := s.find(seq)
	return ok
}

// add returns the set with lo..hi added.
func (s seqSet) add(lo, hi int64) seqSet {
	if lo > hi {
		return s
	}
	if n := len(s); n > 0 && s[n-1].hi+1 >= lo && s[n-1].lo <= lo { // the usual case: at the end
		s[n-1].hi = max(s[n-1].hi, hi)
		return s
	}
	// i: the first range that does not end before lo-1; j: the first that
	// starts after hi+1. Those between merge with lo..hi.
	i, _ := slices.BinarySearchFunc(s, lo-1, func(r seqRange, v int64) int {
		if r.hi < v {
			return -1
		}
		return 1
	})
	j, _ := slices.BinarySearchFunc(s, hi+1, func(r seqRange, v int64) int {
		if r.lo <= v {
			return -1
		}
		return 1
	})
	if i < j {
		lo, hi = min(lo, s[i].lo), max(hi, s[j-1].hi)
	}
	return slices.Replace(s, i, j, seqRange{lo, hi})
}

// reach is the highest seq h such that every seq in after+1..h is in the
// set (after when after+1 is not).
func (s seqSet) reach(after int64) int64 {
	if i, ok := s.find(after + 1); ok {
		return s[i].hi
	}
	return after
}
