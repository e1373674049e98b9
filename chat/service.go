package chat

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Store is the part of the store the chat service needs. Every write goes
// through CommitChat, in batches.
type Store interface {
	Committer
	GetConversation(ctx context.Context, id store.ConversationID) (store.Conversation, error)
	ListMessages(ctx context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error)
	ListMessageEvents(ctx context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error)
	FindMessageByClientID(ctx context.Context, id store.ConversationID, sender, clientID string) (store.Message, error)
}

// Sender names who wrote a message: the visitor, an agent or the system.
type Sender string

// Senders.
const (
	SenderVisitor Sender = "visitor"
	SenderSystem  Sender = "system"
)

// AgentSender is the sender name of an agent.
func AgentSender(id routing.AgentID) Sender { return Sender("agent:" + string(id)) }

// AgentOf returns the agent behind a sender, if it is one.
func AgentOf(s Sender) (routing.AgentID, bool) {
	id, ok := strings.CutPrefix(string(s), "agent:")
	return routing.AgentID(id), ok
}

// Role is what a participant may do.
type Role string

// Roles. The owner is the agent handling the conversation; a consult is a
// colleague invited by a warm transfer, who reads everything and writes
// private notes until the conversation is handed over.
const (
	RoleVisitor Role = "visitor"
	RoleOwner   Role = "owner"
	RoleConsult Role = "consult"
)

// Config holds the limits of the service.
type Config struct {
	// MaxTextBytes bounds a message's text (default 8 KiB).
	MaxTextBytes int
	// MaxClientIDBytes bounds a client id (default 64).
	MaxClientIDBytes int
	// ObserveCommit, when set, is told of every group commit: how many
	// writes it held and how long the store took (for metrics). It runs
	// on the committer's goroutine and must not block.
	ObserveCommit func(writes int, took time.Duration)
}

func (c Config) withDefaults() Config {
	if c.MaxTextBytes <= 0 {
		c.MaxTextBytes = 8 << 10
	}
	if c.MaxClientIDBytes <= 0 {
		c.MaxClientIDBytes = 64
	}
	return c
}

// Service owns the live conversations. Every change is stored before it
// is acknowledged or delivered: deliver receives committed messages in
// sequence order per conversation, on the committer's goroutine (it must
// not block).
type Service struct {
	cfg     Config
	log     *slog.Logger
	st      Store
	commit  *committer
	now     func() time.Time
	mu      sync.Mutex
	convs   map[store.ConversationID]*conversation
	deliver func(store.Message)
	// hash maps a sender and client id to the key of conversation.sent.
	hash func(key string) uint64
}

// EvictAfter is how long an ended conversation stays in memory (for the
// transcripts and replays asked right after the end) before it is
// dropped; later requests read it from the store.
const EvictAfter = 2 * time.Minute

// conversation is the live state of one conversation. Its mutex orders
// everything that happens in it: sequence numbers are handed out under it.
type conversation struct {
	mu      sync.Mutex
	rec     store.Conversation
	nextSeq int64
	parts   map[Sender]Role
	held    bool
	ended   bool
	// sent holds a hash of sender and client id of every message sent with
	// a client id since the conversation came into memory, so that a send
	// whose id is new is known to be new without asking the store. It
	// holds no pointers: a long conversation costs the garbage collector
	// nothing for it.
	sent map[uint64]struct{}
	// loaded is the last seq stored when the conversation was loaded from
	// the store (get): the client ids of messages up to it are not in
	// sent, so a send with an id not in sent asks the store when it is
	// above 0.
	loaded int64
	// inflight maps sender and client id to the message until it is
	// committed: a retry meanwhile waits for the same commit. A retry of a
	// committed one finds it in the store.
	inflight map[string]*pending
}

func newConversation(rec store.Conversation) *conversation {
	return &conversation{rec: rec, nextSeq: 1, parts: map[Sender]Role{SenderVisitor: RoleVisitor},
		sent: map[uint64]struct{}{}, inflight: map[string]*pending{}}
}

func sentKey(sender, clientID string) string { return sender + "\x00" + clientID }

// New returns a service; Run must be running for anything to commit.
func New(cfg Config, log *slog.Logger, st Store, deliver func(store.Message)) *Service {
	seed := maphash.MakeSeed()
	s := &Service{cfg: cfg.withDefaults(), log: log, st: st, now: time.Now, convs: make(map[store.ConversationID]*conversation), deliver: deliver,
		hash: func(key string) uint64 { return maphash.String(seed, key) }}
	s.commit = newCommitter(st, log, s.delivered)
	s.commit.observe = s.cfg.ObserveCommit
	return s
}

// Run commits messages until ctx ends.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(EvictAfter / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.evictEnded(s.now())
			}
		}
	}()
	s.commit.run(ctx)
	<-done
}

// evictEnded drops the conversations that ended EvictAfter before now
// from memory. Nothing is written to an ended conversation, so a later
// request that loads it again from the store sees the same state.
func (s *Service) evictEnded(now time.Time) int {
	s.mu.Lock()
	list := make([]*conversation, 0, len(s.convs))
	for _, c := range s.convs {
		list = append(list, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range list {
		c.mu.Lock()
		old := c.ended && len(c.inflight) == 0 && now.Sub(c.rec.EndedAt) >= EvictAfter
		id := c.rec.ID
		c.mu.Unlock()
		if !old {
			continue
		}
		s.mu.Lock()
		if s.convs[id] == c {
			delete(s.convs, id)
			n++
		}
		s.mu.Unlock()
	}
	return n
}

func (s *Service) delivered(msgs []store.Message) {
	if s.deliver == nil {
		return
	}
	for _, m := range msgs {
		s.deliver(m)
	}
}

// Spec describes a new conversation.
type Spec struct {
	ID          store.ConversationID
	Interaction routing.InteractionID
	Queue       routing.QueueID
	VisitorName string
	Attributes  map[string]string
	// NoVisitor opens a room among agents (operator-to-operator chat).
	NoVisitor bool
}

// Open creates a conversation with the visitor as its first participant.
func (s *Service) Open(ctx context.Context, sp Spec) (store.Conversation, error) {
	now := s.now().UTC()
	rec := store.Conversation{
		ID: sp.ID, Interaction: sp.Interaction, Queue: sp.Queue, VisitorName: sp.VisitorName,
		Attributes: sp.Attributes, Status: store.ConvQueued, CreatedAt: now, UpdatedAt: now,
	}
	p := &pending{create: &rec, done: make(chan struct{})}
	s.commit.add(p)
	if err := p.wait(ctx); err != nil {
		return store.Conversation{}, err
	}
	c := newConversation(rec)
	if sp.NoVisitor {
		delete(c.parts, SenderVisitor)
	}
	s.mu.Lock()
	s.convs[rec.ID] = c
	s.mu.Unlock()
	return rec, nil
}

// get returns the live conversation, loading it from the store (messages
// included, to rebuild who takes part, hold and the client ids) when it is
// not in memory.
func (s *Service) get(ctx context.Context, id store.ConversationID) (*conversation, error) {
	s.mu.Lock()
	c := s.convs[id]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	rec, err := s.st.GetConversation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownConversation, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load conversation: %w", err)
	}
	// Only the events make the state (participants, hold, end) and the
	// record holds the last seq: a command never reads the conversation's
	// text, however long it is.
	c = newConversation(rec)
	c.nextSeq, c.loaded = rec.LastSeq+1, rec.LastSeq
	if strings.HasPrefix(string(id), OperatorPrefix) {
		delete(c.parts, SenderVisitor)
	}
	for after := int64(0); ; {
		msgs, err := s.st.ListMessageEvents(ctx, id, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("load the events: %w", err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			s.replay(c, m)
		}
		after = msgs[len(msgs)-1].Seq
	}
	if rec.Status == store.ConvEnded {
		c.ended = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other := s.convs[id]; other != nil { // loaded meanwhile
		return other, nil
	}
	s.convs[id] = c
	return c, nil
}

// replay applies a stored event to the live state.
func (s *Service) replay(c *conversation, m store.Message) {
	if m.Seq >= c.nextSeq {
		c.nextSeq = m.Seq + 1
		c.loaded = m.Seq
	}
	if m.Kind != store.MsgEvent {
		return
	}
	who := Sender(m.Sender)
	switch m.Event {
	case EvJoined:
		c.parts[who] = Role(m.Data["role"])
	case EvLeft:
		if who != SenderVisitor { // a visitor who left may come back
			delete(c.parts, who)
		}
	case EvHold:
		c.held = true
	case EvResume:
		c.held = false
	case EvEnded:
		c.ended = true
	case EvHandedOver:
		if to := Sender(m.Data["to"]); to != "" {
			c.parts[to] = RoleOwner
		}
	}
}

// Events recorded in the log as MsgEvent messages.
const (
	EvJoined     = "joined"
	EvLeft       = "left"
	EvHold       = "hold"
	EvResume     = "resume"
	EvEnded      = "ended"
	EvHandedOver = "handed_over"
)

// append gives m the next sequence number and queues it for commit; the
// caller holds c.mu. With update set, the conversation's record (as it is
// once apply ran) is written in the same transaction.
func (s *Service) append(c *conversation, m store.Message, update bool, apply func(*conversation)) *pending {
	m.Conversation = c.rec.ID
	m.Seq = c.nextSeq
	m.CreatedAt = s.now().UTC()
	c.nextSeq++
	p := &pending{msg: m, done: make(chan struct{})}
	if m.ClientID != "" {
		key := sentKey(m.Sender, m.ClientID)
		c.sent[s.hash(key)] = struct{}{}
		c.inflight[key] = p
		p.conv, p.key = c, key
	}
	if apply != nil {
		apply(c)
	}
	if update {
		rec := c.rec
		rec.UpdatedAt = m.CreatedAt
		p.update = &rec
	}
	s.commit.add(p)
	return p
}

// Send stores a message from a participant and returns it once committed.
// kind is store.MsgText or store.MsgNote (agents only). A clientID already
// used by the same sender returns the first message with dup set, and acts
// no second time.
func (s *Service) Send(ctx context.Context, id store.ConversationID, who Sender, clientID, kind, text string) (msg store.Message, dup bool, err error) {
	if err := s.checkText(text); err != nil {
		return store.Message{}, false, err
	}
	if len(clientID) > s.cfg.MaxClientIDBytes || !utf8.ValidString(clientID) || strings.ContainsRune(clientID, 0) {
		return store.Message{}, false, ErrBadClientID
	}
	if kind != store.MsgText && kind != store.MsgNote {
		return store.Message{}, false, fmt.Errorf("%w: kind %q", ErrWrongRole, kind)
	}
	c, err := s.get(ctx, id)
	if err != nil {
		return store.Message{}, false, err
	}
	c.mu.Lock()
	if clientID != "" {
		key := sentKey(string(who), clientID)
		if p := c.inflight[key]; p != nil {
			c.mu.Unlock()
			if p.msg.Text != text || p.msg.Kind != kind {
				return store.Message{}, false, ErrConflict
			}
			if err := p.wait(ctx); err != nil {
				return store.Message{}, false, err
			}
			return p.msg, true, nil
		}
		if _, ok := c.sent[s.hash(key)]; ok || c.loaded > 0 {
			// Sent and committed before (or another id with the same
			// hash, or a conversation loaded from the store, whose older
			// ids are not in sent): the store knows. The lock stays held
			// so that the same id cannot be appended meanwhile.
			m, err := s.st.FindMessageByClientID(ctx, id, string(who), clientID)
			switch {
			case err == nil:
				c.mu.Unlock()
				if m.Text != text || m.Kind != kind {
					return store.Message{}, false, ErrConflict
				}
				return m, true, nil
			case !errors.Is(err, store.ErrNotFound):
				c.mu.Unlock()
				return store.Message{}, false, fmt.Errorf("%w: looking up a repeated client id: %w", ErrNotCommitted, err)
			}
		}
	}
	role, ok := c.parts[who]
	switch {
	case c.ended:
		err = ErrEnded
	case !ok:
		err = ErrNotParticipant
	case kind == store.MsgNote && role == RoleVisitor:
		err = fmt.Errorf("%w: visitors cannot write notes", ErrWrongRole)
	case kind == store.MsgText && role == RoleConsult:
		err = fmt.Errorf("%w: a consulted colleague writes notes until the hand-over", ErrWrongRole)
	case role == RoleVisitor && c.held:
		err = ErrOnHold
	}
	if err != nil {
		c.mu.Unlock()
		return store.Message{}, false, err
	}
	p := s.append(c, store.Message{ClientID: clientID, Sender: string(who), Kind: kind, Text: text}, false, nil)
	c.mu.Unlock()
	if err := p.wait(ctx); err != nil {
		return store.Message{}, false, err
	}
	return p.msg, false, nil
}

func (s *Service) checkText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return ErrEmpty
	case len(text) > s.cfg.MaxTextBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, len(text), s.cfg.MaxTextBytes)
	case !utf8.ValidString(text) || strings.ContainsRune(text, 0):
		return ErrInvalidText
	}
	return nil
}

// event records that something happened and returns it once committed.
// check runs under the conversation's lock and may refuse; apply changes
// the live state once the event is queued. The event and the
// conversation's new record are committed together.
func (s *Service) event(ctx context.Context, id store.ConversationID, who Sender, ev string, data map[string]string,
	check func(c *conversation) error, apply func(c *conversation)) (store.Message, error) {
	p, err := s.queueEvent(ctx, id, who, ev, data, check, apply)
	return committed(ctx, p, err)
}

// queueEvent is event without the wait: the event is numbered, the live
// state changed and the write queued; it is committed once the returned
// write is.
func (s *Service) queueEvent(ctx context.Context, id store.ConversationID, who Sender, ev string, data map[string]string,
	check func(c *conversation) error, apply func(c *conversation)) (*pending, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return nil, ErrEnded
	}
	if err := check(c); err != nil {
		return nil, err
	}
	return s.append(c, store.Message{Sender: string(who), Kind: store.MsgEvent, Event: ev, Data: data}, true, apply), nil
}

func (s *Service) agentRole(c *conversation, who Sender, want Role) error {
	if _, ok := AgentOf(who); !ok {
		return fmt.Errorf("%w: only agents", ErrWrongRole)
	}
	role, ok := c.parts[who]
	if !ok {
		return ErrNotParticipant
	}
	if want != "" && role != want {
		return fmt.Errorf("%w: needs the %s role", ErrWrongRole, want)
	}
	return nil
}

// committed waits for a queued write and returns its message.
func committed(ctx context.Context, p *pending, err error) (store.Message, error) {
	if err != nil {
		return store.Message{}, err
	}
	if err := p.wait(ctx); err != nil {
		return store.Message{}, err
	}
	return p.msg, nil
}

// Join adds an agent to the conversation as owner or consult.
func (s *Service) Join(ctx context.Context, id store.ConversationID, agent routing.AgentID, role Role) (store.Message, error) {
	p, err := s.queueJoin(ctx, id, agent, role)
	return committed(ctx, p, err)
}

func (s *Service) queueJoin(ctx context.Context, id store.ConversationID, agent routing.AgentID, role Role) (*pending, error) {
	if role != RoleOwner && role != RoleConsult {
		return nil, fmt.Errorf("%w: role %q", ErrWrongRole, role)
	}
	who := AgentSender(agent)
	return s.queueEvent(ctx, id, who, EvJoined, map[string]string{"role": string(role)},
		func(c *conversation) error {
			if _, ok := c.parts[who]; ok {
				return fmt.Errorf("%w: %s already takes part", ErrWrongRole, agent)
			}
			return nil
		},
		func(c *conversation) {
			c.parts[who] = role
			if role == RoleOwner {
				c.rec.Status = store.ConvActive
				if c.held {
					c.rec.Status = store.ConvHeld
				}
			}
		})
}

// Leave takes an agent out of the conversation (a transfer handed it on,
// or a consult ended).
func (s *Service) Leave(ctx context.Context, id store.ConversationID, agent routing.AgentID) (store.Message, error) {
	p, err := s.queueLeave(ctx, id, agent)
	return committed(ctx, p, err)
}

func (s *Service) queueLeave(ctx context.Context, id store.ConversationID, agent routing.AgentID) (*pending, error) {
	who := AgentSender(agent)
	return s.queueEvent(ctx, id, who, EvLeft, nil,
		func(c *conversation) error { return s.agentRole(c, who, "") },
		func(c *conversation) {
			delete(c.parts, who)
			// Without an owner it waits for one again (a transfer to a
			// queue, or a restart that found routing had queued it again).
			for _, r := range c.parts {
				if r == RoleOwner {
					return
				}
			}
			c.rec.Status = store.ConvQueued
		})
}

// HandOver makes a consulted colleague the owner; the first agent leaves
// with a separate Leave.
func (s *Service) HandOver(ctx context.Context, id store.ConversationID, from, to routing.AgentID) (store.Message, error) {
	p, err := s.queueHandOver(ctx, id, from, to)
	return committed(ctx, p, err)
}

func (s *Service) queueHandOver(ctx context.Context, id store.ConversationID, from, to routing.AgentID) (*pending, error) {
	f, t := AgentSender(from), AgentSender(to)
	return s.queueEvent(ctx, id, f, EvHandedOver, map[string]string{"to": string(t)},
		func(c *conversation) error {
			if err := s.agentRole(c, f, RoleOwner); err != nil {
				return err
			}
			if _, ok := c.parts[t]; !ok {
				return fmt.Errorf("%w: %s has not joined", ErrNotParticipant, to)
			}
			return nil
		},
		func(c *conversation) { c.parts[t] = RoleOwner })
}

// Hold puts the conversation on hold (on) or resumes it: while held the
// visitor cannot send. Only the owner may.
func (s *Service) Hold(ctx context.Context, id store.ConversationID, agent routing.AgentID, on bool) (store.Message, error) {
	who := AgentSender(agent)
	ev := EvResume
	if on {
		ev = EvHold
	}
	return s.event(ctx, id, who, ev, nil,
		func(c *conversation) error {
			if err := s.agentRole(c, who, RoleOwner); err != nil {
				return err
			}
			if c.held == on {
				return fmt.Errorf("%w: already %s", ErrWrongState, map[bool]string{true: "on hold", false: "not on hold"}[on])
			}
			return nil
		},
		func(c *conversation) {
			c.held = on
			c.rec.Status = map[bool]string{true: store.ConvHeld, false: store.ConvActive}[on]
		})
}

// End ends the conversation, by the visitor or an agent taking part.
func (s *Service) End(ctx context.Context, id store.ConversationID, who Sender, reason string) (store.Message, error) {
	p, err := s.queueEnd(ctx, id, who, reason)
	return committed(ctx, p, err)
}

func (s *Service) queueEnd(ctx context.Context, id store.ConversationID, who Sender, reason string) (*pending, error) {
	return s.queueEvent(ctx, id, who, EvEnded, map[string]string{"reason": reason},
		func(c *conversation) error {
			if who == SenderSystem {
				return nil
			}
			if _, ok := c.parts[who]; !ok {
				return ErrNotParticipant
			}
			return nil
		},
		func(c *conversation) {
			c.ended = true
			c.rec.Status, c.rec.EndedAt, c.rec.EndReason = store.ConvEnded, s.now().UTC(), reason
		})
}

// History returns the committed messages after seq after, as who may see
// them (the visitor never sees notes). Up to limit are returned.
func (s *Service) History(ctx context.Context, id store.ConversationID, who Sender, after int64, limit int) ([]store.Message, error) {
	msgs, _, _, err := s.HistoryPage(ctx, id, who, after, limit)
	return msgs, err
}

// HistoryPage reads up to limit stored messages after seq after and
// returns those who may see (the visitor never sees notes), the highest
// seq it read (after when none), and whether the page was full: then more
// may follow after upTo. A page of notes is empty for a visitor but still
// moves upTo, so a reader pages by upTo, never by the last message seen.
func (s *Service) HistoryPage(ctx context.Context, id store.ConversationID, who Sender, after int64, limit int) (msgs []store.Message, upTo int64, full bool, err error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, after, false, err
	}
	c.mu.Lock()
	role, ok := c.parts[who]
	c.mu.Unlock()
	if !ok && who != SenderSystem {
		return nil, after, false, ErrNotParticipant
	}
	msgs, err = s.st.ListMessages(ctx, id, after, limit)
	if err != nil {
		return nil, after, false, fmt.Errorf("read messages: %w", err)
	}
	upTo, full = after, len(msgs) >= limit
	if len(msgs) > 0 {
		upTo = msgs[len(msgs)-1].Seq
	}
	if role == RoleVisitor {
		out := msgs[:0]
		for _, m := range msgs {
			if m.Kind != store.MsgNote {
				out = append(out, m)
			}
		}
		msgs = out
	}
	return msgs, upTo, full, nil
}

// Visible says whether a participant with role may see m.
func Visible(m store.Message, role Role) bool { return m.Kind != store.MsgNote || role != RoleVisitor }

// RoleOf returns who's role in the conversation, if they take part.
func (s *Service) RoleOf(ctx context.Context, id store.ConversationID, who Sender) (Role, bool, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return "", false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.parts[who]
	return r, ok, nil
}

// Info returns the conversation's record and who takes part.
func (s *Service) Info(ctx context.Context, id store.ConversationID) (store.Conversation, map[Sender]Role, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return store.Conversation{}, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := make(map[Sender]Role, len(c.parts))
	for k, v := range c.parts {
		parts[k] = v
	}
	rec := c.rec
	rec.LastSeq = c.nextSeq - 1 // numbered so far, committed or on its way
	return rec, parts, nil
}

// VisitorLeft records that the visitor went away (closed the page and did
// not come back in time). The conversation stays open for the agent to
// end; a visitor who comes back can go on.
func (s *Service) VisitorLeft(ctx context.Context, id store.ConversationID) (store.Message, error) {
	return s.event(ctx, id, SenderVisitor, EvLeft, map[string]string{"reason": "gone"},
		func(c *conversation) error {
			if _, ok := c.parts[SenderVisitor]; !ok {
				return ErrNotParticipant
			}
			return nil
		},
		func(*conversation) {})
}
