package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/callplan"
)

// Agents on SIP phones (voice_device: sip). When routing offers a voice
// interaction to such an agent, the edge rings every registered contact of
// the agent (RingAgent): an INVITE per contact, with the caller's name and
// number in From, and an SDP offer from a new RTP leg. The first 2xx wins
// (ACK; the other INVITEs are CANCELled; a 2xx that comes later is ACKed
// and hung up with a BYE); the answer is the agent's Accept, the same as
// the desk's accept command, and the agent's RTP leg joins the call with
// AgentPhones.AddLeg once routing assigned the agent. Every fork refused
// (486, 603, or anything else) is the agent's Decline. StopRinging (the
// offer lapsed or was withdrawn) CANCELs them.
//
// In the dialog: a BYE from the phone is the agent ending the call (as the
// desk's End); a re-INVITE sendonly/inactive is hold and sendrecv resume
// (the desk's Hold); REFER (RFC 3515) is a blind transfer to the Refer-To
// user (an agent or a queue; AgentPhones.Transfer decides): 202, then a
// NOTIFY with the sipfrag of the outcome, then our BYE. A REFER from a
// device that is not the call's agent's is 403; an unknown target 603.
// The call closing the agent's leg (the desk's End, the caller hung up, a
// transfer completed) sends BYE to the phone.

// AgentPhones is what the edge needs of the contact center for agents'
// phones; internal/app implements it with routing and signaling.Server.
type AgentPhones interface {
	// Answer is the agent's accept of the offer of conv. joined says the
	// agent is a participant already (no Assigned to wait for).
	Answer(ctx context.Context, conv store.ConversationID, agent routing.AgentID) (joined bool, err error)
	// Decline is the agent's decline of the offer of conv.
	Decline(ctx context.Context, conv store.ConversationID, agent routing.AgentID) error
	// AddLeg gives the agent's voice in conv to leg (signaling.Server.AddLeg).
	AddLeg(ctx context.Context, conv store.ConversationID, agent routing.AgentID, leg signaling.Leg) (signaling.LegReports, error)
	// HungUp: the agent hung the phone up: the agent ends the call, as
	// the desk's End.
	HungUp(ctx context.Context, conv store.ConversationID, agent routing.AgentID) error
	// Hold is the desk's Hold (on) or resume by the agent.
	Hold(ctx context.Context, conv store.ConversationID, agent routing.AgentID, on bool) error
	// Transfer is a blind transfer by the agent to target (the Refer-To
	// user: an agent id or SIP username, or a queue id). ErrUnknownTarget
	// when it names nobody.
	Transfer(ctx context.Context, conv store.ConversationID, agent routing.AgentID, target string) error
}

// ErrUnknownTarget: a REFER's target names no agent or queue.
var ErrUnknownTarget = errors.New("sip: unknown transfer target")

// OfferLeg is a leg that makes the SDP offer of an outbound INVITE.
type OfferLeg interface {
	Offer() (string, error)
	HandleAnswer(answer string) error
}

// Ring is an offer to ring an agent's phones with.
type Ring struct {
	Conv   store.ConversationID
	Agent  routing.AgentID
	Name   string // the caller's name, shown by the phone
	Number string // the caller's number, in the From URI
	// Contacts are the agent's registered contacts (Registrar.Contacts).
	Contacts []Binding
	// Deadline is the offer's: the phones stop ringing a little after it
	// even if routing's OfferEnded were lost (zero: no bound).
	Deadline time.Time
}

// phones is the edge's state of agents' phone calls.
type phones struct {
	mu     sync.Mutex
	ap     AgentPhones
	byKey  map[string]*agentCall // (conv, agent)
	byDlg  map[string]*agentCall // sipgo dialog id of the answered fork
	closed bool
}

func ringKey(conv store.ConversationID, agent routing.AgentID) string {
	return string(conv) + "\x00" + string(agent)
}

// SetAgentPhones turns on ringing agents' phones (call before Start).
func (e *Edge) SetAgentPhones(ap AgentPhones) {
	e.ph.mu.Lock()
	e.ph.ap = ap
	e.ph.mu.Unlock()
}

// agentCall is one offer ringing an agent's phones, then the call with
// the phone that answered.
type agentCall struct {
	e     *Edge
	conv  store.ConversationID
	agent routing.AgentID
	key   string
	leg   Leg
	ctx   context.Context // the ringing; cancelled: CANCEL the forks
	stop  context.CancelFunc
	ctxD  context.Context // the call: ends when it is over
	endD  context.CancelFunc
	log   interface {
		Info(string, ...any)
		Debug(string, ...any)
		Warn(string, ...any)
	}

	assigned     chan struct{} // closed at routing's Assigned
	assignedOnce sync.Once

	mu      sync.Mutex
	forks   int
	sess    *sipgo.DialogClientSession // the phone that answered
	dlgID   string
	rep     signaling.LegReports
	joined  bool
	held    bool
	ended   bool
	upOnce  sync.Once
	metric  bool
	byeOnce sync.Once
}

// RingAgent rings the agent's phones for the offer r (in the background:
// it does not block). Without an AgentPhones or a Legs it does nothing.
func (e *Edge) RingAgent(r Ring) {
	e.ph.mu.Lock()
	ap, closed := e.ph.ap, e.ph.closed
	key := ringKey(r.Conv, r.Agent)
	if ap == nil || e.legs == nil || closed || e.ph.byKey[key] != nil || len(r.Contacts) == 0 {
		e.ph.mu.Unlock()
		return
	}
	c := &agentCall{e: e, conv: r.Conv, agent: r.Agent, key: key, assigned: make(chan struct{}),
		log: e.log.With("conversation", r.Conv, "agent", r.Agent, "call", "agent_phone")}
	c.ctxD, c.endD = context.WithCancel(e.ctx)
	c.ctx, c.stop = context.WithCancel(c.ctxD)
	if !r.Deadline.IsZero() {
		ctx, cancel := context.WithDeadline(c.ctx, r.Deadline.Add(2*time.Second))
		stop := c.stop
		c.ctx, c.stop = ctx, func() { cancel(); stop() }
	}
	e.ph.byKey[key] = c
	e.ph.mu.Unlock()
	e.m.CallsActive.WithLabelValues("outbound").Inc()
	c.metric = true
	e.goBG(func() { c.ring(ap, r) })
}

// StopRinging: the offer of conv to agent lapsed or was withdrawn:
// CANCEL the INVITEs not answered yet.
func (e *Edge) StopRinging(conv store.ConversationID, agent routing.AgentID) {
	e.ph.mu.Lock()
	c := e.ph.byKey[ringKey(conv, agent)]
	e.ph.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		answered := c.sess != nil
		c.mu.Unlock()
		if !answered {
			c.stop()
		}
	}
}

// AgentAssigned: routing assigned conv to agent (its chat side is
// written): an answered phone's leg joins the call.
func (e *Edge) AgentAssigned(conv store.ConversationID, agent routing.AgentID) {
	e.ph.mu.Lock()
	c := e.ph.byKey[ringKey(conv, agent)]
	e.ph.mu.Unlock()
	if c != nil {
		c.assignedOnce.Do(func() { close(c.assigned) })
	}
}

// AgentCalls is the number of agents' phone calls (ringing or answered).
func (e *Edge) AgentCalls() int {
	e.ph.mu.Lock()
	defer e.ph.mu.Unlock()
	return len(e.ph.byKey)
}

// ring sends the INVITEs and runs the call until it is answered (or not).
func (c *agentCall) ring(ap AgentPhones, r Ring) {
	e := c.e
	leg, err := e.legs.NewLeg(string(c.conv)+"/agent/"+string(c.agent)+"/sip", LegEvents{Up: c.legUp, Ended: c.legEnded})
	if err != nil {
		c.log.Warn("no RTP leg for the agent's phone", "err", err)
		c.finish()
		return
	}
	c.mu.Lock()
	c.leg = leg
	c.mu.Unlock()
	ol, ok := leg.(OfferLeg)
	if !ok {
		c.log.Warn("the leg makes no SDP offer")
		c.finish()
		return
	}
	offer, err := ol.Offer()
	if err != nil {
		c.log.Warn("no SDP offer", "err", err)
		c.finish()
		return
	}
	var wg sync.WaitGroup
	for _, b := range r.Contacts {
		req := e.agentInvite(b, r, offer)
		ua := &sipgo.DialogUA{Client: e.cli, ContactHDR: sip.ContactHeader{Address: e.contact(b.Transport)}, RewriteContact: true}
		sess, err := ua.WriteInvite(c.ctx, req)
		if err != nil {
			c.log.Info("INVITE to the agent's phone not sent", "contact", b.Contact.String(), "err", err)
			continue
		}
		c.mu.Lock()
		c.forks++
		c.mu.Unlock()
		wg.Add(1)
		e.goBG(func() {
			defer wg.Done()
			c.fork(sess, ol)
		})
	}
	wg.Wait()
	c.mu.Lock()
	won := c.sess != nil
	c.mu.Unlock()
	if won {
		return // the winning fork runs the call
	}
	// Nobody answered: every fork refused (Decline), or the ringing
	// stopped (the offer lapsed or was withdrawn: routing knows).
	if c.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		if err := ap.Decline(ctx, c.conv, c.agent); err != nil {
			c.log.Info("decline from the phone not applied", "err", err)
		}
		cancel()
	}
	c.finish()
}

// fork waits for one contact's answer.
func (c *agentCall) fork(sess *sipgo.DialogClientSession, ol OfferLeg) {
	err := sess.WaitAnswer(c.ctx, sipgo.AnswerOptions{})
	res := sess.InviteResponse
	if err != nil && (res == nil || !res.IsSuccess()) {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			c.log.Info("the agent's phone refused", "code", de.Res.StatusCode)
		}
		return
	}
	// A 2xx (maybe after our CANCEL): the first wins, a later one is
	// ACKed and hung up.
	c.mu.Lock()
	first := c.sess == nil && !c.ended && c.ctx.Err() == nil && err == nil
	if first {
		c.sess = sess
		c.dlgID = sess.ID
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.e.ctx, c.e.cfg.ByeTimeout)
	defer cancel()
	if err := sess.Ack(ctx); err != nil {
		c.log.Info("ACK not sent", "err", err)
	}
	if !first {
		if err := sess.Bye(ctx); err != nil {
			c.log.Debug("BYE to a late answer", "err", err)
		}
		return
	}
	c.e.ph.mu.Lock()
	c.e.ph.byDlg[sess.ID] = c
	c.e.ph.mu.Unlock()
	if err := ol.HandleAnswer(string(res.Body())); err != nil {
		c.log.Info("the phone's SDP answer refused", "err", err)
	}
	c.stop() // CANCEL the other forks
	c.answered(c.e.ph.ap)
}

// answered: a phone answered: the agent accepts; once assigned, the leg
// joins the call.
func (c *agentCall) answered(ap AgentPhones) {
	ctx, cancel := context.WithTimeout(c.ctxD, 10*time.Second)
	defer cancel()
	joined, err := ap.Answer(ctx, c.conv, c.agent)
	if err != nil {
		c.log.Info("answered on the phone, but the offer is gone", "err", err)
		c.hangUp()
		return
	}
	if !joined {
		select {
		case <-c.assigned:
		case <-ctx.Done():
			c.log.Info("answered on the phone, but never assigned")
			c.hangUp()
			return
		}
	}
	rep, err := ap.AddLeg(ctx, c.conv, c.agent, &agentLeg{Leg: c.leg, c: c})
	if err != nil {
		c.log.Info("the phone's leg did not join the call", "err", err)
		c.hangUp()
		return
	}
	c.mu.Lock()
	c.rep, c.joined = rep, true
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return
	}
	// The phone answered: its leg is up (it has our SDP and took the
	// call), as a phone caller's is once our answer is out.
	c.legUp()
}

func (c *agentCall) legUp() {
	c.mu.Lock()
	rep, joined := c.rep, c.joined
	c.mu.Unlock()
	if joined {
		c.upOnce.Do(func() { c.e.goBG(rep.Up) })
	}
}

func (c *agentCall) legEnded(cause string) {
	c.mu.Lock()
	rep, joined := c.rep, c.joined
	c.mu.Unlock()
	if joined {
		c.e.goBG(func() { rep.Ended(cause) })
		return
	}
	c.hangUp()
}

// hangUp ends the call from our side: BYE to the phone that answered.
func (c *agentCall) hangUp() {
	c.byeOnce.Do(func() {
		c.mu.Lock()
		sess := c.sess
		c.ended = true
		c.mu.Unlock()
		if sess != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctxD), c.e.cfg.ByeTimeout)
			if err := sess.Bye(ctx); err != nil {
				c.log.Info("BYE to the agent's phone not answered", "err", err)
			}
			cancel()
		}
		c.finish()
	})
}

// finish closes the leg and forgets the call.
func (c *agentCall) finish() {
	c.mu.Lock()
	c.ended = true
	leg, id, metric := c.leg, c.dlgID, c.metric
	c.metric = false
	c.mu.Unlock()
	c.stop()
	c.endD()
	if leg != nil {
		leg.Close()
	}
	e := c.e
	e.ph.mu.Lock()
	if e.ph.byKey[c.key] == c {
		delete(e.ph.byKey, c.key)
	}
	if id != "" && e.ph.byDlg[id] == c {
		delete(e.ph.byDlg, id)
	}
	e.ph.mu.Unlock()
	if metric {
		e.m.CallsActive.WithLabelValues("outbound").Dec()
	}
}

// agentLeg is the phone's leg as the call holds it: Close hangs up.
type agentLeg struct {
	Leg
	c *agentCall
}

func (l *agentLeg) Bridge(other callplan.Leg) { l.Leg.Bridge(other) }

func (l *agentLeg) Close() {
	l.c.e.goBG(l.c.hangUp)
}

// agentInvite builds the INVITE to one of the agent's contacts: the
// caller's name (quoted, escaped) and number (cleaned) in From, sent where
// the REGISTER came from (the way back through NAT).
func (e *Edge) agentInvite(b Binding, r Ring, offer string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, b.Contact)
	c := e.contact(b.Transport)
	user := "anonymous"
	if n, ok := CleanNumber(r.Number); ok {
		user = n
	}
	from := &sip.FromHeader{DisplayName: quoteEscape(CleanHeaderValue(r.Name, MaxDisplayName)),
		Address: sip.Uri{Scheme: "sip", User: user, Host: c.Host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: b.Contact.User, Host: b.Contact.Host, Port: b.Contact.Port}}
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(b.Transport),
		Host: c.Host, Port: c.Port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&sip.ContactHeader{Address: c})
	req.AppendHeader(sip.NewHeader("Allow", allow+", REFER, NOTIFY"))
	req.AppendHeader(sip.NewHeader("User-Agent", e.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(offer))
	req.SetTransport(strings.ToUpper(b.Transport))
	if b.Source.IsValid() {
		req.SetDestination(b.Source.String())
	}
	return req
}

// phoneCallOf finds the agent's phone call of an in-dialog request.
func (e *Edge) phoneCallOf(req *sip.Request) *agentCall {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	e.ph.mu.Lock()
	defer e.ph.mu.Unlock()
	return e.ph.byDlg[id]
}

// agentBye: the agent hung the phone up: the agent ends the call.
func (e *Edge) agentBye(c *agentCall, req *sip.Request, tx sip.ServerTransaction) outcome {
	out := e.respond(tx, req, 200, "")
	c.byeOnce.Do(func() {
		c.mu.Lock()
		joined := c.joined
		c.ended = true
		c.mu.Unlock()
		c.finish()
		if joined {
			e.goBG(func() {
				ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
				defer cancel()
				if err := e.ph.ap.HungUp(ctx, c.conv, c.agent); err != nil {
					c.log.Info("the agent's hang-up not applied", "err", err)
				}
			})
		}
	})
	return out
}

// agentReinvite: a new offer from the agent's phone: hold on sendonly or
// inactive, resume on sendrecv.
func (e *Edge) agentReinvite(c *agentCall, req *sip.Request, tx sip.ServerTransaction) outcome {
	c.mu.Lock()
	leg, joined := c.leg, c.joined
	c.mu.Unlock()
	if leg == nil || len(req.Body()) == 0 {
		return e.respond(tx, req, 488, "An SDP offer is required", sip.NewHeader("Accept", "application/sdp"))
	}
	answer, err := leg.Answer(string(req.Body()))
	if err != nil {
		return e.respond(tx, req, 488, "")
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", []byte(answer))
	res.AppendHeader(&sip.ContactHeader{Address: e.contact(req.Transport())})
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	e.addServer(res)
	if err := tx.Respond(res); err != nil {
		c.log.Debug("200 to a re-INVITE not sent", "err", err)
	}
	dir := leg.Direction()
	hold := dir == "sendonly" || dir == "inactive"
	c.mu.Lock()
	changed := hold != c.held
	c.held = hold
	c.mu.Unlock()
	if changed && joined {
		e.goBG(func() {
			ctx, cancel := context.WithTimeout(c.ctxD, 10*time.Second)
			defer cancel()
			if err := e.ph.ap.Hold(ctx, c.conv, c.agent, hold); err != nil {
				c.log.Info("hold from the agent's phone not applied", "hold", hold, "err", err)
			}
		})
	}
	return classOf(200)
}

// onRefer: a blind transfer from the agent's phone (RFC 3515).
func (e *Edge) onRefer(req *sip.Request, tx sip.ServerTransaction) outcome {
	c := e.phoneCallOf(req)
	if c == nil {
		if e.cfg.DropUnknown && !e.known(req) {
			return outcomeDropped
		}
		return e.respond(tx, req, 481, "")
	}
	// Only the call's agent's own device transfers it.
	if src, err := netip.ParseAddrPort(req.Source()); err != nil || e.hooks.Devices == nil {
		return e.respond(tx, req, 403, "")
	} else if agent, ok := e.hooks.Devices.DeviceAt(src); !ok || agent != c.agent {
		return e.respond(tx, req, 403, "")
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		return e.respond(tx, req, 400, "Refer-To is missing")
	}
	v := strings.TrimSpace(h.Value())
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	var u sip.Uri
	if err := sip.ParseUri(v, &u); err != nil || u.User == "" {
		return e.respond(tx, req, 400, "Refer-To names nobody")
	}
	target := clean(u.User, MaxURIUser)
	c.mu.Lock()
	joined, sess := c.joined, c.sess
	c.mu.Unlock()
	if !joined || sess == nil {
		return e.respond(tx, req, 491, "")
	}
	ctx, cancel := context.WithTimeout(c.ctxD, 10*time.Second)
	defer cancel()
	err := e.ph.ap.Transfer(ctx, c.conv, c.agent, target)
	if errors.Is(err, ErrUnknownTarget) {
		return e.respond(tx, req, 603, "Unknown transfer target")
	}
	out := e.respond(tx, req, 202, "Accepted")
	frag := "SIP/2.0 200 OK"
	if err != nil {
		c.log.Info("transfer from the phone refused", "target", target, "err", err)
		frag = "SIP/2.0 503 Service Unavailable"
	}
	e.goBG(func() {
		ctx, cancel := context.WithTimeout(c.ctxD, e.cfg.ByeTimeout)
		defer cancel()
		n := sip.NewRequest(sip.NOTIFY, sess.InviteResponse.Contact().Address)
		n.AppendHeader(sip.NewHeader("Event", "refer"))
		n.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
		n.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
		n.SetBody([]byte(frag + "\r\n"))
		if res, err := sess.Do(ctx, n); err != nil || !res.IsSuccess() {
			c.log.Debug("NOTIFY of the transfer not acknowledged", "err", err)
		}
		if err == nil {
			c.hangUp()
		}
	})
	return out
}

// closePhones hangs every agent's phone call up (Close).
func (e *Edge) closePhones() {
	e.ph.mu.Lock()
	e.ph.closed = true
	cs := make([]*agentCall, 0, len(e.ph.byKey))
	for _, c := range e.ph.byKey {
		cs = append(cs, c)
	}
	e.ph.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop()
			c.hangUp()
		}()
	}
	wg.Wait()
}
