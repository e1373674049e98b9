package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/sip"
)

// Click-to-call: the desk's call_phone (signaling/dial.go) places a call
// through the SIP edge (signaling/sip/outbound.go) with the dial_*
// settings (README "Click-to-call").

// dialSettings turns call_phone on when SIP is on and a trunk has
// outbound settings (a host).
func (a *App) dialSettings(v *signaling.Voice) {
	if !a.cfg.SIPOn() || dialTrunk(a.cfg) == nil {
		return
	}
	v.Dialer = sipDialer{a}
	for _, r := range a.cfg.DialRoles {
		v.DialRoles = append(v.DialRoles, store.Role(r))
	}
}

// dialTrunk is the trunk calls are placed through: dial_trunk, else the
// first with a host.
func dialTrunk(c config.Config) *config.Trunk {
	for i := range c.Trunks {
		t := &c.Trunks[i]
		if (c.DialTrunk == "" && t.Host != "") || (c.DialTrunk != "" && t.Name == c.DialTrunk && t.Host != "") {
			return t
		}
	}
	return nil
}

// dialAllow is a trunk's destination prefixes: its own, else dial_allow.
func dialAllow(c config.Config, t config.Trunk) []string {
	if len(t.DialAllow) > 0 {
		return t.DialAllow
	}
	return c.DialAllow
}

// sipDialer is signaling.Dialer on the SIP edge.
type sipDialer struct{ a *App }

func (d sipDialer) Dial(ctx context.Context, r signaling.DialRequest) (string, error) {
	a := d.a
	if a.sip == nil {
		return "", signaling.ErrNoVoice
	}
	t := dialTrunk(a.cfg)
	n, err := sip.NormalizeNumber(r.Number, a.cfg.DialCountryCode)
	if err != nil {
		return "", fmt.Errorf("%w: %v", signaling.ErrBadNumber, err)
	}
	if err := sip.CheckDestination(n, dialAllow(a.cfg, *t)); err != nil {
		return "", fmt.Errorf("%w: %v", signaling.ErrDialNotAllowed, err)
	}
	cid := a.cfg.DialCallerID
	if q, ok := a.cfg.DialCallerIDs[string(r.Queue)]; ok {
		cid = q
	}
	if cid == "" {
		return "", &signaling.Error{Code: signaling.CodeUnavailable, Msg: "no caller ID is set for this queue (dial_caller_id)"}
	}
	p := r.Progress
	p.Dialling(n)
	err = a.sip.Dial(ctx, sip.Dial{Conv: r.Conversation, Trunk: t.Name, Number: n, CallerID: cid, CallerName: a.cfg.DialCallerName,
		RingTimeout: a.cfg.DialRingTimeout,
		Events: sip.DialEvents{
			Ringing:  func(bool) { p.Ringing() },
			Answered: p.Answered,
			Failed:   func(code int, outcome string) { p.Failed(code, outcome, sip.StatusText(code, outcome)) },
			Ended:    p.Ended,
		}})
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, sip.ErrBadNumber):
		return "", fmt.Errorf("%w: %v", signaling.ErrBadNumber, err)
	case errors.Is(err, sip.ErrNotAllowed):
		return "", fmt.Errorf("%w: %v", signaling.ErrDialNotAllowed, err)
	}
	return "", err
}
