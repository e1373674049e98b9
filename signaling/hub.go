package signaling

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// hub knows who is connected and what each connection should hear: the
// committed messages of the conversations they take part in, and the
// routing news that concerns them. It keeps what a reconnecting desk must
// see again (pending offers, assignments, the communication queue).
type hub struct {
	s  *Server
	mu sync.Mutex

	agents   map[string]map[*conn]struct{}
	visitors map[string]map[*conn]struct{}
	names    map[routing.AgentID]string
	states   map[routing.AgentID]routing.AgentInfo
	offers   map[routing.AgentID]map[routing.InteractionID]offerOut
	assigned map[routing.AgentID]map[store.ConversationID]assignedOut
	parked   map[routing.InteractionID]parkedItem
	position map[string]positionOut           // the last position of each waiting conversation
	busy     map[string]bool                  // waiting or parked conversations told "busy" (declined, parked): told again on connect
	notes    map[routing.InteractionID]string // the note of a transfer under way
	gone     map[string]*time.Timer           // visitors who disconnected, by conversation
	away     map[string]*time.Timer           // agents whose last desk closed, by agent
	replies  map[string]*replyCache           // recent replies by principal, for retried command ids
	absent   absentSync                       // tells routing whether visitors are connected
}

func newHub(s *Server) *hub {
	return &hub{
		s: s, agents: map[string]map[*conn]struct{}{}, visitors: map[string]map[*conn]struct{}{},
		names: map[routing.AgentID]string{}, states: map[routing.AgentID]routing.AgentInfo{},
		offers: map[routing.AgentID]map[routing.InteractionID]offerOut{}, assigned: map[routing.AgentID]map[store.ConversationID]assignedOut{},
		parked: map[routing.InteractionID]parkedItem{}, position: map[string]positionOut{}, busy: map[string]bool{}, notes: map[routing.InteractionID]string{}, gone: map[string]*time.Timer{}, away: map[string]*time.Timer{}, replies: map[string]*replyCache{},
	}
}

func principal(c *conn) string {
	if c.agent != "" {
		return "agent:" + c.agent
	}
	return "visitor:" + c.conversation
}

func (h *hub) add(c *conn, a store.Agent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.agent != "" {
		if t := h.away[c.agent]; t != nil {
			t.Stop()
			delete(h.away, c.agent)
		}
		if h.agents[c.agent] == nil {
			h.agents[c.agent] = map[*conn]struct{}{}
		}
		h.agents[c.agent][c] = struct{}{}
		h.names[a.ID] = a.DisplayName
		if !c.roles.has(roleAgent) {
			// Supervisors and administrators see the shared views, and
			// have no presence, offers or conversations of their own.
			c.send(helloStaffOut{Agent: accountOf(a), Role: "staff", Type: "hello", V: 1})
			c.send(h.parkedMsg())
			c.send(h.operatorsMsg())
			return
		}
		c.send(helloStaffOut{Agent: accountOf(a), Role: "agent", Type: "hello", V: 1})
		if st, ok := h.states[a.ID]; ok {
			c.send(stateMsg(st))
		} else {
			c.send(stateOut{Presence: a.Presence, Reason: a.AwayReason, State: string(a.Presence), Type: "state"})
		}
		for _, p := range h.assigned[a.ID] {
			c.send(p)
		}
		for _, p := range h.offers[a.ID] {
			c.send(p)
		}
		c.send(h.parkedMsg())
		c.send(h.operatorsMsg())
		return
	}
	if t := h.gone[c.conversation]; t != nil {
		t.Stop()
		delete(h.gone, c.conversation)
	}
	if h.visitors[c.conversation] == nil {
		h.visitors[c.conversation] = map[*conn]struct{}{}
	}
	h.visitors[c.conversation][c] = struct{}{}
	go h.syncAbsent(c.conversation)
	rec, _, _ := h.s.chat.Info(c.ctx, store.ConversationID(c.conversation))
	c.send(helloVisitorOut{Conversation: c.conversation, LastSeq: rec.LastSeq, Role: "visitor", Status: rec.Status, Type: "hello", V: 1})
	if p, ok := h.position[c.conversation]; ok {
		c.send(p)
	}
	if h.busy[c.conversation] {
		c.send(typeOut{Type: "busy"}) // a page that reloads after a decline reads it again
	}
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.agent != "" {
		// An agent whose desk stays closed is signed out, so that offers do
		// not go to nobody; a reload within the grace period changes nothing.
		id, agent := c.agent, c.roles.has(roleAgent)
		h.lastGone(h.agents, h.away, id, c, func(ctx context.Context) error {
			if !agent {
				return nil
			}
			return h.s.router.Do(ctx, routing.SetPresence{Agent: routing.AgentID(id), Presence: routing.PresenceOffline})
		})
		return
	}
	h.lastGone(h.visitors, h.gone, c.conversation, c, h.visitorGone(c.conversation))
	go h.syncAbsent(c.conversation)
}

// lastGone takes c out of conns[key]; when it was the last one, act runs
// after the grace period unless a connection for key came back meanwhile.
// timers holds the pending ones. The caller holds h.mu.
func (h *hub) lastGone(conns map[string]map[*conn]struct{}, timers map[string]*time.Timer, key string, c *conn, act func(context.Context) error) {
	delete(conns[key], c)
	if len(conns[key]) > 0 {
		return
	}
	delete(conns, key)
	h.afterGrace(conns, timers, key, act)
}

// afterGrace runs act after the grace period unless a connection for key
// came back meanwhile. The caller holds h.mu.
func (h *hub) afterGrace(conns map[string]map[*conn]struct{}, timers map[string]*time.Timer, key string, act func(context.Context) error) {
	timers[key] = time.AfterFunc(h.s.cfg.VisitorGrace, func() {
		h.mu.Lock()
		_, back := conns[key]
		delete(timers, key)
		h.mu.Unlock()
		if back {
			return
		}
		ctx, cancel := context.WithTimeout(h.s.baseCtx, 15*time.Second)
		defer cancel()
		if err := act(ctx); err != nil {
			h.s.log.Debug("after the grace period", "who", key, "err", err)
		}
	})
}

func (h *hub) toAgent(id routing.AgentID, p any) {
	for c := range h.agents[string(id)] {
		c.send(p)
	}
}

// toAllAgents encodes p once and sends it to every desk.
func (h *hub) toAllAgents(p any) {
	b, err := json.Marshal(p)
	if err != nil {
		h.s.log.Error("encoding a message", "err", err)
		return
	}
	for _, cs := range h.agents {
		for c := range cs {
			c.sendRaw(b)
		}
	}
}

func (h *hub) toVisitor(conv string, p any) {
	for c := range h.visitors[conv] {
		c.send(p)
	}
}

func (h *hub) senderName(m store.Message, visitorName string) string {
	if a, ok := chat.AgentOf(chat.Sender(m.Sender)); ok {
		if n := h.names[a]; n != "" {
			return n
		}
		return string(a)
	}
	if m.Sender == string(chat.SenderVisitor) {
		if visitorName != "" {
			return visitorName
		}
		return "Visitor"
	}
	return ""
}

// messageOut is a message on the wire: a struct, not a map, as
// every chat message is encoded once and the map's encoding was several
// times slower.
type messageOut struct {
	Type         string               `json:"type"`
	Conversation store.ConversationID `json:"conversation"`
	Seq          int64                `json:"seq"`
	Sender       string               `json:"sender"`
	SenderName   string               `json:"senderName"`
	Kind         string               `json:"kind"`
	Text         string               `json:"text"`
	Time         string               `json:"time"`
	Event        string               `json:"event,omitempty"`
	Data         any                  `json:"data,omitempty"` // set for events only, null included
}

func (h *hub) msgPayload(m store.Message, visitorName string) messageOut {
	p := messageOut{Type: "message", Conversation: m.Conversation, Seq: m.Seq, Sender: m.Sender,
		SenderName: h.senderName(m, visitorName), Kind: m.Kind, Text: m.Text, Time: m.CreatedAt.UTC().Format(time.RFC3339Nano)}
	if m.Event != "" {
		p.Event, p.Data = m.Event, m.Data
	}
	return p
}

// message delivers a committed message to the participants' connections.
func (h *hub) message(m store.Message) {
	rec, parts, err := h.s.chat.Info(h.s.baseCtx, m.Conversation)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := json.Marshal(h.msgPayload(m, rec.VisitorName)) // once for every connection
	if err != nil {
		h.s.log.Error("encoding a message", "err", err)
		return
	}
	conv := string(m.Conversation)
	// The last message of conv for a connection: its end, or the leaving
	// of the connection's agent.
	ended := m.Event == chat.EvEnded
	var leaver routing.AgentID
	if a, ok := chat.AgentOf(chat.Sender(m.Sender)); ok && m.Event == chat.EvLeft {
		leaver = a
	}
	for who, role := range parts {
		b := b
		if !chat.Visible(m, role) {
			b = nil // not sent, but counted as seen: no gap to fill on a resume
		}
		if who == chat.SenderVisitor {
			for c := range h.visitors[conv] {
				c.sendMessage(conv, m.Seq, b, ended)
			}
		} else if a, ok := chat.AgentOf(who); ok {
			for c := range h.agents[string(a)] {
				c.sendMessage(conv, m.Seq, b, ended || a == leaver)
			}
		}
	}
	// An agent who just left still hears of their own leaving.
	if leaver != "" {
		if _, still := parts[chat.Sender(m.Sender)]; !still {
			for c := range h.agents[string(leaver)] {
				c.sendMessage(conv, m.Seq, b, true)
			}
		}
	}
}

func (h *hub) visitorInfo(conv store.ConversationID) (visitorOut, store.Conversation) {
	rec, _, _ := h.s.chat.Info(h.s.baseCtx, conv)
	return visitorOut{Attributes: rec.Attributes, Name: rec.VisitorName}, rec
}

// effect turns a routing effect into messages for the connections.
func (h *hub) effect(f routing.Effect) {
	switch f := f.(type) {
	case routing.Offer:
		conv := store.ConversationID(f.Interaction)
		vis, rec := h.visitorInfo(conv)
		p := offerOut{Channel: f.Channel, Conversation: conv, Deadline: rfc3339(f.Deadline), Interaction: f.Interaction, Queue: f.Queue,
			Type: "offer", Visitor: vis, Waited: int(h.s.now().Sub(rec.CreatedAt).Seconds())}
		if f.Transfer {
			mode := routing.TransferBlind
			if f.Consult {
				mode = routing.TransferWarm
			}
			h.mu.Lock()
			p.Transfer = &transferOut{From: f.From, Mode: mode, Note: h.notes[f.Interaction]}
			h.mu.Unlock()
		}
		h.mu.Lock()
		if h.offers[f.Agent] == nil {
			h.offers[f.Agent] = map[routing.InteractionID]offerOut{}
		}
		h.offers[f.Agent][f.Interaction] = p
		h.toAgent(f.Agent, p)
		h.mu.Unlock()
	case routing.OfferEnded:
		h.mu.Lock()
		delete(h.offers[f.Agent], f.Interaction)
		delete(h.notes, f.Interaction)
		h.toAgent(f.Agent, offerEndedOut{Interaction: f.Interaction, Reason: f.Reason, Type: "offer_ended"})
		h.mu.Unlock()
	case routing.Assigned:
		conv := store.ConversationID(f.Interaction)
		vis, rec := h.visitorInfo(conv)
		role := chat.RoleOwner
		if f.Consult {
			role = chat.RoleConsult
		}
		p := assignedOut{Conversation: conv, From: f.From, Queue: rec.Queue, Role: role, Type: "assigned", Visitor: vis}
		h.mu.Lock()
		delete(h.notes, f.Interaction)
		if h.assigned[f.Agent] == nil {
			h.assigned[f.Agent] = map[store.ConversationID]assignedOut{}
		}
		h.assigned[f.Agent][conv] = p
		h.toAgent(f.Agent, p)
		h.mu.Unlock()
	case routing.Unassigned:
		h.unassign(f.Agent, store.ConversationID(f.Interaction), f.Reason)
	case routing.Position:
		h.mu.Lock()
		ewt := -1
		if f.EstimatedWait >= 0 {
			ewt = int(f.EstimatedWait.Seconds())
		}
		p := positionOut{EstimatedWait: ewt, Position: f.Position, Type: "position"}
		h.position[string(f.Interaction)] = p
		h.toVisitor(string(f.Interaction), p)
		h.mu.Unlock()
	case routing.Left:
		h.mu.Lock()
		h.toVisitor(string(f.Interaction), reasonOut{Reason: f.Reason, Type: "left"})
		h.mu.Unlock()
	case *routing.Event:
		h.event(f)
	case routing.AgentInfo:
		h.mu.Lock()
		prev, known := h.states[f.ID]
		h.states[f.ID] = f
		h.toAgent(f.ID, stateMsg(f))
		// The list of colleagues changes with presence, not with every
		// busy/available flip: with hundreds of agents that would be a
		// list to every desk for every offer.
		if !known || prev.Presence != f.Presence {
			h.toAllAgents(h.operatorsMsg())
		}
		h.mu.Unlock()
	case *routing.InteractionInfo:
		conv := store.ConversationID(f.ID)
		if f.Status != routing.StatusWaiting {
			h.mu.Lock()
			delete(h.position, string(f.ID))
			if f.Status != routing.StatusParked {
				delete(h.busy, string(f.ID))
			}
			h.mu.Unlock()
		}
		switch f.Status {
		case routing.StatusWrapUp:
			var wrap time.Duration
			for _, q := range h.s.cfg.Queues {
				if q.ID == f.Queue {
					wrap = q.WrapUp
				}
			}
			h.mu.Lock()
			h.toAgent(f.Agent, wrapupOut{Conversation: conv, Deadline: rfc3339(f.EndedAt.Add(wrap)), Type: "wrapup"})
			h.mu.Unlock()
		case routing.StatusEnded:
			if f.Agent != "" {
				h.unassign(f.Agent, conv, "ended")
			}
		}
	}
}

func (h *hub) unassign(a routing.AgentID, conv store.ConversationID, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.assigned[a][conv]; !ok {
		return
	}
	delete(h.assigned[a], conv)
	h.toAgent(a, unassignedOut{Conversation: conv, Reason: reason, Type: "unassigned"})
}

func (h *hub) event(ev *routing.Event) {
	var item parkedItem
	if ev.Type == routing.EvParked {
		vis, rec := h.visitorInfo(store.ConversationID(ev.Interaction))
		item = parkedItem{Conversation: ev.Interaction, Interaction: ev.Interaction, Queue: ev.Queue, Since: rfc3339(ev.Time), Visitor: vis}
		if !rec.CreatedAt.IsZero() {
			// The visitor's wait goes on through the park: desks count from here.
			item.WaitingSince = rfc3339(rec.CreatedAt)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch ev.Type {
	case routing.EvAccepted, routing.EvDeclined, routing.EvParked, routing.EvOfferTimeout, routing.EvOfferWithdrawn:
		// Answered (or lapsed): a reconnecting desk must not see it again.
		delete(h.offers[ev.Agent], ev.Interaction)
	}
	switch ev.Type {
	case routing.EvDeclined, routing.EvParked:
		h.busy[string(ev.Interaction)] = true
		h.toVisitor(string(ev.Interaction), typeOut{Type: "busy"})
	}
	switch ev.Type {
	case routing.EvParked:
		h.parked[ev.Interaction] = item
		h.toAllAgents(h.parkedMsg())
	case routing.EvTaken, routing.EvAbandoned, routing.EvTimedOut, routing.EvNoAgents, routing.EvClosed:
		if _, ok := h.parked[ev.Interaction]; ok {
			delete(h.parked, ev.Interaction)
			h.toAllAgents(h.parkedMsg())
		}
	}
}

func (h *hub) parkedMsg() parkedOut {
	items := slices.Collect(maps.Values(h.parked))
	slices.SortFunc(items, func(a, b parkedItem) int { return strings.Compare(a.Since, b.Since) })
	if items == nil {
		items = []parkedItem{}
	}
	return parkedOut{Items: items, Type: "parked"}
}

func (h *hub) operatorsMsg() operatorsOut {
	items := []operatorItem{}
	ids := slices.Sorted(maps.Keys(h.states))
	for _, id := range ids {
		st := h.states[id]
		if st.Presence == routing.PresenceOffline {
			continue
		}
		name := h.names[id]
		if name == "" {
			name = string(id)
		}
		items = append(items, operatorItem{DisplayName: name, ID: id, Presence: st.Presence, State: st.Presence})
	}
	return operatorsOut{Items: items, Type: "operators"}
}

// Seed tells the edges the accounts and agent states at start, and which
// open conversations each agent takes part in, so that a desk that
// reconnects after a restart gets its conversations back.
func (s *Server) Seed(ctx context.Context, agents []store.Agent, views []routing.AgentInfo) error {
	s.hub.seed(agents, views)
	open, err := s.st.ListOpenConversations(ctx)
	if err != nil {
		return err
	}
	for _, rec := range open {
		_, parts, err := s.chat.Info(ctx, rec.ID)
		if err != nil {
			return err
		}
		for who, role := range parts {
			if a, ok := chat.AgentOf(who); ok {
				s.hub.effect(routing.Assigned{Interaction: routing.InteractionID(rec.ID), Agent: a, Channel: routing.ChannelChat, Consult: role == chat.RoleConsult})
			}
		}
		if _, ok := parts[chat.SenderVisitor]; ok {
			s.hub.expectVisitor(string(rec.ID)) // not back after the restart within the grace: gone
		}
	}
	return nil
}

// seed loads what the hub must know at start: agent names and states.
func (h *hub) seed(agents []store.Agent, views []routing.AgentInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range agents {
		h.names[a.ID] = a.DisplayName
	}
	for _, v := range views {
		h.states[v.ID] = v
	}
}

// replyCache remembers the last command ids of a principal: what each is
// bound to (type and target) and, once answered, its reply. A command sent
// again with the same id gets the same answer without acting twice; the id
// with another command is a conflict (see admit).
type replyCache struct {
	order []string
	byID  map[string]*idBinding
}

type idBinding struct {
	typ, target string
	reply       []byte        // nil until answered, and for commands run again
	done        chan struct{} // closed once the first run answered (finish)
	waiting     int           // resends waiting for it (awaitFirst)
}

const replyCacheSize = 512

// boundTo returns what id is bound to; an id not bound yet is bound to typ
// and target (ok false).
func (h *hub) boundTo(who, id, typ, target string, waitable bool) (idBinding, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rc := h.replies[who]
	if rc == nil {
		rc = &replyCache{byID: map[string]*idBinding{}}
		h.replies[who] = rc
	}
	if b, ok := rc.byID[id]; ok {
		return *b, true
	}
	rc.order = append(rc.order, id)
	b := &idBinding{typ: typ, target: target}
	if waitable {
		b.done = make(chan struct{}) // only where a resend waits: not for every send
	}
	rc.byID[id] = b
	if len(rc.order) > replyCacheSize {
		delete(rc.byID, rc.order[0])
		rc.order = rc.order[1:]
	}
	return idBinding{}, false
}

// finish says that a run of the command with this id has answered (or
// ended without an answer to keep): whoever waits for it goes on.
func (h *hub) finish(who, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rc := h.replies[who]; rc != nil {
		if b := rc.byID[id]; b != nil && b.done != nil {
			select {
			case <-b.done:
			default:
				close(b.done)
			}
		}
	}
}

// awaitFirst waits until done closes (true) or ctx ends (false).
func (h *hub) awaitFirst(ctx context.Context, who, id string, done chan struct{}) bool {
	h.mu.Lock()
	b := h.replies[who].byID[id]
	if b != nil {
		b.waiting++
	}
	h.mu.Unlock()
	defer func() {
		if b != nil {
			h.mu.Lock()
			b.waiting--
			h.mu.Unlock()
		}
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// remember keeps the first reply to a command.
func (h *hub) remember(who, id, typ, target string, reply []byte) {
	h.boundTo(who, id, typ, target, false)
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.replies[who].byID[id]; b != nil && b.reply == nil && b.typ == typ && b.target == target {
		b.reply = reply
	}
}
