package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/contactd/contactd/media/mediatest"
)

// The agents' side of voice mode: a desk that is sent "call" with needLeg
// opens its leg (a pion peer), offers it, and sends until the call ends.

// agentLeg is an agent's leg of one call.
type agentLeg struct {
	a      *agent
	conv   string
	id     string // the call_offer command's
	ctx    context.Context
	cancel context.CancelFunc
	answer chan voiceAnswer
	tr     trickle
}

// agentMsg handles the voice messages an agent's desk receives (on its
// reader goroutine; it never blocks). It says whether it took the message.
func (vr *voiceRun) agentMsg(a *agent, m *inMsg, data []byte) bool {
	r := vr.r
	switch m.Type {
	case "offer":
		// A phone call (-mode sip-media): the caller's number names it.
		if vr.sipTarget != nil {
			var om struct {
				Conversation string `json:"conversation"`
				Visitor      struct {
					Attributes map[string]string `json:"attributes"`
				} `json:"visitor"`
			}
			if json.Unmarshal(data, &om) == nil {
				vr.noteOffer(om.Conversation, om.Visitor.Attributes["phone"])
			}
		}
		return false // accepted by the agent's reader
	case "call":
		var cm voiceMsg
		if json.Unmarshal(data, &cm) != nil {
			r.st.fail("bad_json")
			return true
		}
		switch {
		case cm.State == "ended" || cm.State == "declined":
			vr.mu.Lock()
			l := vr.legs[cm.Conversation]
			if l != nil && l.a == a {
				delete(vr.legs, cm.Conversation)
			}
			vr.mu.Unlock()
			if l != nil {
				l.cancel()
			}
		case cm.NeedLeg && vr.r.o.sipAgents == "phones" && vr.sipTarget != nil:
			// The agent takes calls on the phone: the desk opens no leg
			// (contactd should not ask; counted).
			vr.deskLegAsks.Add(1)
			if vr.deskLegLogged.CompareAndSwap(false, true) {
				r.logf("note: the desk of %s (on a SIP phone) was asked to open a leg: %s", a.id, data)
			}
		case cm.NeedLeg:
			vr.openLeg(a, cm.Conversation)
		}
		return true
	case "ice":
		var cm voiceMsg
		if json.Unmarshal(data, &cm) != nil {
			r.st.fail("bad_json")
			return true
		}
		vr.mu.Lock()
		l := vr.legs[cm.Conversation]
		vr.mu.Unlock()
		if l != nil {
			l.tr.add(cm.Candidate, r, vr.local)
		}
		return true
	case "ack", "error":
		vr.mu.Lock()
		l := vr.pending[m.ID]
		delete(vr.pending, m.ID)
		vr.mu.Unlock()
		if l == nil {
			return false
		}
		ans := voiceAnswer{}
		if m.Type == "error" {
			r.st.fail("agent_call_offer:" + m.Code)
			ans.err = fmt.Errorf("%s: %s", m.Code, m.Message)
		} else {
			var cm voiceMsg
			if json.Unmarshal(data, &cm) != nil {
				ans.err = errors.New("bad JSON")
			}
			ans.sdp = cm.Result.SDP
		}
		l.answer <- ans
		return true
	}
	return false
}

// openLeg starts the agent's leg of conv unless it has one.
func (vr *voiceRun) openLeg(a *agent, conv string) {
	vr.mu.Lock()
	defer vr.mu.Unlock()
	if vr.closed || vr.legs[conv] != nil {
		return
	}
	c := vr.byConv[conv]
	if c == nil {
		// A call of an earlier run, or one this run already hung up.
		vr.r.st.fail("agent_unknown_call")
		return
	}
	ctx, cancel := context.WithCancel(vr.ctx)
	l := &agentLeg{a: a, conv: conv, ctx: ctx, cancel: cancel, answer: make(chan voiceAnswer, 1),
		id: vr.r.runID + "-" + a.id + "-call-" + strconv.FormatInt(vr.nextLeg.Add(1), 10)}
	vr.legs[conv] = l
	vr.pending[l.id] = l
	vr.legWG.Add(1)
	go vr.runLeg(l, c)
}

// runLeg opens the agent's peer, offers, and sends until the call ends.
func (vr *voiceRun) runLeg(l *agentLeg, c *voiceCall) {
	defer vr.legWG.Done()
	defer func() {
		vr.mu.Lock()
		delete(vr.pending, l.id)
		if vr.legs[l.conv] == l {
			delete(vr.legs, l.conv)
		}
		vr.mu.Unlock()
	}()
	r := vr.r
	// Failures while the leg is being closed are not the server's.
	fail := func(kind string) {
		if l.ctx.Err() == nil {
			r.st.fail(kind)
		}
	}
	p, err := mediatest.New(mediatest.Config{Pacer: vr.pacerOf(c.idx)})
	if err != nil {
		fail("agent_peer")
		return
	}
	defer p.Close()
	p.OnPacket(r.listener(&c.up))
	sctx, cancel := context.WithTimeout(l.ctx, 2*callStepWait)
	defer cancel()
	offer, err := p.Offer(sctx, mediatest.OfferOptions{Complete: true})
	if err != nil {
		fail("agent_offer")
		return
	}
	t0 := r.now()
	l.a.send(map[string]any{"type": "call_offer", "id": l.id, "conversation": l.conv, "sdp": offer})
	var ans voiceAnswer
	select {
	case ans = <-l.answer:
	case <-sctx.Done():
		fail("agent_call_offer_timeout")
		return
	}
	if ans.err != nil {
		return // counted when it came
	}
	sdp, n := localSDP(ans.sdp, vr.local)
	if n == 0 {
		fail("answer_without_local_candidate")
		return
	}
	if err := p.Accept(sdp); err != nil {
		fail("agent_accept")
		return
	}
	l.tr.ready(p, r, vr.local)
	select {
	case <-p.Connected():
		vr.agentLeg.add(r.now() - t0)
	case <-p.Failed():
		fail("agent_ice_failed")
		return
	case <-sctx.Done():
		fail("agent_ice_timeout")
		return
	}
	p.StartSending(r.payloader(&c.down))
	<-l.ctx.Done()
}

// closeLegs ends every agent's leg and waits for them; no leg opens after.
func (vr *voiceRun) closeLegs() {
	vr.mu.Lock()
	vr.closed = true
	vr.mu.Unlock()
	vr.cancel()
	vr.legWG.Wait()
}
