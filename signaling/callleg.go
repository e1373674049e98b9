package signaling

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/signaling/callplan"
)

// Leg is a party's voice leg at the server, as a call holds it: the call
// plan drives it (callplan.Leg: hear a tone, bridge to another leg), the
// call sets its gain and closes it. A browser's WebRTC leg (BrowserLeg)
// is one kind; a phone's plain RTP leg (SIP) is another, given to the call
// by Server.AddLeg and reporting through LegReports as the browser's leg
// reports through its handler, so a SIP call adds a leg kind to the same
// plan, not a second call system.
//
// Legs of one call must bridge to each other whatever their kind; today
// every leg is a media.Leg (MediaLeg) and media.Bridge joins them.
type Leg interface {
	callplan.Leg
	// SetOutputGain scales what the leg hears (1 = unchanged).
	SetOutputGain(g float64)
	// Close ends the leg; it reports nothing more.
	Close()
}

// BrowserLeg is a leg the browser negotiates over the WebSocket: SDP
// offers (call_offer) and trickled candidates (ice).
type BrowserLeg interface {
	Leg
	HandleOffer(sdp string) (answer string, err error)
	AddCandidate(c webrtc.ICECandidateInit) error
	// MediaLeg is the engine's leg that carries the audio.
	MediaLeg() *media.Leg
}

// BrowserLegs makes browser legs. Its handler's callbacks report the
// leg's life: local candidates, media flowing, the leg ending by itself.
type BrowserLegs interface {
	NewBrowserLeg(id string, h media.LegHandler) (BrowserLeg, error)
}

// BrowserLegsOn makes browser legs on a media engine.
func BrowserLegsOn(e *media.Engine) BrowserLegs { return engineLegs{e} }

type engineLegs struct{ e *media.Engine }

func (m engineLegs) NewBrowserLeg(id string, h media.LegHandler) (BrowserLeg, error) {
	l, err := m.e.NewLeg(id, h)
	if err != nil {
		return nil, err
	}
	return webrtcLeg{l}, nil
}

// webrtcLeg is a browser's leg: a media.Leg.
type webrtcLeg struct{ *media.Leg }

var _ BrowserLeg = webrtcLeg{}

func (l webrtcLeg) MediaLeg() *media.Leg { return l.Leg }

var sounds = [...]media.Sound{callplan.Silence: media.SoundSilence, callplan.Ringback: media.SoundRingback, callplan.Music: media.SoundMusic}

func (l webrtcLeg) Hear(t callplan.Tone) { l.Play(sounds[t]) }

func (l webrtcLeg) Bridge(other callplan.Leg) {
	if o, ok := other.(interface{ MediaLeg() *media.Leg }); ok {
		media.Bridge(l.Leg, o.MediaLeg())
	}
}

// newLeg opens a browser leg for who; its events come back through the
// call. The caller holds c.mu.
func (cs *calls) newLeg(c *call, who chat.Sender) (BrowserLeg, error) {
	var leg BrowserLeg
	conv := c.conv
	h := media.LegHandler{
		OnCandidate: func(ci webrtc.ICECandidateInit) {
			cs.sendTo(conv, who, iceOut{Candidate: ci, Conversation: conv, Type: "ice"})
		},
		// Media callbacks run on media's goroutines: the call's work runs
		// on its own so no lock of media's is held while the call takes
		// its own.
		OnConnected: func() { go cs.legUp(c, who, leg) },
		OnEnded:     func(cause string) { go cs.legEnded(c, who, leg, cause) },
	}
	l, err := cs.voice.Legs.NewBrowserLeg(fmt.Sprintf("%s/%s/%d", conv, who, cs.seq.Add(1)), h)
	if err != nil {
		return nil, err
	}
	leg = l
	return l, nil
}

// legUp: media flows on who's leg.
func (cs *calls) legUp(c *call, who chat.Sender, leg Leg) {
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	cl := c.legs[who]
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

// legEnded: a leg stopped by itself (its media stopped, ICE failed, the
// browser closed it). For the visitor or the owner the call ends, after
// the reload grace unless a new leg came meanwhile (and frees the agent);
// the leg of anybody else only takes them off the line.
func (cs *calls) legEnded(c *call, who chat.Sender, leg Leg, cause string) {
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	c.mu.Lock()
	cl := c.legs[who]
	if c.ended || cl == nil || cl.leg != leg {
		c.mu.Unlock()
		return
	}
	parts := cs.parts(ctx, c)
	a, isAgent := chat.AgentOf(who)
	vital := who == chat.SenderVisitor || (isAgent && parts[who] == chat.RoleOwner && a != c.leaving)
	if !vital {
		delete(c.legs, who)
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
	time.AfterFunc(cs.voice.ReloadGrace, func() {
		c.mu.Lock()
		same := c.legs[who] == cl
		c.mu.Unlock()
		if !same {
			return // a new leg came
		}
		ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
		defer cancel()
		cs.end(ctx, c, cause, true)
	})
}
