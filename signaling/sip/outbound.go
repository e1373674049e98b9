package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/signaling/callplan"
)

// Calls we place (click-to-call): Dial calls a number through a trunk as
// the conversation's visitor. The phone's RTP leg is made and given to
// the call first (Calls.AddLeg), so the agent's browser leg is set up
// while the phone rings; the INVITE carries the leg's offer (RTPOffer)
// and its answer (in a 183 with early media, else the 200) is applied
// with HandleRTPAnswer. A 401 or 407 challenge is answered with the
// trunk's Username and Password (digest, sipgo's WaitAnswer). The leg is
// reported up when the call is answered: only then does the call plan
// bridge it to the agent.
//
// The dialog of an answered call is in the edge's registry like an
// inbound one: the callee's BYE ends it (Events.Ended("phone_hung_up")),
// the call closing the leg sends our BYE, shutdown BYEs it. Before the
// answer, the leg's Close (the agent ended, the call ended) cancels the
// INVITE (CANCEL).

// Dial is a call to place.
type Dial struct {
	Conv   store.ConversationID
	Trunk  string // the trunk's name; empty: the first trunk with a Host
	Number string // E.164, normalised by the caller (NormalizeNumber)
	// CallerID is our number (From and P-Asserted-Identity user), and
	// CallerName the display name; both are sanitized here.
	CallerID    string
	CallerName  string
	RingTimeout time.Duration // default 45 s: then CANCEL, outcome no_answer
	Events      DialEvents
}

// DialEvents report a placed call's progress. They run on the call's
// goroutine and may block briefly.
type DialEvents struct {
	// Ringing: a 180, or a 183 (early: with SDP, its media applied).
	Ringing func(early bool)
	// Answered: 200 OK, ACK sent, the leg is up.
	Answered func()
	// Failed: the call was never answered. code is the final SIP status
	// (0 when none came: timeout, transport error, cancelled by us) and
	// outcome one of the Outcome* names.
	Failed func(code int, outcome string)
	// Ended: an answered call is over: phone_hung_up (the callee's BYE),
	// call_ended (our side closed the leg), server_stopped.
	Ended func(cause string)
}

// Outcomes of a placed call that was not answered.
const (
	OutcomeBusy      = "busy"      // 486, 600
	OutcomeNoAnswer  = "no_answer" // ring timeout, 408, 480
	OutcomeNotFound  = "not_found" // 404, 484, 604
	OutcomeForbidden = "forbidden" // 403 (and a challenge we could not answer)
	OutcomeDeclined  = "declined"  // 603
	OutcomeCancelled = "cancelled" // we hung up first
	OutcomeFailed    = "failed"    // anything else
	OutcomeAnswered  = "answered"  // for the events' records
	defaultRing      = 45 * time.Second
	outboundLegRole  = "/visitor/sip-out"
)

// outcomeOf names the outcome of a final status.
func outcomeOf(code int) string {
	switch code {
	case 486, 600:
		return OutcomeBusy
	case 408, 480, 487:
		return OutcomeNoAnswer
	case 404, 484, 604:
		return OutcomeNotFound
	case 401, 403, 407:
		return OutcomeForbidden
	case 603:
		return OutcomeDeclined
	}
	return OutcomeFailed
}

// rtpOfferer is what a placed call needs of its leg on top of Leg: media
// legs made by NewRTPLeg have both.
type rtpOfferer interface {
	RTPOffer() (string, error)
	HandleRTPAnswer(sdp string) error
}

// errNoAnswer is the cause of a ring timeout.
var errNoAnswer = errors.New("no answer")

// outbound is a call we place.
type outbound struct {
	e      *Edge
	dial   Dial
	trunk  *Trunk
	leg    Leg
	ctx    context.Context // cancelled when the call ends before its answer (CANCEL)
	cancel context.CancelCauseFunc
	rep    legReports

	mu sync.Mutex
	d  *dialog // once answered
}

// legReports is the leg's reports (signaling.LegReports).
type legReports struct {
	up    func()
	ended func(string)
}

// trunkNamed is the trunk to dial through.
func (c *Config) trunkNamed(name string) *Trunk {
	for i := range c.Trunks {
		t := &c.Trunks[i]
		if (name == "" && t.Host != "") || (name != "" && t.Name == name) {
			return t
		}
	}
	return nil
}

// Dial places a call (see the comment above Dial). It returns once the
// INVITE is on its way, or an error before anything was sent: a number
// that is not E.164 or is not allowed on the trunk, an unknown trunk, no
// leg, a conversation whose call refuses the leg.
func (e *Edge) Dial(ctx context.Context, d Dial) error {
	t := e.cfg.trunkNamed(d.Trunk)
	if t == nil || t.Host == "" {
		return fmt.Errorf("sip: no trunk %q with outbound settings (host)", d.Trunk)
	}
	n, err := NormalizeNumber(d.Number, "")
	if err != nil || n != d.Number {
		return fmt.Errorf("%w: %q is not an E.164 number", ErrBadNumber, d.Number)
	}
	if err := CheckDestination(n, t.DialAllow); err != nil {
		return err
	}
	cid, ok := CleanNumber(d.CallerID)
	if !ok {
		return fmt.Errorf("sip: caller_id %q: want a number such as +442079460000", CleanHeaderValue(d.CallerID, 40))
	}
	d.CallerID, d.CallerName = cid, strings.NewReplacer(`"`, "", `\`, "").Replace(CleanHeaderValue(d.CallerName, MaxDisplayName))
	if d.RingTimeout <= 0 {
		d.RingTimeout = defaultRing
	}
	if e.calls == nil || e.legs == nil {
		return errors.New("sip: voice is off")
	}
	e.mu.Lock()
	closing := e.closing
	e.mu.Unlock()
	if closing {
		return errors.New("sip: the server is stopping")
	}
	o := &outbound{e: e, dial: d, trunk: t}
	o.ctx, o.cancel = context.WithCancelCause(e.ctx)
	// Unique per call: the leg of an earlier call in the conversation may
	// still be closing.
	leg, err := e.legs.NewLeg(string(d.Conv)+outboundLegRole+"/"+sip.GenerateTagN(6), LegEvents{Ended: o.legEnded})
	if err != nil {
		return fmt.Errorf("sip: no RTP leg: %w", err)
	}
	ro, ok := leg.(rtpOfferer)
	if !ok {
		leg.Close()
		return errors.New("sip: the leg cannot make an offer")
	}
	offer, err := ro.RTPOffer()
	if err != nil {
		leg.Close()
		return err
	}
	o.leg = leg
	rep, err := e.calls.AddLeg(ctx, d.Conv, &outLeg{Leg: leg, o: o})
	if err != nil {
		return err // AddLeg closed the leg
	}
	o.rep = legReports{up: rep.Up, ended: rep.Ended}
	req, err := o.invite(offer)
	if err != nil {
		leg.Close()
		o.cancel(err)
		return err
	}
	dua := sipgo.DialogUA{Client: e.outClient(), ContactHDR: sip.ContactHeader{Address: e.contact(o.transport())}}
	e.m.CallsActive.WithLabelValues("outbound").Inc()
	sess, err := dua.WriteInvite(o.ctx, req)
	if err != nil {
		e.m.CallsActive.WithLabelValues("outbound").Dec()
		e.m.RequestsSent.WithLabelValues("INVITE", "failed").Inc()
		o.cancel(err)
		o.closeLeg()
		return fmt.Errorf("sip: INVITE not sent: %w", err)
	}
	e.goBG(func() { o.run(sess) })
	return nil
}

func (o *outbound) transport() string {
	if strings.EqualFold(o.trunk.Transport, "tcp") {
		return "tcp"
	}
	return "udp"
}

// invite builds the INVITE: Request-URI sip:+number@host, From our caller
// ID (and P-Asserted-Identity), the offer.
func (o *outbound) invite(offer string) (*sip.Request, error) {
	t, d := o.trunk, o.dial
	host := t.Host
	ru := sip.Uri{Scheme: "sip", User: d.Number, Host: host, UriParams: sip.NewParams(), Headers: sip.NewParams()}
	if o.transport() == "tcp" {
		ru.UriParams.Add("transport", "tcp")
	}
	req := sip.NewRequest(sip.INVITE, ru)
	req.SetTransport(o.transport())
	if t.OutboundProxy != "" {
		// The outbound proxy is a preloaded route (RFC 3261 8.1.2): the
		// CANCEL of the INVITE copies it and goes the same way.
		h, p, err := net.SplitHostPort(t.OutboundProxy)
		if err != nil {
			h, p = t.OutboundProxy, "5060"
		}
		port, _ := strconv.Atoi(p)
		r := sip.Uri{Scheme: "sip", Host: h, Port: port, UriParams: sip.NewParams()}
		r.UriParams.Add("lr", "")
		if o.transport() == "tcp" {
			r.UriParams.Add("transport", "tcp")
		}
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	fromURI := sip.Uri{Scheme: "sip", User: d.CallerID, Host: host, UriParams: sip.NewParams(), Headers: sip.NewParams()}
	from := &sip.FromHeader{DisplayName: d.CallerName, Address: fromURI, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: d.Number, Host: host, UriParams: sip.NewParams(), Headers: sip.NewParams()}, Params: sip.NewParams()}
	cid := sip.CallIDHeader(sip.GenerateTagN(24) + "@contactd")
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	pai := "<sip:" + d.CallerID + "@" + host + ">"
	if d.CallerName != "" {
		pai = `"` + d.CallerName + `" ` + pai
	}
	for _, v := range []string{pai, d.CallerID, host} {
		if !SafeHeaderValue(v) {
			return nil, errors.New("sip: an unsafe header value")
		}
	}
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", pai))
	req.AppendHeader(sip.NewHeader("User-Agent", o.e.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allow))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(offer))
	return req, nil
}

// outClient is the client of the calls we place: its Via names our
// contact host (the public address behind NAT), with rport.
func (e *Edge) outClient() *sipgo.Client {
	e.outOnce.Do(func() {
		host := e.contact("udp").Host
		c, err := sipgo.NewClient(e.ua, sipgo.WithClientLogger(e.log), sipgo.WithClientHostname(host), sipgo.WithClientNAT())
		if err != nil {
			c = e.cli
		}
		e.outCli = c
	})
	return e.outCli
}

// run waits for the answer, then for the end of the call.
func (o *outbound) run(sess *sipgo.DialogClientSession) {
	e, t, d := o.e, o.trunk, o.dial
	defer e.m.CallsActive.WithLabelValues("outbound").Dec()
	ringCtx, cancel := context.WithTimeoutCause(o.ctx, d.RingTimeout, errNoAnswer)
	defer cancel()
	var early bool
	err := sess.WaitAnswer(ringCtx, sipgo.AnswerOptions{Username: t.Username, Password: t.Password,
		OnResponse: func(r *sip.Response) error {
			switch {
			case r.StatusCode == 180 || r.StatusCode == 183:
				sdp := len(r.Body()) > 0 && r.ContentType() != nil && strings.Contains(strings.ToLower(r.ContentType().Value()), "application/sdp")
				if sdp && !early {
					if err := o.leg.(rtpOfferer).HandleRTPAnswer(string(r.Body())); err != nil {
						e.log.Info("early media SDP refused", "conversation", d.Conv, "err", err)
					} else {
						early = true
					}
				}
				if f := d.Events.Ringing; f != nil {
					f(sdp)
				}
			}
			return nil
		}})
	if err != nil {
		code, outcome, label := 0, OutcomeFailed, "timeout"
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			code = dr.Res.StatusCode
			outcome, label = outcomeOf(code), string(classOf(code))
		case errors.Is(context.Cause(ringCtx), errNoAnswer):
			outcome, label = OutcomeNoAnswer, "cancelled"
		case o.ctx.Err() != nil:
			outcome, label = OutcomeCancelled, "cancelled"
		}
		e.m.RequestsSent.WithLabelValues("INVITE", label).Inc()
		e.log.Info("placed call not answered", "conversation", d.Conv, "code", code, "outcome", outcome, "err", err)
		sess.Close()
		o.cancel(err)
		o.closeLeg()
		if f := d.Events.Failed; f != nil {
			f(code, outcome)
		}
		return
	}
	e.m.RequestsSent.WithLabelValues("INVITE", "2xx").Inc()
	res := sess.InviteResponse
	var sdpErr error
	switch {
	case !early && len(res.Body()) > 0:
		sdpErr = o.leg.(rtpOfferer).HandleRTPAnswer(string(res.Body()))
	case !early:
		sdpErr = errors.New("no SDP answer in the 200")
	}
	if err := sess.Ack(e.ctx); err != nil {
		e.log.Info("ACK not sent", "conversation", d.Conv, "err", err)
	}
	dl := o.register(sess)
	switch {
	case o.ctx.Err() != nil:
		// Our side hung up while the 200 was on its way: BYE.
		dl.hangUp(e.ctx, errCallEnded)
		return
	case sdpErr != nil:
		e.log.Info("SDP answer refused: hanging up", "conversation", d.Conv, "err", sdpErr)
		dl.hangUp(e.ctx, &hangup{0, "bad_sdp"})
		return
	}
	o.rep.up()
	if f := d.Events.Answered; f != nil {
		f()
	}
	<-dl.ctx.Done()
}

// register puts the answered call's dialog into the edge's registry (an
// in-dialog request from the callee carries our tag in To and theirs in
// From, as an inbound call's does).
func (o *outbound) register(sess *sipgo.DialogClientSession) *dialog {
	e := o.e
	inv, res := sess.InviteRequest, sess.InviteResponse
	lt, _ := inv.From().Params.Get("tag")
	rt, _ := res.To().Params.Get("tag")
	dl := &dialog{e: e, callID: inv.CallID().Value(), localTag: lt, remoteTag: rt, invite: inv,
		acked: make(chan struct{}), state: confirmed}
	close(dl.acked)
	dl.key = dialogKey(dl.callID, lt, rt)
	dl.ctx, dl.cancel = context.WithCancelCause(e.ctx)
	dl.log = e.log.With("callID", dl.callID, "conversation", o.dial.Conv)
	dl.uac = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, e.cfg.ByeTimeout)
		defer cancel()
		e.m.RequestsSent.WithLabelValues("BYE", "sent").Inc()
		return sess.Bye(ctx)
	}
	dl.onEnd = func(cause *hangup) { o.ended(sess, cause) }
	o.mu.Lock()
	o.d = dl
	o.mu.Unlock()
	e.dialogs.add(dl)
	return dl
}

// ended: the answered call's dialog is over.
func (o *outbound) ended(sess *sipgo.DialogClientSession, cause *hangup) {
	sess.Close()
	loss, jitter := o.leg.Stats()
	o.e.m.RTPLoss.Observe(loss)
	o.e.m.RTPJitter.Observe(jitter.Seconds())
	why := cause.cause
	if cause == errCallerBye {
		why = "phone_hung_up"
		o.closeLeg()
	}
	if f := o.dial.Events.Ended; f != nil {
		f(why)
	}
}

// closeLeg closes the media leg (idempotent).
func (o *outbound) closeLeg() { o.leg.Close() }

// hangUp: our side ends the call: CANCEL while it rings, BYE once answered.
func (o *outbound) hangUp() {
	o.mu.Lock()
	d := o.d
	o.mu.Unlock()
	o.cancel(errCallEnded)
	if d != nil {
		d.hangUp(o.e.ctx, errCallEnded)
	}
}

// legEnded: the leg stopped by itself (media timeout): the call decides.
func (o *outbound) legEnded(cause string) {
	if o.rep.ended != nil {
		o.e.goBG(func() { o.rep.ended(cause) })
	}
}

// outLeg is the phone's leg as the call holds it: closing it hangs up.
type outLeg struct {
	Leg
	o *outbound
}

func (l *outLeg) Hear(t callplan.Tone) { l.Leg.Hear(t) }

func (l *outLeg) Close() {
	l.Leg.Close()
	l.o.e.goBG(l.o.hangUp)
}

// StatusText is a short text for an outcome, for the agent.
func StatusText(code int, outcome string) string {
	msg := map[string]string{
		OutcomeBusy:      "The line is busy.",
		OutcomeNoAnswer:  "Nobody answered.",
		OutcomeNotFound:  "The number does not exist.",
		OutcomeForbidden: "The provider refused the call.",
		OutcomeDeclined:  "The call was declined.",
		OutcomeCancelled: "The call was cancelled.",
		OutcomeFailed:    "The call failed.",
	}[outcome]
	if code > 0 {
		msg += " (" + strconv.Itoa(code) + " " + statusReason(code) + ")"
	}
	return msg
}
