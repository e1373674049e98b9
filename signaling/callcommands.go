package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/routing"
)

// The call commands of the browser protocol (call_offer, ice,
// call_hangup, call_invite, call_decline, call_gain). Each is a plain
// function of the conversation, the sender and the command's fields; the
// command's decoding and role checks are the caller's.

// errWrongCallState is a call command that does not fit the call's state.
var errWrongCallState = &Error{CodeWrongState, "wrong call state"}

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
	if who == chat.SenderVisitor && cs.phoneOf(conv) != nil {
		return "", fmt.Errorf("%w: the visitor's voice is on the phone", errWrongCallState)
	}
	c, begin, err := cs.admit(ctx, conv, who)
	if err != nil {
		return "", err
	}
	if cl := c.legs[who]; cl != nil && renew {
		bl, ok := cl.leg.(BrowserLeg)
		c.mu.Unlock()
		if !ok {
			return "", fmt.Errorf("%w: this participant's voice is not in the browser", errWrongCallState)
		}
		ans, err := bl.HandleOffer(sdp)
		return ans, mediaErr(err)
	}
	c.starting = c.starting || begin
	leg, err := cs.newLeg(c, who)
	c.mu.Unlock()
	if err != nil {
		cs.abandon(c, begin)
		return "", err
	}
	// The offer is answered outside the call's lock: the media of the
	// legs already up goes on meanwhile.
	ans, err := leg.HandleOffer(sdp)
	if err != nil {
		leg.Close()
		cs.abandon(c, begin)
		return "", mediaErr(err)
	}
	if err := cs.attach(ctx, c, who, leg, begin); err != nil {
		return "", err
	}
	return ans, nil
}

// admit checks that who may have a leg in conv's call and returns the
// call, made when the visitor begins it (begin). It returns with c.mu
// held, unless it fails.
func (cs *calls) admit(ctx context.Context, conv store.ConversationID, who chat.Sender) (c *call, begin bool, err error) {
	rec, parts, err := cs.s.chat.Info(ctx, conv)
	if err != nil {
		return nil, false, err
	}
	if rec.Status == store.ConvEnded {
		return nil, false, chat.ErrEnded
	}
	role, ok := parts[who]
	if !ok {
		return nil, false, chat.ErrNotParticipant
	}
	if strings.HasPrefix(string(conv), chat.OperatorPrefix) {
		return nil, false, fmt.Errorf("%w: no calls between operators yet", chat.ErrWrongRole)
	}
	voiceFirst := isVoiceFirst(rec)
	if !voiceFirst && rec.Status == store.ConvQueued {
		return nil, false, fmt.Errorf("%w: voice can be added once an operator has joined the chat", errWrongCallState)
	}

	cs.mu.Lock()
	c = cs.m[conv]
	if c == nil || c.ended {
		if role != chat.RoleVisitor {
			cs.mu.Unlock()
			return nil, false, errNoCall
		}
		c = newCall(conv, cs.s.now(), voiceFirst, cs.onPhone)
		cs.m[conv] = c
	}
	cs.mu.Unlock()

	c.mu.Lock()
	// Only the visitor begins a call. An agent may offer while the
	// visitor's first offer is being answered: the desk was told to open
	// its leg as soon as it joined, which can be before that answer.
	begin = !c.begun && role == chat.RoleVisitor
	switch {
	case c.ended:
		c.mu.Unlock()
		return nil, false, errNoCall
	case !c.begun && !c.starting && role != chat.RoleVisitor:
		c.mu.Unlock()
		return nil, false, errNoCall
	case begin && c.starting:
		c.mu.Unlock()
		return nil, false, fmt.Errorf("%w: the call is being set up; send the offer again in a moment", errWrongCallState)
	}
	return c, begin, nil
}

// abandon undoes admit for a leg that could not be made: a call that this
// leg was to begin is dropped.
func (cs *calls) abandon(c *call, begin bool) {
	if !begin {
		return
	}
	c.mu.Lock()
	c.starting = false
	c.mu.Unlock()
	cs.drop(c, false)
}

// attach gives who's voice in c to leg (ready to carry media once up),
// replacing and closing who's former leg, and re-plans the call. When leg
// begins the call, a chat's interaction moves to its voice channel first.
// On an error leg is closed.
func (cs *calls) attach(ctx context.Context, c *call, who chat.Sender, leg Leg, begin bool) error {
	conv := c.conv
	if begin && !c.voiceFirst {
		// Voice added to a chat: it now takes the agent's voice capacity
		// (only once the offer was good: a bad one changes nothing).
		if err := cs.s.router.Do(ctx, routing.SetChannel{Interaction: routing.InteractionID(conv), Channel: routing.ChannelVoice}); err != nil {
			leg.Close()
			var re *routing.Error
			if errors.As(err, &re) && (re.Code == routing.CodeNoCapacity || re.Code == routing.CodeNotEligible) {
				err = fmt.Errorf("%w: the operator cannot take a call now (%s)", ErrNoVoice, re.Msg)
			}
			cs.abandon(c, begin)
			return err
		}
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		leg.Close()
		if begin {
			cs.setChat(c)
		}
		return errNoCall
	}
	old := c.legs[who]
	c.starting = c.starting && !begin
	c.invited = false
	c.legs[who] = &callLeg{leg: leg}
	c.begun = c.begun || begin
	msgs := cs.arrange(ctx, c, cs.parts(ctx, c), "")
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
		return chat.ErrEnded
	}
	return nil
}

// LegReports is how a leg that is not a browser's tells its call what
// happens to it: Up once media flows, Ended(cause) when it stops by itself
// (cause as media's: media_timeout ends the call at once, anything else
// after the reload grace for the visitor or the owner).
type LegReports struct {
	Up    func()
	Ended func(cause string)
}

// AddLeg gives who's voice in conv's call to leg, a leg that is not a
// browser's (a phone's plain RTP leg, made by the SIP edge): the same
// call plan drives it. The visitor's leg begins a call; an agent's joins
// the call under way. A leg who had before is closed; on an error leg is
// closed too.
func (s *Server) AddLeg(ctx context.Context, conv store.ConversationID, who chat.Sender, leg Leg) (LegReports, error) {
	cs := s.calls
	if !cs.enabled() {
		leg.Close()
		return LegReports{}, ErrNoVoice
	}
	if _, agent := chat.AgentOf(who); agent {
		cs.prepare(ctx, conv)
	}
	c, begin, err := cs.admit(ctx, conv, who)
	if err != nil {
		leg.Close()
		return LegReports{}, err
	}
	c.starting = c.starting || begin
	c.mu.Unlock()
	if err := cs.attach(ctx, c, who, leg, begin); err != nil {
		return LegReports{}, err
	}
	return LegReports{
		Up:    func() { cs.legUp(c, who, leg) },
		Ended: func(cause string) { cs.legEnded(c, who, leg, cause) },
	}, nil
}

// isVoiceFirst: the visitor chose Voice when starting (the server sets the
// attribute; a chat session cannot).
func isVoiceFirst(rec store.Conversation) bool {
	return rec.Attributes["channel"] == string(routing.ChannelVoice)
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
	cl := c.legs[who]
	c.mu.Unlock()
	if cl == nil {
		return errNoCall
	}
	bl, ok := cl.leg.(BrowserLeg)
	if !ok {
		return fmt.Errorf("%w: this participant's voice is not in the browser", errWrongCallState)
	}
	if ci.Candidate == "" {
		return nil
	}
	if err := bl.AddCandidate(ci); err != nil {
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
		cl := c.legs[who]
		delete(c.legs, who)
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
	c := newCall(conv, cs.s.now(), isVoiceFirst(rec), cs.onPhone)
	c.state, c.invited = CallInvited, true
	cs.m[conv] = c
	cs.mu.Unlock()
	if _, err := cs.s.chat.CallEvent(ctx, conv, chat.AgentSender(agent), chat.EvCallInvited, nil); err != nil {
		cs.remove(c)
		return err
	}
	c.mu.Lock()
	p := c.msgFor(chat.SenderVisitor, "")
	c.mu.Unlock()
	cs.sendTo(conv, chat.SenderVisitor, p)
	return nil
}

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
	cs.remove(c)
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
	cl := c.legs[chat.AgentSender(a)]
	c.mu.Unlock()
	if cl == nil {
		return errNoCall
	}
	cl.leg.SetOutputGain(g)
	return nil
}

// AgentEnds is the desk's End by agent, from somewhere else than the desk
// (the agent hung the phone up): the owner's end ends the call first, then
// the conversation goes to wrap-up.
func (s *Server) AgentEnds(ctx context.Context, conv store.ConversationID, agent routing.AgentID) error {
	who := chat.AgentSender(agent)
	if role, ok, err := s.chat.RoleOf(ctx, conv, who); err == nil && ok && role == chat.RoleOwner {
		s.calls.endWith(ctx, conv, "agent_ended")
	} else if err == nil && ok && role == chat.RoleConsult {
		return s.calls.hangup(ctx, conv, who)
	}
	_, err := s.coord.EndByAgent(ctx, conv, agent)
	return err
}

// prepare makes the call of a voice conversation that has none yet, so
// that an agent's phone that answers before the visitor's leg began the
// call (a phone caller's INVITE is still being set up, a visitor's page is
// slow) joins it: the call waits for the visitor's leg, which begins it.
func (cs *calls) prepare(ctx context.Context, conv store.ConversationID) {
	rec, _, err := cs.s.chat.Info(ctx, conv)
	if err != nil || rec.Status == store.ConvEnded || !isVoiceFirst(rec) {
		return
	}
	cs.mu.Lock()
	if cs.m[conv] == nil {
		cs.m[conv] = newCall(conv, cs.s.now(), true, cs.onPhone)
	}
	cs.mu.Unlock()
}
