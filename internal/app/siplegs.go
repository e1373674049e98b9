package app

import (
	"errors"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/signaling/callplan"
	"github.com/contactd/contactd/signaling/sip"
)

// rtpLegs makes the SIP edge's plain RTP legs on the media engine.
type rtpLegs struct{ e *media.Engine }

var _ sip.Legs = rtpLegs{}

func (r rtpLegs) NewLeg(id string, ev sip.LegEvents) (sip.Leg, error) {
	if r.e == nil {
		return nil, errors.New("voice is off")
	}
	h := media.LegHandler{OnConnected: ev.Up, OnEnded: ev.Ended}
	if ev.DTMF != nil {
		h.OnDTMF = func(d byte) { ev.DTMF(rune(d)) }
	}
	l, err := r.e.NewRTPLeg(id, h)
	if err != nil {
		return nil, err
	}
	return rtpLeg{l}, nil
}

// rtpLeg is a phone's leg: a media.Leg that speaks plain RTP. It bridges
// to a browser's leg as a browser's leg bridges to it (both expose
// MediaLeg).
type rtpLeg struct{ *media.Leg }

var _ sip.Leg = rtpLeg{}

var phoneSounds = [...]media.Sound{callplan.Silence: media.SoundSilence, callplan.Ringback: media.SoundRingback, callplan.Music: media.SoundMusic}

func (l rtpLeg) MediaLeg() *media.Leg { return l.Leg }

func (l rtpLeg) Hear(t callplan.Tone) { l.Play(phoneSounds[t]) }

func (l rtpLeg) Bridge(other callplan.Leg) {
	if o, ok := other.(interface{ MediaLeg() *media.Leg }); ok {
		media.Bridge(l.Leg, o.MediaLeg())
	}
}

func (l rtpLeg) Answer(offer string) (string, error) { return l.HandleRTPOffer(offer) }

func (l rtpLeg) Direction() string { return l.RemoteDirection().String() }

// Stats: the share of expected packets lost, and the jitter.
func (l rtpLeg) Stats() (loss float64, jitter time.Duration) {
	s := l.Leg.Stats()
	if exp := float64(s.PacketsIn) + float64(max(s.PacketsLost, 0)); exp > 0 {
		loss = float64(max(s.PacketsLost, 0)) / exp
	}
	return loss, s.Jitter
}

// Offer and HandleAnswer make the leg the offerer (an INVITE to an agent's
// phone: sip.OfferLeg).
func (l rtpLeg) Offer() (string, error) { return l.RTPOffer() }

func (l rtpLeg) HandleAnswer(answer string) error { return l.HandleRTPAnswer(answer) }
