package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/routing"
)

// Voice: a conversation may carry one call. Every voice leg ends at the
// server (media.Leg); calls decides, from the conversation's state, which
// legs hear which:
//
//   - only the visitor's leg is up: the visitor hears ringback while the
//     call waits in the queue, music once an agent had it (a transfer);
//   - the owner's leg is up too: visitor and owner are bridged;
//   - on hold: the visitor hears music, the agent silence;
//   - a warm transfer's colleague joined: the visitor hears music while the
//     owner and the colleague talk; then the owner leaves (complete) or the
//     colleague does (cancel) and the visitor is bridged again, with no new
//     offer from the visitor's browser.
//
// A call's state goes to the participants as "call" messages; its steps go
// into the conversation's log as events (chat.EvCall*).

// Call states sent to clients.
const (
	CallInvited   = "invited"   // the agent asked the visitor to talk (visitor)
	CallDeclined  = "declined"  // the visitor said no (agents)
	CallWaiting   = "waiting"   // the visitor's voice is up, no agent on the line yet
	CallConnected = "connected" // visitor and owner hear each other
	CallHeld      = "held"      // on hold: music for the visitor
	CallConsult   = "consult"   // the owner talks to a colleague; music for the visitor
	CallEnded     = "ended"
)

// Voice configures calls on the edges.
type Voice struct {
	Media *media.Engine
	// ICEServers are handed to browsers (STUN/TURN) with their sessions.
	ICEServers []ICEServer
}

// ICEServer is one STUN or TURN server as browsers take it.
type ICEServer struct {
	URLs       []string `json:"urls" yaml:"urls"`
	Username   string   `json:"username,omitempty" yaml:"username"`
	Credential string   `json:"credential,omitempty" yaml:"credential"`
}

// ErrNoVoice is returned for voice commands when voice is not enabled.
var ErrNoVoice = &Error{CodeUnavailable, "voice is not available on this server"}

// errNoCall: no call in the conversation (or it ended).
var errNoCall = &Error{CodeNotFound, "there is no call in this conversation"}

type callLeg struct {
	leg *media.Leg
	up  bool
}

type call struct {
	mu         sync.Mutex
	conv       store.ConversationID
	voiceFirst bool            // the visitor chose Voice: the conversation ends with the call
	invited    bool            // an agent asked; the visitor has not answered
	begun      bool            // the visitor's first leg is up: the call counts
	starting   bool            // the first offer is being handled
	leaving    routing.AgentID // handed the call over and is about to leave
	visitor    *callLeg
	agents     map[routing.AgentID]*callLeg
	state      string
	arranged   string // what the legs were last told, to avoid re-telling
	started    time.Time
	talking    time.Time // first connected
	ended      bool
}

type calls struct {
	seq   atomic.Uint64 // makes leg ids unique
	s     *Server
	voice Voice
	mu    sync.Mutex
	m     map[store.ConversationID]*call
}

func newCalls(s *Server) *calls {
	return &calls{s: s, m: map[store.ConversationID]*call{}}
}

func (cs *calls) enabled() bool { return cs.voice.Media != nil }

func (cs *calls) get(id store.ConversationID) *call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.m[id]
}

// Active reports the conversations with a call, for the drain and tests.
func (cs *calls) active() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.m)
}

// sendTo delivers p to a participant's connections.
func (cs *calls) sendTo(conv store.ConversationID, who chat.Sender, p payload) {
	h := cs.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if who == chat.SenderVisitor {
		h.toVisitor(string(conv), p)
	} else if a, ok := chat.AgentOf(who); ok {
		h.toAgent(a, p)
	}
}

type outMsg struct {
	who chat.Sender
	p   payload
}

func (cs *calls) flush(conv store.ConversationID, msgs []outMsg) {
	for _, m := range msgs {
		cs.sendTo(conv, m.who, m.p)
	}
}

// callMsg is the call's state as who sees it; the caller holds c.mu.
func (c *call) msgFor(who chat.Sender, cause string) payload {
	p := payload{"type": "call", "conversation": c.conv, "state": c.state}
	if cause != "" {
		p["cause"] = cause
	}
	if !c.talking.IsZero() {
		p["since"] = c.talking.UTC().Format(time.RFC3339Nano)
	}
	if a, ok := chat.AgentOf(who); ok && c.state != CallEnded && c.state != CallDeclined && c.state != CallInvited {
		// The desk opens its leg when the server says so: after accepting
		// a call, on a transfer, or after a reload.
		_, has := c.agents[a]
		p["needLeg"] = !has
	}
	return p
}

// offer handles an SDP offer from who: it creates the call if there is
// none (voice added to a chat, or the visitor who chose Voice), or the
// leg, or renegotiates an existing leg (renew: same browser peer, e.g. an
// ICE restart after a network change).
func (cs *calls) offer(ctx context.Context, conv store.ConversationID, who chat.Sender, sdp string, renew bool) (string, error) {
	if !cs.enabled() {
		return "", ErrNoVoice
	}
	if strings.TrimSpace(sdp) == "" {
		return "", badRequest("the field sdp is missing")
	}
	if len(sdp) > 32<<10 {
		return "", badRequest("the SDP is larger than 32 KiB")
	}
	rec, parts, err := cs.s.chat.Info(ctx, conv)
	if err != nil {
		return "", err
	}
	if rec.Status == store.ConvEnded {
		return "", chat.ErrEnded
	}
	role, ok := parts[who]
	if !ok {
		return "", chat.ErrNotParticipant
	}
	if strings.HasPrefix(string(conv), chat.OperatorPrefix) {
		return "", fmt.Errorf("%w: no calls between operators yet", chat.ErrWrongRole)
	}
	voiceFirst := isVoiceFirst(rec)
	if !voiceFirst && rec.Status == store.ConvQueued {
		return "", fmt.Errorf("%w: voice can be added once an operator has joined the chat", errWrongCallState)
	}

	cs.mu.Lock()
	c := cs.m[conv]
	if c == nil || c.ended {
		if role != chat.RoleVisitor {
			cs.mu.Unlock()
			return "", errNoCall
		}
		c = &call{conv: conv, agents: map[routing.AgentID]*callLeg{}, started: cs.s.now(), voiceFirst: voiceFirst}
		cs.m[conv] = c
	}
	cs.mu.Unlock()

	c.mu.Lock()
	// Only the visitor begins a call. An agent may offer while the
	// visitor's first offer is being answered: the desk was told to open
	// its leg as soon as it joined, which can be before that answer.
	begin := !c.begun && role == chat.RoleVisitor
	switch {
	case c.ended:
		c.mu.Unlock()
		return "", errNoCall
	case !c.begun && !c.starting && role != chat.RoleVisitor:
		c.mu.Unlock()
		return "", errNoCall
	case begin && c.starting:
		c.mu.Unlock()
		return "", fmt.Errorf("%w: the call is being set up; send the offer again in a moment", errWrongCallState)
	}
	if cl := c.legOf(who); cl != nil && renew {
		leg := cl.leg
		c.mu.Unlock()
		ans, err := leg.HandleOffer(sdp)
		return ans, mediaErr(err)
	}
	c.starting = c.starting || begin
	fail := func(err error) (string, error) {
		if begin {
			c.mu.Lock()
			c.starting = false
			c.mu.Unlock()
			cs.drop(c, false)
		}
		return "", err
	}
	leg, err := cs.newLeg(c, who)
	if err != nil {
		c.mu.Unlock()
		return fail(err)
	}
	c.mu.Unlock()
	// The offer is answered outside the call's lock: the media of the
	// legs already up goes on meanwhile.
	if h := cs.s.cfg.BeforeAnswer; h != nil {
		h(conv, who)
	}
	ans, err := leg.HandleOffer(sdp)
	if err != nil {
		leg.Close()
		return fail(mediaErr(err))
	}
	if begin && !c.voiceFirst {
		// Voice added to a chat: it now takes the agent's voice capacity
		// (only once the offer was good: a bad one changes nothing).
		if err := cs.s.router.Do(ctx, routing.SetChannel{Interaction: routing.InteractionID(conv), Channel: routing.ChannelVoice}); err != nil {
			leg.Close()
			var re *routing.Error
			if errors.As(err, &re) && (re.Code == routing.CodeNoCapacity || re.Code == routing.CodeNotEligible) {
				err = fmt.Errorf("%w: the operator cannot take a call now (%s)", ErrNoVoice, re.Msg)
			}
			return fail(err)
		}
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		leg.Close()
		if begin {
			cs.setChat(c)
		}
		return "", errNoCall
	}
	old := c.legOf(who)
	c.starting = c.starting && !begin
	c.invited = false
	c.setLeg(who, &callLeg{leg: leg})
	c.begun = c.begun || begin
	parts = cs.parts(ctx, c)
	msgs := cs.arrange(ctx, c, parts, "")
	c.mu.Unlock()
	if old != nil {
		old.leg.Close()
	}
	cs.flush(conv, msgs)
	if begin {
		if _, err := cs.s.chat.CallEvent(ctx, conv, who, chat.EvCallStarted, nil); err != nil {
			cs.s.log.Warn("call event not stored", "conversation", conv, "err", err)
		}
	}
	// The conversation may have ended while the leg was made: then the
	// call ends too.
	if rec, _, err := cs.s.chat.Info(ctx, conv); err == nil && rec.Status == store.ConvEnded {
		cs.end(ctx, c, "ended", false)
		return "", chat.ErrEnded
	}
	return ans, nil
}

// isVoiceFirst: the visitor chose Voice when starting (the server sets the
// attribute; a chat session cannot).
func isVoiceFirst(rec store.Conversation) bool {
	return rec.Attributes["channel"] == string(routing.ChannelVoice)
}

// parts reads the participants; the caller holds c.mu, so that plans are
// made in the order the conversation changed.
func (cs *calls) parts(ctx context.Context, c *call) map[chat.Sender]chat.Role {
	_, parts, err := cs.s.chat.Info(ctx, c.conv)
	if err != nil {
		return map[chat.Sender]chat.Role{}
	}
	return parts
}

// setChat gives a chat whose call ended its chat channel back in routing.
func (cs *calls) setChat(c *call) {
	if c.voiceFirst {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	err := cs.s.router.Do(ctx, routing.SetChannel{Interaction: routing.InteractionID(c.conv), Channel: routing.ChannelChat, Return: true})
	if err != nil && !isGoneErr(err) {
		cs.s.log.Warn("giving a chat its channel back", "conversation", c.conv, "err", err)
	}
}

// drop forgets a call that never got going; voice (when it was added to a
// chat and reached routing) gives the interaction its chat channel back.
func (cs *calls) drop(c *call, wasVoice bool) {
	cs.mu.Lock()
	if cs.m[c.conv] == c {
		delete(cs.m, c.conv)
	}
	cs.mu.Unlock()
	c.mu.Lock()
	c.ended = true
	var legs []*media.Leg
	for a, l := range c.agents { // agents who offered while it was starting
		legs = append(legs, l.leg)
		delete(c.agents, a)
	}
	c.mu.Unlock()
	for _, l := range legs {
		l.Close()
	}
	if wasVoice {
		cs.setChat(c)
	}
}

func mediaErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, media.ErrBadSDP):
		return badRequest("the SDP offer could not be read: " + err.Error())
	case errors.Is(err, media.ErrNoCommonCodec):
		return badRequest("no audio codec in common: the server speaks G.711 (PCMU/PCMA)")
	case errors.Is(err, media.ErrClosed):
		return errNoCall
	case errors.Is(err, media.ErrOfferPending):
		return fmt.Errorf("%w: an offer for this leg is being answered", errWrongCallState)
	}
	return err
}

func (c *call) legOf(who chat.Sender) *callLeg {
	if who == chat.SenderVisitor {
		return c.visitor
	}
	if a, ok := chat.AgentOf(who); ok {
		return c.agents[a]
	}
	return nil
}

func (c *call) setLeg(who chat.Sender, cl *callLeg) {
	if who == chat.SenderVisitor {
		c.visitor = cl
		return
	}
	if a, ok := chat.AgentOf(who); ok {
		if cl == nil {
			delete(c.agents, a)
		} else {
			c.agents[a] = cl
		}
	}
}

// newLeg opens a media leg for who; its events come back through the
// call. The caller holds c.mu.
func (cs *calls) newLeg(c *call, who chat.Sender) (*media.Leg, error) {
	var leg *media.Leg
	conv := c.conv
	h := media.LegHandler{
		OnCandidate: func(ci webrtc.ICECandidateInit) {
			cs.sendTo(conv, who, payload{"type": "ice", "conversation": conv, "candidate": ci})
		},
		// Media callbacks run on media's goroutines: the call's work runs
		// on its own so no lock of media's is held while the call takes
		// its own.
		OnConnected: func() { go cs.legUp(c, who, leg) },
		OnEnded:     func(cause string) { go cs.legEnded(c, who, leg, cause) },
	}
	l, err := cs.voice.Media.NewLeg(fmt.Sprintf("%s/%s/%d", conv, who, cs.seq.Add(1)), h)
	if err != nil {
		return nil, err
	}
	leg = l
	return l, nil
}

func (cs *calls) legUp(c *call, who chat.Sender, leg *media.Leg) {
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	cl := c.legOf(who)
	if c.ended || cl == nil || cl.leg != leg {
		c.mu.Unlock()
		return
	}
	cl.up = true
	first := c.talking.IsZero()
	msgs := cs.arrange(ctx, c, cs.parts(ctx, c), "")
	connected := first && !c.talking.IsZero()
	c.mu.Unlock()
	cs.flush(c.conv, msgs)
	if connected {
		if _, err := cs.s.chat.CallEvent(ctx, c.conv, chat.SenderSystem, chat.EvCallConnected, nil); err != nil {
			cs.s.log.Warn("call event not stored", "conversation", c.conv, "err", err)
		}
	}
}

// ReloadGrace is how long a call waits for a participant whose browser
// went away (a page reload closes the peer connection) to open a new leg
// before it ends. A leg that received no audio for the media timeout ends
// the call at once: it has waited long enough.
var ReloadGrace = 10 * time.Second

// legEnded: a leg stopped by itself (its media stopped, ICE failed, the
// browser closed it). For the visitor or the owner the call ends, after
// ReloadGrace unless a new leg came meanwhile (and frees the agent); the
// leg of anybody else only takes them off the line.
func (cs *calls) legEnded(c *call, who chat.Sender, leg *media.Leg, cause string) {
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	cl := c.legOf(who)
	if c.ended || cl == nil || cl.leg != leg {
		c.mu.Unlock()
		return
	}
	parts := cs.parts(ctx, c)
	a, isAgent := chat.AgentOf(who)
	vital := who == chat.SenderVisitor || (isAgent && parts[who] == chat.RoleOwner && a != c.leaving)
	if !vital {
		c.setLeg(who, nil)
		msgs := cs.arrange(ctx, c, parts, "")
		c.mu.Unlock()
		leg.Close()
		cs.flush(c.conv, msgs)
		return
	}
	if cause == media.CauseMediaTimeout {
		c.mu.Unlock()
		cs.end(ctx, c, cause, true)
		return
	}
	// Maybe a reload: the others hear nothing from this leg meanwhile.
	cl.up = false
	msgs := cs.arrange(ctx, c, parts, "")
	c.mu.Unlock()
	cs.flush(c.conv, msgs)
	time.AfterFunc(ReloadGrace, func() {
		c.mu.Lock()
		same := c.legOf(who) == cl
		c.mu.Unlock()
		if !same {
			return // a new leg came
		}
		ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
		defer cancel()
		cs.end(ctx, c, cause, true)
	})
}

// end ends the call: every leg closes, the participants hear why, the log
// gets call_ended. A call the visitor began by choosing Voice ends its
// conversation too (when endConv); a call added to a chat leaves the chat
// going and gives the interaction its chat channel back.
func (cs *calls) end(ctx context.Context, c *call, cause string, endConv bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	var legs []*media.Leg
	if c.visitor != nil {
		legs = append(legs, c.visitor.leg)
	}
	for _, cl := range c.agents {
		legs = append(legs, cl.leg)
	}
	c.state = CallEnded
	secs := 0
	if !c.talking.IsZero() {
		secs = int(cs.s.now().Sub(c.talking).Round(time.Second).Seconds())
	}
	_, parts, _ := cs.s.chat.Info(ctx, c.conv)
	var msgs []outMsg
	for who := range parts {
		msgs = append(msgs, outMsg{who, c.msgFor(who, cause)})
	}
	voiceFirst, begun := c.voiceFirst, c.begun
	c.mu.Unlock()
	cs.mu.Lock()
	if cs.m[c.conv] == c {
		delete(cs.m, c.conv)
	}
	cs.mu.Unlock()
	for _, l := range legs {
		l.Close()
	}
	cs.flush(c.conv, msgs)
	if _, err := cs.s.chat.CallEvent(ctx, c.conv, chat.SenderSystem, chat.EvCallEnded,
		map[string]string{"cause": cause, "seconds": strconv.Itoa(secs)}); err != nil && !errors.Is(err, chat.ErrEnded) {
		cs.s.log.Warn("call event not stored", "conversation", c.conv, "err", err)
	}
	if endConv && voiceFirst {
		if err := cs.s.coord.EndBySystem(ctx, c.conv, "call_"+cause); err != nil {
			cs.s.log.Warn("ending the conversation of a call", "conversation", c.conv, "err", err)
		}
		return
	}
	if begun {
		cs.setChat(c) // a chat goes on without voice (nothing for a call-first one)
	}
}

func isGoneErr(err error) bool {
	return errors.Is(err, routing.ErrUnknownInteraction) || errors.Is(err, routing.ErrWrongState)
}

// arrange tells the legs what to hear from the conversation's state and
// returns the call messages to send when the state changed. The caller
// holds c.mu; parts are the conversation's participants.
func (cs *calls) arrange(ctx context.Context, c *call, parts map[chat.Sender]chat.Role, cause string) []outMsg {
	if c.ended {
		return nil
	}
	held, _ := cs.s.chat.Held(ctx, c.conv)
	var owner, consult *callLeg
	for who, role := range parts {
		a, ok := chat.AgentOf(who)
		if !ok {
			continue
		}
		switch role {
		case chat.RoleOwner:
			if a != c.leaving || owner == nil {
				owner = c.agents[a]
			}
		case chat.RoleConsult:
			consult = c.agents[a]
		}
	}
	// Legs of agents who no longer take part are closed by the effects;
	// here they hear nothing.
	up := func(l *callLeg) bool { return l != nil && l.up }
	var state, plan string
	v := c.visitor
	consultJoined := false
	for _, role := range parts {
		if role == chat.RoleConsult {
			consultJoined = true
		}
	}
	switch {
	case !up(v):
		state, plan = CallWaiting, "novisitor"
		if up(owner) && up(consult) {
			plan = "novisitor+consult"
		}
	case held:
		state, plan = CallHeld, "held"
		if up(owner) && up(consult) {
			plan = "held+consult"
		}
	case consultJoined:
		state, plan = CallConsult, "consult"
		if up(owner) && up(consult) {
			plan = "consult+talk"
		}
	case up(owner):
		state, plan = CallConnected, "bridged"
	default:
		state, plan = CallWaiting, "ringback"
		if !c.talking.IsZero() {
			plan = "music"
		}
	}
	// The plan names who hears whom; it is re-applied when any leg changed.
	key := plan + legKey(v) + legKey(owner) + legKey(consult)
	if key != c.arranged {
		c.arranged = key
		silence := func(ls ...*callLeg) {
			for _, l := range ls {
				if up(l) {
					l.leg.Play(media.SoundSilence)
				}
			}
		}
		switch plan {
		case "novisitor":
			silence(owner, consult)
		case "novisitor+consult", "held+consult", "consult+talk":
			media.Bridge(owner.leg, consult.leg)
			if up(v) {
				v.leg.Play(media.SoundMusic)
			}
		case "held", "consult":
			v.leg.Play(media.SoundMusic)
			silence(owner, consult)
		case "bridged":
			media.Bridge(v.leg, owner.leg)
			silence(consult)
		case "ringback":
			v.leg.Play(media.SoundRingback)
		case "music":
			v.leg.Play(media.SoundMusic)
		}
		for a, l := range c.agents {
			if _, ok := parts[chat.AgentSender(a)]; !ok && up(l) {
				l.leg.Play(media.SoundSilence)
			}
		}
	}
	if state == CallConnected && c.talking.IsZero() {
		c.talking = cs.s.now()
	}
	if state == c.state && cause == "" {
		return nil
	}
	c.state = state
	var msgs []outMsg
	for who := range parts {
		msgs = append(msgs, outMsg{who, c.msgFor(who, cause)})
	}
	return msgs
}

func legKey(l *callLeg) string {
	if l == nil {
		return "|-"
	}
	return fmt.Sprintf("|%p:%t", l.leg, l.up)
}

// rearrange re-reads the conversation and re-applies the plan, telling
// every participant the call's state (force: even when it did not change,
// e.g. for an agent who just joined and must open a leg).
func (cs *calls) rearrange(conv store.ConversationID, force bool) {
	c := cs.get(conv)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	parts := cs.parts(ctx, c)
	msgs := cs.arrange(ctx, c, parts, "")
	if force && msgs == nil && !c.ended {
		for who := range parts {
			msgs = append(msgs, outMsg{who, c.msgFor(who, "")})
		}
	}
	c.mu.Unlock()
	cs.flush(conv, msgs)
}

// handedOver: the owner gave the conversation to a colleague and is about
// to leave; until then the new owner is the one the visitor hears.
func (cs *calls) handedOver(conv store.ConversationID, from routing.AgentID) {
	if c := cs.get(conv); c != nil {
		c.mu.Lock()
		c.leaving = from
		c.mu.Unlock()
	}
	cs.rearrange(conv, false)
}

// agentLeft closes the leg of an agent who no longer takes part.
func (cs *calls) agentLeft(conv store.ConversationID, a routing.AgentID) {
	c := cs.get(conv)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	if c.leaving == a {
		c.leaving = ""
	}
	if _, back := cs.parts(ctx, c)[chat.AgentSender(a)]; back {
		c.mu.Unlock() // joined again since (a transfer back): keep the leg
		cs.rearrange(conv, false)
		return
	}
	cl := c.agents[a]
	delete(c.agents, a)
	c.mu.Unlock()
	if cl != nil {
		cl.leg.Close()
	}
	cs.sendTo(conv, chat.AgentSender(a), payload{"type": "call", "conversation": conv, "state": CallEnded, "cause": "left"})
	cs.rearrange(conv, false)
}

// endWith ends the conversation's call, if any, before the conversation
// itself ends.
func (cs *calls) endWith(ctx context.Context, conv store.ConversationID, cause string) {
	if c := cs.get(conv); c != nil {
		cs.end(ctx, c, cause, false)
	}
}

// conversationEnded ends the call of a conversation that ended.
func (cs *calls) conversationEnded(conv store.ConversationID, reason string) {
	c := cs.get(conv)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	if reason == "" {
		reason = "ended"
	}
	cs.end(ctx, c, reason, false)
}

// snapshot sends a reconnecting client the calls it takes part in.
func (cs *calls) snapshot(c *conn) {
	if !cs.enabled() {
		return
	}
	cs.mu.Lock()
	var list []*call
	if c.agent == "" {
		if cl := cs.m[store.ConversationID(c.conversation)]; cl != nil {
			list = append(list, cl)
		}
	} else {
		for _, cl := range cs.m {
			list = append(list, cl)
		}
	}
	cs.mu.Unlock()
	who := chat.SenderVisitor
	if c.agent != "" {
		who = chat.AgentSender(routing.AgentID(c.agent))
	}
	for _, cl := range list {
		if c.agent != "" {
			if _, ok, _ := cs.s.chat.RoleOf(c.ctx, cl.conv, who); !ok {
				continue
			}
		}
		cl.mu.Lock()
		var p payload
		if !cl.ended && (cl.state != CallInvited || who == chat.SenderVisitor) {
			p = cl.msgFor(who, "")
			if cl.invited && who == chat.SenderVisitor {
				p["state"] = CallInvited
			}
			if _, ok := p["needLeg"]; ok {
				// A desk that connects again has no leg of its own: the
				// server's may belong to the page that was closed.
				p["needLeg"] = true
			}
		}
		cl.mu.Unlock()
		if p != nil {
			c.send(p)
		}
	}
}

// candidate adds a remote ICE candidate to who's leg.
func (cs *calls) candidate(conv store.ConversationID, who chat.Sender, raw json.RawMessage) error {
	if !cs.enabled() {
		return ErrNoVoice
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil // end of candidates
	}
	var ci webrtc.ICECandidateInit
	if err := json.Unmarshal(raw, &ci); err != nil {
		return badRequest("candidate is an RTCIceCandidateInit object: " + err.Error())
	}
	if len(ci.Candidate) > 1024 {
		return badRequest("the candidate is too long")
	}
	c := cs.get(conv)
	if c == nil {
		return errNoCall
	}
	c.mu.Lock()
	cl := c.legOf(who)
	c.mu.Unlock()
	if cl == nil {
		return errNoCall
	}
	if ci.Candidate == "" {
		return nil
	}
	if err := cl.leg.AddCandidate(ci); err != nil {
		if errors.Is(err, media.ErrClosed) {
			return errNoCall
		}
		return badRequest("the candidate could not be used: " + err.Error())
	}
	return nil
}

// hangup: the visitor or the owner ends the call (a voice-only
// conversation ends with it); a consulted colleague leaves the line.
func (cs *calls) hangup(ctx context.Context, conv store.ConversationID, who chat.Sender) error {
	c := cs.get(conv)
	if c == nil {
		return errNoCall
	}
	role, ok, err := cs.s.chat.RoleOf(ctx, conv, who)
	if err != nil {
		return err
	}
	if !ok {
		return chat.ErrNotParticipant
	}
	if role == chat.RoleConsult {
		c.mu.Lock()
		cl := c.agents[mustAgent(who)]
		delete(c.agents, mustAgent(who))
		c.mu.Unlock()
		if cl != nil {
			cl.leg.Close()
		}
		cs.rearrange(conv, true)
		return nil
	}
	cause := "hangup_visitor"
	if role != chat.RoleVisitor {
		cause = "hangup_agent"
	}
	// The call's end must not stop half way when the caller's connection
	// goes: it runs on the server's time.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CommandTimeout)
	defer cancel()
	cs.end(ectx, c, cause, true)
	return nil
}

func mustAgent(s chat.Sender) routing.AgentID {
	a, _ := chat.AgentOf(s)
	return a
}

// invite: the owner asks the visitor of a chat to talk.
func (cs *calls) invite(ctx context.Context, conv store.ConversationID, agent routing.AgentID) error {
	if !cs.enabled() {
		return ErrNoVoice
	}
	rec, parts, err := cs.s.chat.Info(ctx, conv)
	if err != nil {
		return err
	}
	if rec.Status == store.ConvEnded {
		return chat.ErrEnded
	}
	if parts[chat.AgentSender(agent)] != chat.RoleOwner {
		return fmt.Errorf("%w: only the agent handling the conversation starts a call", chat.ErrWrongRole)
	}
	if _, ok := parts[chat.SenderVisitor]; !ok || strings.HasPrefix(string(conv), chat.OperatorPrefix) {
		return fmt.Errorf("%w: there is no visitor to call", chat.ErrWrongRole)
	}
	cs.mu.Lock()
	if c := cs.m[conv]; c != nil && !c.ended {
		cs.mu.Unlock()
		return fmt.Errorf("%w: a call is already under way", errWrongCallState)
	}
	c := &call{conv: conv, agents: map[routing.AgentID]*callLeg{}, started: cs.s.now(), state: CallInvited, invited: true, voiceFirst: isVoiceFirst(rec)}
	cs.m[conv] = c
	cs.mu.Unlock()
	if _, err := cs.s.chat.CallEvent(ctx, conv, chat.AgentSender(agent), chat.EvCallInvited, nil); err != nil {
		cs.mu.Lock()
		delete(cs.m, conv)
		cs.mu.Unlock()
		return err
	}
	c.mu.Lock()
	p := c.msgFor(chat.SenderVisitor, "")
	c.mu.Unlock()
	cs.sendTo(conv, chat.SenderVisitor, p)
	return nil
}

// errWrongCallState is a call command that does not fit the call's state.
var errWrongCallState = &Error{CodeWrongState, "wrong call state"}

// decline: the visitor does not want to talk.
func (cs *calls) decline(ctx context.Context, conv store.ConversationID) error {
	c := cs.get(conv)
	if c == nil {
		return errNoCall
	}
	c.mu.Lock()
	if !c.invited || c.ended {
		c.mu.Unlock()
		return fmt.Errorf("%w: no call invitation to decline", errWrongCallState)
	}
	c.ended = true
	c.state = CallDeclined
	c.mu.Unlock()
	cs.mu.Lock()
	if cs.m[conv] == c {
		delete(cs.m, conv)
	}
	cs.mu.Unlock()
	if _, err := cs.s.chat.CallEvent(ctx, conv, chat.SenderVisitor, chat.EvCallDeclined, nil); err != nil {
		return err
	}
	_, parts, _ := cs.s.chat.Info(ctx, conv)
	for who := range parts {
		c.mu.Lock()
		p := c.msgFor(who, "declined")
		c.mu.Unlock()
		cs.sendTo(conv, who, p)
	}
	return nil
}

// gain sets how loud the visitor sounds to an agent (applied on the server).
func (cs *calls) gain(conv store.ConversationID, a routing.AgentID, g float64) error {
	if math.IsNaN(g) || g < 0 || g > 4 {
		return badRequest("gain is a number from 0 to 4 (1 = unchanged)")
	}
	c := cs.get(conv)
	if c == nil {
		return errNoCall
	}
	c.mu.Lock()
	cl := c.agents[a]
	c.mu.Unlock()
	if cl == nil {
		return errNoCall
	}
	cl.leg.SetOutputGain(g)
	return nil
}

// closeAll ends every call (the server stops).
func (cs *calls) closeAll(cause string) {
	cs.mu.Lock()
	list := make([]*call, 0, len(cs.m))
	for _, c := range cs.m {
		list = append(list, c)
	}
	cs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	for _, c := range list {
		cs.end(ctx, c, cause, false)
	}
}

// onEvent keeps calls in step with the conversation's log.
func (cs *calls) onEvent(m store.Message) {
	switch m.Event {
	case chat.EvEnded:
		cs.conversationEnded(m.Conversation, m.Data["reason"])
	case chat.EvLeft:
		if a, ok := chat.AgentOf(chat.Sender(m.Sender)); ok {
			cs.agentLeft(m.Conversation, a)
		}
	case chat.EvJoined:
		cs.rearrange(m.Conversation, true)
	case chat.EvHandedOver:
		if a, ok := chat.AgentOf(chat.Sender(m.Sender)); ok {
			cs.handedOver(m.Conversation, a)
		}
	default:
		cs.rearrange(m.Conversation, false)
	}
}

func (s *Server) iceServers() []ICEServer {
	if s.calls.voice.ICEServers == nil {
		return []ICEServer{}
	}
	return s.calls.voice.ICEServers
}
