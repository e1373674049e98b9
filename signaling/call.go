package signaling

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling/callplan"
)

// Voice: a conversation may carry one call. Every voice leg ends at the
// server (Leg); the call plan (package callplan, docs/CALLS.md) decides,
// from the conversation's state and the legs that are up, which legs hear
// which, and a callplan.Board applies that to the legs:
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
//
// The files: call.go (a call and its plan), callleg.go (legs and what
// they report), callregistry.go (the calls of a server), callcommands.go
// (the browser protocol's call commands), callevents.go (what the calls do
// when their conversation changes).

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

type callLeg struct {
	leg Leg
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
	legs       map[chat.Sender]*callLeg
	board      callplan.Board // what the legs were last told
	state      string
	started    time.Time
	talking    time.Time // first connected
	ended      bool
	onPhone    func(chat.Sender) bool // an agent whose leg a SIP phone brings
}

func newCall(conv store.ConversationID, now time.Time, voiceFirst bool, onPhone func(chat.Sender) bool) *call {
	return &call{conv: conv, legs: map[chat.Sender]*callLeg{}, started: now, voiceFirst: voiceFirst, onPhone: onPhone}
}

// msgFor is the call's state as who sees it; the caller holds c.mu.
func (c *call) msgFor(who chat.Sender, cause string) callOut {
	p := callOut{Cause: cause, Conversation: c.conv, State: c.state, Type: "call"}
	if !c.talking.IsZero() {
		p.Since = rfc3339(c.talking)
	}
	if _, ok := chat.AgentOf(who); ok && c.state != CallEnded && c.state != CallDeclined && c.state != CallInvited {
		// The desk opens its leg when the server says so: after accepting
		// a call, on a transfer, or after a reload.
		_, has := c.legs[who]
		need := !has && (c.onPhone == nil || !c.onPhone(who))
		p.NeedLeg = &need
	}
	return p
}

// planInput is what the call plan needs; the caller holds c.mu. parts are
// the conversation's participants.
func (c *call) planInput(parts map[chat.Sender]chat.Role, held bool) callplan.Input {
	in := callplan.Input{
		Ended:  c.ended,
		Roles:  make(map[callplan.Party]callplan.Role, len(parts)),
		Held:   held,
		Talked: !c.talking.IsZero(),
		Legs:   make(map[callplan.Party]bool, len(c.legs)),
	}
	if c.leaving != "" {
		in.Leaving = callplan.Party(chat.AgentSender(c.leaving))
	}
	for who, role := range parts {
		r := callplan.None
		switch role {
		case chat.RoleVisitor:
			r = callplan.Visitor
		case chat.RoleOwner:
			r = callplan.Owner
		case chat.RoleConsult:
			r = callplan.Consult
		}
		in.Roles[callplan.Party(who)] = r
	}
	for who, l := range c.legs {
		in.Legs[callplan.Party(who)] = l.up
	}
	return in
}

var callStates = map[callplan.State]string{
	callplan.Waiting: CallWaiting, callplan.Connected: CallConnected, callplan.Held: CallHeld,
	callplan.Consulting: CallConsult, callplan.Ended: CallEnded,
}

// arrange decides the call plan from the conversation's state, applies it
// to the legs and returns the call messages to send when the state
// changed (or cause is set). The caller holds c.mu; parts are the
// conversation's participants.
func (cs *calls) arrange(ctx context.Context, c *call, parts map[chat.Sender]chat.Role, cause string) []outMsg {
	if c.ended {
		return nil
	}
	held, _ := cs.s.chat.Held(ctx, c.conv)
	plan := callplan.Decide(c.planInput(parts, held))
	legs := make(map[callplan.Party]callplan.Leg, len(c.legs))
	for who, l := range c.legs {
		legs[callplan.Party(who)] = l.leg
	}
	c.board.Apply(plan, legs)
	state := callStates[plan.State]
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

func isGoneErr(err error) bool {
	return errors.Is(err, routing.ErrUnknownInteraction) || errors.Is(err, routing.ErrWrongState)
}

// drop forgets a call that never got going; voice (when it was added to a
// chat and reached routing) gives the interaction its chat channel back.
func (cs *calls) drop(c *call, wasVoice bool) {
	cs.remove(c)
	c.mu.Lock()
	c.ended = true
	var legs []Leg
	for who, l := range c.legs { // agents who offered while it was starting
		legs = append(legs, l.leg)
		delete(c.legs, who)
	}
	c.mu.Unlock()
	for _, l := range legs {
		l.Close()
	}
	if wasVoice {
		cs.setChat(c)
	}
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
	var legs []Leg
	for _, cl := range c.legs {
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
	cs.remove(c)
	for _, l := range legs {
		l.Close()
	}
	cs.flush(c.conv, msgs)
	if _, err := cs.s.chat.CallEvent(ctx, c.conv, chat.SenderSystem, chat.EvCallEnded,
		map[string]string{"cause": cause, "seconds": strconv.Itoa(secs)}); err != nil && !errors.Is(err, chat.ErrEnded) {
		cs.s.log.Warn("call event not stored", "conversation", c.conv, "err", err)
	}
	// A phone we called (dial.go): its end is recorded now, while the
	// conversation (which may be ending) still takes events.
	cs.phoneDone(ctx, c.conv, 0, "", "The call ended.", cause, false)
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
