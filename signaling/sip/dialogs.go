package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/store"
)

// registry holds the open dialogs by Call-ID and tags. An entry goes when
// its dialog's context ends (context.AfterFunc, no goroutine per dialog).
type registry struct {
	mu    sync.Mutex
	m     map[string]*dialog
	empty chan struct{} // closed while m is empty; replaced when it fills
}

func newRegistry() *registry {
	r := &registry{m: map[string]*dialog{}, empty: make(chan struct{})}
	close(r.empty)
	return r
}

func dialogKey(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

// add registers d until its context ends.
func (r *registry) add(d *dialog) {
	r.mu.Lock()
	if len(r.m) == 0 {
		r.empty = make(chan struct{})
	}
	r.m[d.key] = d
	r.mu.Unlock()
	context.AfterFunc(d.ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.m[d.key] == d {
			delete(r.m, d.key)
			if len(r.m) == 0 {
				close(r.empty)
			}
		}
	})
}

// lookup finds the dialog of an in-dialog request (we are the UAS: our
// tag is the To tag, theirs the From tag).
func (r *registry) lookup(req *sip.Request) *dialog {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return nil
	}
	lt, _ := to.Params.Get("tag")
	rt, _ := from.Params.Get("tag")
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[dialogKey(cid.Value(), lt, rt)]
}

func (r *registry) all() []*dialog {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*dialog, 0, len(r.m))
	for _, d := range r.m {
		out = append(out, d)
	}
	return out
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// wait waits until no dialog is left, or ctx ends.
func (r *registry) wait(ctx context.Context) {
	r.mu.Lock()
	ch := r.empty
	r.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// dstate is where a dialog is.
type dstate int

const (
	early     dstate = iota // INVITE received, no final answer yet
	answered                // 2xx sent, no ACK yet
	confirmed               // ACK received
	ended
)

// hangup is why a dialog ends: the final status for an INVITE not yet
// answered, the cause for the call.
type hangup struct {
	code  int    // final answer to an unanswered INVITE
	cause string // for the call and the logs
}

func (h *hangup) Error() string { return fmt.Sprintf("%s (%d)", h.cause, h.code) }

var (
	errShutdown  = &hangup{503, "server_stopped"}
	errCancelled = &hangup{487, "caller_cancelled"}
	errCallerBye = &hangup{0, "caller_hung_up"}
	errNoAck     = &hangup{0, "no_ack"}
	errCallEnded = &hangup{480, "call_ended"} // the call closed the caller's leg
)

// dialog is the SIP side of a call: an INVITE we answer as UAS, its tags,
// our CSeq, and its state. Its context ends (with a *hangup cause) when
// the dialog does.
type dialog struct {
	e              *Edge
	key            string
	callID         string
	localTag       string
	remoteTag      string
	invite         *sip.Request
	tx             sip.ServerTransaction
	ctx            context.Context
	cancel         context.CancelCauseFunc
	log            *slog.Logger
	acked          chan struct{} // closed at the ACK of our 2xx
	onEnd          func(cause *hangup)
	c              *inboundCall                    // the call object, set before the dialog is used
	uac            func(ctx context.Context) error // a call we placed: its BYE (outbound.go)
	mu             sync.Mutex
	state          dstate
	cseq           uint32
	lastRemoteCSeq uint32
	ok             *sip.Response // our 2xx, for retransmissions
	endOnce        sync.Once
}

// newDialog makes the dialog of an initial INVITE and registers it.
func (e *Edge) newDialog(req *sip.Request, tx sip.ServerTransaction, conv store.ConversationID) *dialog {
	from := req.From()
	rt, _ := from.Params.Get("tag")
	d := &dialog{e: e, callID: req.CallID().Value(), localTag: sip.GenerateTagN(16), remoteTag: rt,
		invite: req, tx: tx, acked: make(chan struct{}), cseq: rand.Uint32N(1 << 16), lastRemoteCSeq: req.CSeq().SeqNo}
	d.key = dialogKey(d.callID, d.localTag, d.remoteTag)
	d.ctx, d.cancel = context.WithCancelCause(e.ctx)
	d.log = e.log.With("callID", d.callID, "conversation", conv)
	e.dialogs.add(d)
	return d
}

// response builds a response to the INVITE with our tag and Contact.
func (d *dialog) response(code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	return d.responseTo(d.invite, code, reason, body, hdrs...)
}

// responseTo builds a response to req (the INVITE or a re-INVITE) with
// our tag and Contact.
func (d *dialog) responseTo(req *sip.Request, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	if reason == "" {
		reason = statusReason(code)
	}
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if code > 100 {
		res.To().Params.Add("tag", d.localTag)
	}
	if code > 100 && code < 300 {
		c := d.e.contact(req.Transport())
		res.AppendHeader(&sip.ContactHeader{Address: c})
		res.AppendHeader(sip.NewHeader("Allow", allow))
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	d.e.addServer(res)
	return res
}

// provisional sends a 1xx (183 with SDP: early media).
func (d *dialog) provisional(code int, body []byte) error {
	return d.tx.Respond(d.response(code, "", body))
}

// answer sends 200 OK with our SDP and retransmits it until the ACK,
// doubling from T1 to T2 (RFC 3261 13.3.1.4: the UAS core does it on any
// transport, for the UDP hops a proxy may add). No ACK within AckTimeout:
// errNoAck (the caller of answer hangs up with a BYE).
func (d *dialog) answer(sdp []byte) error {
	d.mu.Lock()
	if d.state != early {
		d.mu.Unlock()
		return context.Cause(d.ctx)
	}
	d.state = answered
	d.ok = d.response(200, "", sdp)
	ok := d.ok
	d.mu.Unlock()
	if err := d.tx.Respond(ok); err != nil {
		return err
	}
	interval := sip.T1
	deadline := time.NewTimer(d.e.cfg.AckTimeout)
	defer deadline.Stop()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-d.acked:
			return nil
		case <-d.ctx.Done():
			return context.Cause(d.ctx)
		case <-deadline.C:
			return errNoAck
		case <-t.C:
			// The transaction is in Accepted: it passes 2xx
			// retransmissions to the transport (RFC 6026).
			if err := d.tx.Respond(ok); err != nil {
				d.log.Debug("2xx retransmission not sent", "err", err)
			}
			interval = min(2*interval, sip.T2)
			t.Reset(interval)
		}
	}
}

// ack: the ACK of our 2xx came.
func (d *dialog) ack() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == answered {
		d.state = confirmed
		close(d.acked)
	}
}

// end ends the dialog once with cause: the call is told, the registry
// entry goes.
func (d *dialog) end(cause *hangup) {
	d.endOnce.Do(func() {
		d.mu.Lock()
		d.state = ended
		d.mu.Unlock()
		d.cancel(cause)
		if d.onEnd != nil {
			d.onEnd(cause)
		}
	})
}

// hangUp ends the dialog from our side: an INVITE not answered yet gets
// cause.code (487, 480, 503...), an answered one a BYE (waited for at
// most ByeTimeout and ctx).
func (d *dialog) hangUp(ctx context.Context, cause *hangup) {
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	if d.uac != nil {
		if st != ended {
			if err := d.uac(ctx); err != nil {
				d.log.Info("BYE not answered", "err", err)
			}
		}
		d.end(cause)
		return
	}
	switch st {
	case early:
		code := cause.code
		if code < 300 {
			code = 480
		}
		if err := d.tx.Respond(d.response(code, "", nil)); err != nil {
			d.log.Debug("final answer not sent", "code", code, "err", err)
		}
	case answered, confirmed:
		if err := d.bye(ctx); err != nil {
			d.log.Info("BYE not answered", "err", err)
		}
	}
	d.end(cause)
}

// bye sends BYE within the dialog: to the caller's Contact, through the
// address the INVITE came from (symmetric signaling: the way back through
// NAT), with the Record-Route set as Route.
func (d *dialog) bye(ctx context.Context) error {
	inv := d.invite
	target := inv.Recipient
	if c := inv.Contact(); c != nil {
		target = c.Address
	}
	req := sip.NewRequest(sip.BYE, target)
	// Our sent-by: the contact address (public behind NAT), not the
	// socket's (0.0.0.0 when listening on every interface).
	c := d.e.contact(inv.Transport())
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(inv.Transport()),
		Host: c.Host, Port: c.Port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	for _, rr := range inv.GetHeaders("Record-Route") {
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	to := inv.From().AsTo()
	from := inv.To().AsFrom()
	from.Params = from.Params.Clone()
	from.Params.Add("tag", d.localTag)
	d.mu.Lock()
	d.cseq++
	seq := d.cseq
	d.mu.Unlock()
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.BYE})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("User-Agent", d.e.cfg.UserAgent))
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Source())
	req.SetBody(nil)
	ctx, cancel := context.WithTimeout(ctx, d.e.cfg.ByeTimeout)
	defer cancel()
	res, err := d.e.cli.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() && res.StatusCode != 481 {
		return errors.New(res.StartLine())
	}
	return nil
}
