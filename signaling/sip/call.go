package sip

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/callplan"
)

// Calls is what the edge needs of the contact center; internal/app
// implements it with the chat coordinator and signaling.Server.
type Calls interface {
	// StartCaller opens a voice conversation for a phone caller, queued
	// and present (offered to agents at once).
	StartCaller(ctx context.Context, c Caller) (store.ConversationID, error)
	// AddLeg gives the caller's voice in conv to leg (the visitor's leg:
	// signaling.Server.AddLeg).
	AddLeg(ctx context.Context, conv store.ConversationID, leg signaling.Leg) (signaling.LegReports, error)
	// CallerLeft: the caller hung up: an abandon while queued, the end of
	// the conversation after.
	CallerLeft(ctx context.Context, conv store.ConversationID) error
	// Hold puts the conversation on hold (on) or resumes it, as the
	// agent's Hold button does.
	Hold(ctx context.Context, conv store.ConversationID, on bool) error
	// LeaveMessage stores a caller's voice message (pcm: 16-bit
	// little-endian 8 kHz mono, as media.Leg.Record writes it) as a left
	// message of queue.
	LeaveMessage(ctx context.Context, queue routing.QueueID, name string, attrs map[string]string, pcm []byte) error
}

// Caller is a phone caller to queue.
type Caller struct {
	// ID is the conversation to open (the edge makes it first, so that
	// routing's Position effects find the call from the start).
	ID       store.ConversationID
	Queue    routing.QueueID
	Skills   []routing.SkillReq
	Priority int
	// Name is shown to the agent (the caller's display name, else number).
	Name string
	// Attributes are the conversation's context: phone (caller ID),
	// dialled (the number called), trunk, channel_source=sip.
	Attributes map[string]string
}

// Leg is a phone call's plain RTP leg.
type Leg interface {
	signaling.Leg
	// MediaLeg is the engine's leg: other legs bridge to it.
	MediaLeg() *media.Leg
	// Answer answers the caller's SDP offer (the first one, and those of
	// re-INVITEs).
	Answer(offer string) (answer string, err error)
	// Direction is the direction of the caller's last offer: sendrecv,
	// sendonly, recvonly or inactive.
	Direction() string
	// Stats are the received loss ratio and jitter, for the metrics.
	Stats() (loss float64, jitter time.Duration)
	// PlayClip plays c once, then then (announcements while queued).
	PlayClip(c *media.Clip, then media.Sound)
	// Record writes what the caller says (voice messages) until stop.
	Record(w io.Writer) (stop func())
}

// Legs makes RTP legs.
type Legs interface {
	NewLeg(id string, ev LegEvents) (Leg, error)
}

// LegEvents are a leg's reports. They may come from media goroutines:
// they do not block.
type LegEvents struct {
	Up    func()
	Ended func(cause string)
	DTMF  func(digit rune)
}

// maxBody bounds the SDP of an INVITE.
const maxBody = 16 << 10

// onInvite admits an initial INVITE (see the package doc) and runs the
// call until it is answered, or handles a re-INVITE.
func (e *Edge) onInvite(req *sip.Request, tx sip.ServerTransaction) outcome {
	if d := e.dialogs.lookup(req); d != nil {
		return e.reinvite(d, req, tx)
	}
	if c := e.phoneCallOf(req); c != nil {
		return e.agentReinvite(c, req, tx)
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		return e.respond(tx, req, 481, "")
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return e.respond(tx, req, 400, "")
	}
	trunk := e.cfg.trunkAt(src.Addr())
	if trunk == nil {
		if e.hooks.Devices != nil {
			if _, ok := e.hooks.Devices.DeviceAt(src); ok {
				return e.respond(tx, req, 501, "Calls from phones are not supported yet")
			}
		}
		if e.cfg.DropUnknown {
			return outcomeDropped
		}
		return e.respond(tx, req, 403, "")
	}
	number := dialled(req)
	r, ok := trunk.number(number)
	if !ok {
		return e.respond(tx, req, 404, "")
	}
	if e.calls == nil || e.legs == nil {
		return e.respond(tx, req, 503, "Voice is off")
	}
	if ct := req.ContentType(); ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") || len(req.Body()) == 0 {
		return e.respond(tx, req, 488, "An SDP offer is required", sip.NewHeader("Accept", "application/sdp"))
	}
	if len(req.Body()) > maxBody {
		return e.respond(tx, req, 413, "")
	}
	e.mu.Lock()
	closing := e.closing
	e.mu.Unlock()
	if closing {
		return e.respond(tx, req, 503, "")
	}
	tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))
	id := store.ConversationID(chat.NewID("c_"))
	d := e.newDialog(req, tx, id)
	c := &inboundCall{e: e, d: d, id: id, route: r, answerNow: make(chan struct{}), digits: make(chan rune, 8),
		detached: make(chan struct{})}
	d.onEnd, d.c = c.dialogEnded, c
	e.m.CallsActive.WithLabelValues("inbound").Inc()
	return c.run(req)
}

// dialled is the number the caller dialled: the Request-URI user, else
// the To user.
func dialled(req *sip.Request) string {
	if u := req.Recipient.User; u != "" {
		return u
	}
	if to := req.To(); to != nil {
		return to.Address.User
	}
	return ""
}

// inboundCall is the call object of a call from a trunk: its
// conversation, leg and answer; d is its SIP side.
type inboundCall struct {
	e     *Edge
	d     *dialog
	route route
	id    store.ConversationID // the conversation it will open
	conv  store.ConversationID // the conversation once opened (under mu)
	leg   Leg

	answerNow chan struct{} // closed when the plan first bridges the caller
	digits    chan rune     // keys pressed while a menu waits
	answerOne sync.Once

	mu      sync.Mutex
	rep     signaling.LegReports
	repSet  bool
	pendUp  bool
	pendEnd string
	held    bool
	// What the plan last told the caller's leg: a tone (toldTone), or a
	// bridge (announcements wait for the tone).
	tone     callplan.Tone
	toldTone bool
	position int           // in the queue (routing's Position), 0: unknown
	wait     time.Duration // estimated, -1: unknown
	inMenu   bool          // a menu waits for a key (digits)
	// recording: the caller chose to leave a message; the call lets the
	// leg go (detached closes when it does) and the edge keeps it.
	recording  bool
	detached   chan struct{}
	detachOnce sync.Once
	name       string
	attrs      map[string]string
}

// run sets the call up and answers it; it returns the outcome of the
// INVITE.
func (c *inboundCall) run(req *sip.Request) outcome {
	e, d := c.e, c.d
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	// A CANCEL ends the dialog (the transaction layer answered 200 and
	// 487 already).
	tx := d.tx
	if !tx.OnCancel(func(*sip.Request) { e.goBG(func() { d.end(errCancelled) }) }) {
		d.end(errCancelled)
		return classOf(487)
	}
	num, name := callerID(req)
	attrs := map[string]string{"channel_source": "sip", "dialled": clean(c.route.Number.Number, 32), "trunk": clean(c.route.trunk.Name, 64)}
	if num != "" {
		attrs["phone"] = num
	}
	if name == "" {
		name = num
	}
	c.name, c.attrs = name, maps.Clone(attrs)
	if len(c.route.Menu) > 0 && c.route.MenuClip != nil {
		return c.runMenu(req, name, attrs)
	}
	conv := c.id
	if !c.setConv(conv) {
		return classOf(487) // cancelled already
	}
	conv, err := e.calls.StartCaller(ctx, Caller{ID: conv, Queue: c.route.Queue, Skills: c.route.Skills, Priority: c.route.Priority, Name: name, Attributes: attrs})
	if err != nil {
		d.log.Info("phone call not queued", "queue", c.route.Queue, "err", err)
		c.mu.Lock()
		c.conv = "" // nothing to leave
		c.mu.Unlock()
		e.mu.Lock()
		delete(e.byConv, conv)
		e.mu.Unlock()
		d.hangUp(d.ctx, &hangup{480, "not_queued"})
		return classOf(480)
	}
	if d.ctx.Err() != nil {
		// The caller hung up (CANCEL) while the conversation was made:
		// the dialog's end saw the conversation (maybe before it
		// existed); say again that the caller left.
		c.left(conv)
		return classOf(487)
	}
	leg, answer, failed := c.openLeg(conv, req)
	if leg == nil {
		return failed
	}
	rep, err := e.calls.AddLeg(ctx, conv, &callLeg{Leg: leg, c: c})
	if err != nil {
		d.log.Info("phone leg not added to the call", "err", err)
		d.hangUp(d.ctx, &hangup{480, "no_call"})
		return classOf(480)
	}
	c.setReports(rep)
	e.goBG(c.announce)

	if c.route.Answer == EarlyMedia {
		// 183 with our SDP, repeated every minute so that proxies on the
		// way do not give up on the INVITE (RFC 3261 13.3.1.1, Timer C).
		every := time.NewTicker(time.Minute)
		defer every.Stop()
		first := true
	wait:
		for {
			if err := d.provisional(183, []byte(answer)); err != nil {
				d.log.Info("183 not sent", "err", err)
			}
			if first {
				// The caller has our SDP: its leg can carry ringback
				// and music now, though many phones send nothing
				// before the 200 (so the leg is up without waiting
				// for its first packet).
				first = false
				c.legUp()
			}
			select {
			case <-c.answerNow:
				break wait
			case <-d.ctx.Done():
				return classOf(c.finalOf(context.Cause(d.ctx)))
			case <-tx.Done():
				d.end(errCancelled)
				return classOf(487)
			case <-every.C:
			}
		}
	}
	if c.route.Answer != EarlyMedia {
		// Up once the 200 is out: the caller has our SDP.
		defer func() {
			if d.ctx.Err() == nil {
				c.legUp()
			}
		}()
	}
	if err := d.answer([]byte(answer)); err != nil {
		return c.answerFailed(err)
	}
	return classOf(200)
}

// answerFailed ends a call whose 200 OK failed (no ACK: BYE) and returns
// the INVITE's outcome.
func (c *inboundCall) answerFailed(err error) outcome {
	d := c.d
	var h *hangup
	if errors.As(err, &h) && h == errNoAck {
		d.log.Info("no ACK for our 200 OK: hanging up")
		d.hangUp(c.e.ctx, errNoAck)
		return classOf(200)
	}
	if errors.As(err, &h) {
		return classOf(c.finalOf(h))
	}
	d.log.Info("200 OK not sent", "err", err)
	d.hangUp(c.e.ctx, &hangup{500, "answer_failed"})
	return classOf(500)
}

// openLeg makes the caller's RTP leg for conv and answers the INVITE's SDP
// offer with it. On failure the call is hung up (503 no leg, 488 an offer
// we cannot answer), leg is nil and failed is the outcome to return.
func (c *inboundCall) openLeg(conv store.ConversationID, req *sip.Request) (leg Leg, answer string, failed outcome) {
	d := c.d
	leg, err := c.e.legs.NewLeg(string(conv)+"/visitor/sip", LegEvents{Up: c.legUp, Ended: c.legEnded, DTMF: c.dtmf})
	if err != nil {
		d.log.Warn("no RTP leg", "err", err)
		d.hangUp(d.ctx, &hangup{503, "no_leg"})
		return nil, "", classOf(503)
	}
	c.mu.Lock()
	c.leg = leg
	c.mu.Unlock()
	answer, err = leg.Answer(string(req.Body()))
	if err != nil {
		d.log.Info("SDP offer refused", "err", err)
		leg.Close()
		d.hangUp(d.ctx, &hangup{488, "bad_sdp"})
		return nil, "", classOf(488)
	}
	return leg, answer, ""
}

// runMenu: a number with a menu. The call is answered at once and the
// caller's leg plays the menu before any conversation exists; the key
// pressed picks the queue, then the call is queued as any other (see
// menu.go).
func (c *inboundCall) runMenu(req *sip.Request, name string, attrs map[string]string) outcome {
	e, d := c.e, c.d
	conv := c.id
	leg, answer, failed := c.openLeg(conv, req)
	if leg == nil {
		return failed
	}
	if err := d.answer([]byte(answer)); err != nil {
		leg.Close()
		return c.answerFailed(err)
	}
	c.mu.Lock()
	c.inMenu = true
	c.mu.Unlock()
	r, ok := c.menuChoice(leg)
	c.mu.Lock()
	c.inMenu = false
	c.mu.Unlock()
	if !ok || !c.setConv(conv) {
		leg.Close() // the caller hung up in the menu
		return classOf(200)
	}
	attrs["menu_queue"] = string(r.Queue)
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	if _, err := e.calls.StartCaller(ctx, Caller{ID: conv, Queue: r.Queue, Skills: r.Skills, Priority: r.Priority, Name: name, Attributes: attrs}); err != nil {
		d.log.Info("phone call not queued", "queue", r.Queue, "err", err)
		c.mu.Lock()
		c.conv = ""
		c.mu.Unlock()
		e.mu.Lock()
		delete(e.byConv, conv)
		e.mu.Unlock()
		leg.Close()
		d.hangUp(e.ctx, &hangup{480, "not_queued"})
		return classOf(200)
	}
	rep, err := e.calls.AddLeg(ctx, conv, &callLeg{Leg: leg, c: c})
	if err != nil {
		d.log.Info("phone leg not added to the call", "err", err)
		d.hangUp(e.ctx, &hangup{480, "no_call"})
		return classOf(200)
	}
	c.legUp() // answered: the caller has our SDP
	c.setReports(rep)
	e.goBG(c.announce)
	return classOf(200)
}

// finalOf is the final answer an INVITE got when its dialog ended early.
func (c *inboundCall) finalOf(err error) int {
	var h *hangup
	if errors.As(err, &h) && h.code >= 300 {
		return h.code
	}
	return 480
}

func (c *inboundCall) setReports(rep signaling.LegReports) {
	c.mu.Lock()
	c.rep, c.repSet = rep, true
	up, end := c.pendUp, c.pendEnd
	c.mu.Unlock()
	if up {
		rep.Up()
	}
	if end != "" {
		rep.Ended(end)
	}
}

// legUp: media flows from the caller.
func (c *inboundCall) legUp() {
	c.mu.Lock()
	if !c.repSet {
		c.pendUp = true
		c.mu.Unlock()
		return
	}
	rep := c.rep
	c.mu.Unlock()
	c.e.goBG(rep.Up)
}

// legEnded: the leg stopped by itself (media timeout): the call decides.
func (c *inboundCall) legEnded(cause string) {
	c.mu.Lock()
	if !c.repSet {
		c.pendEnd = cause
		c.mu.Unlock()
		return
	}
	rep := c.rep
	c.mu.Unlock()
	c.e.goBG(func() { rep.Ended(cause) })
}

// dtmf: a digit from the caller (RFC 4733), passed to Hooks.DTMF (menus
// plug in there).
func (c *inboundCall) dtmf(digit rune) {
	c.d.log.Debug("DTMF from the caller", "digit", string(digit))
	c.mu.Lock()
	menu := c.inMenu
	c.mu.Unlock()
	if menu {
		select {
		case c.digits <- digit:
		default:
		}
		return
	}
	if k := c.route.MessageKey; k != 0 && digit == k && c.e.cfg.AfterTone != nil {
		c.mu.Lock()
		// Only while queued (ringback), not on hold or in a transfer.
		waiting := c.toldTone && c.tone == callplan.Ringback && !c.recording && c.conv != ""
		if waiting {
			c.recording = true
		}
		c.mu.Unlock()
		if waiting {
			c.e.goBG(c.voiceMessage)
			return
		}
	}
	if f := c.e.hooks.DTMF; f != nil {
		c.mu.Lock()
		conv := c.conv
		c.mu.Unlock()
		f(conv, digit)
	}
}

// setConv records the call's conversation; false if the dialog ended
// meanwhile (then the caller's leaving is the caller's to record).
func (c *inboundCall) setConv(conv store.ConversationID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d.ctx.Err() != nil {
		return false
	}
	c.conv = conv
	c.e.mu.Lock()
	c.e.byConv[conv] = c
	c.e.mu.Unlock()
	return true
}

// left records that the caller left conv (in the background).
func (c *inboundCall) left(conv store.ConversationID) {
	c.e.goBG(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.e.calls.CallerLeft(ctx, conv); err != nil {
			c.d.log.Warn("caller's leaving not recorded", "err", err)
		}
	})
}

// bridged: the call plan bridged the caller to someone (an agent took
// the call): answer it now if it waited in early media.
func (c *inboundCall) bridged() {
	c.mu.Lock()
	c.toldTone = false
	c.mu.Unlock()
	c.answerOne.Do(func() { close(c.answerNow) })
}

// dialogEnded: the dialog is over, whoever ended it. Unless the call
// ended it, the caller has left the conversation (an abandon while
// queued); the leg's metrics are taken.
func (c *inboundCall) dialogEnded(cause *hangup) {
	c.e.m.CallsActive.WithLabelValues("inbound").Dec()
	c.d.log.Info("phone call ended", "cause", cause.cause)
	c.mu.Lock()
	leg, conv := c.leg, c.conv
	c.mu.Unlock()
	if conv != "" {
		c.e.mu.Lock()
		if c.e.byConv[conv] == c {
			delete(c.e.byConv, conv)
		}
		c.e.mu.Unlock()
	}
	if leg != nil {
		loss, jitter := leg.Stats()
		c.e.m.RTPLoss.Observe(loss)
		c.e.m.RTPJitter.Observe(jitter.Seconds())
	}
	// A dialog the call ended (the agent ended, the queue gave up) needs
	// no leaving: the conversation is ending already, and telling it the
	// caller left would race the agent's own end.
	if conv != "" && cause != errCallEnded {
		c.left(conv)
	}
}

// callLeg is the caller's leg as the call holds it: the RTP leg, plus the
// SIP side of what the call asks (a bridge answers an early-media call; a
// close hangs up).
type callLeg struct {
	Leg
	c *inboundCall
}

func (l *callLeg) Bridge(other callplan.Leg) {
	if l.c.isRecording() {
		return
	}
	l.c.bridged()
	l.Leg.Bridge(other)
}

// Hear: the plan's tone; announcements go back to it after their clip.
func (l *callLeg) Hear(t callplan.Tone) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.c.recording {
		return
	}
	l.c.tone, l.c.toldTone = t, true
	l.Leg.Hear(t)
}

func (c *inboundCall) isRecording() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recording
}

// MediaLeg is asked for by the other leg when the plan bridges it to
// this one (the plan calls Bridge on one leg of a pair only, the agent's
// when the agent sorts first): the caller is being bridged.
func (l *callLeg) MediaLeg() *media.Leg {
	l.c.bridged()
	return l.Leg.MediaLeg()
}

// Close: the call is over for the caller: hang up (BYE, or a final
// answer if not answered yet), then close the media.
func (l *callLeg) Close() {
	c := l.c
	c.mu.Lock()
	rec := c.recording
	c.mu.Unlock()
	if rec {
		// The caller leaves a message: the edge keeps the leg.
		c.detachOnce.Do(func() { close(c.detached) })
		return
	}
	l.Leg.Close()
	c.e.goBG(func() { c.d.hangUp(c.e.ctx, errCallEnded) })
}

// reinvite handles a re-INVITE: a new offer; sendonly or inactive puts
// the call on hold, sendrecv again resumes it.
func (e *Edge) reinvite(d *dialog, req *sip.Request, tx sip.ServerTransaction) outcome {
	c, leg := d.callOf()
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	if leg == nil || st != confirmed {
		return e.respond(tx, req, 491, "")
	}
	if len(req.Body()) == 0 {
		return e.respond(tx, req, 488, "An SDP offer is required", sip.NewHeader("Accept", "application/sdp"))
	}
	answer, err := leg.Answer(string(req.Body()))
	if err != nil {
		return e.respond(tx, req, 488, "")
	}
	res := d.responseTo(req, 200, "", []byte(answer))
	if err := tx.Respond(res); err != nil {
		d.log.Debug("200 to a re-INVITE not sent", "err", err)
	}
	dir := leg.Direction()
	hold := dir == "sendonly" || dir == "inactive"
	c.mu.Lock()
	changed := hold != c.held
	c.held = hold
	c.mu.Unlock()
	if changed {
		e.goBG(func() {
			ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
			defer cancel()
			if err := e.calls.Hold(ctx, c.conv, hold); err != nil {
				d.log.Info("hold from the phone not applied", "hold", hold, "err", err)
			}
		})
	}
	return classOf(200)
}

// callOf is the dialog's call object and its leg, once it has one.
func (d *dialog) callOf() (*inboundCall, Leg) {
	c := d.c
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c, c.leg
}

// onAck: the ACK of a 2xx (ACKs of our non-2xx answers stay in their
// transaction).
func (e *Edge) onAck(req *sip.Request, _ sip.ServerTransaction) outcome {
	if d := e.dialogs.lookup(req); d != nil {
		d.ack()
	}
	return outcomeNone
}

// onBye: the caller hangs up.
func (e *Edge) onBye(req *sip.Request, tx sip.ServerTransaction) outcome {
	d := e.dialogs.lookup(req)
	if d == nil {
		if c := e.phoneCallOf(req); c != nil {
			return e.agentBye(c, req, tx)
		}
		if e.cfg.DropUnknown && !e.known(req) {
			return outcomeDropped
		}
		return e.respond(tx, req, 481, "")
	}
	out := e.respond(tx, req, 200, "")
	d.end(errCallerBye)
	return out
}

// onCancel: a CANCEL that matched no INVITE transaction (those that match
// are answered by the transaction layer: 200, then 487 for the INVITE).
func (e *Edge) onCancel(req *sip.Request, tx sip.ServerTransaction) outcome {
	if e.cfg.DropUnknown && !e.known(req) {
		return outcomeDropped
	}
	return e.respond(tx, req, 481, "")
}

// callerID reads the caller's number and name from P-Asserted-Identity,
// else From, cleaned of anything that must not go back into a header.
func callerID(req *sip.Request) (number, name string) {
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		var u sip.Uri
		v := strings.TrimSpace(h.Value())
		disp := ""
		if i := strings.IndexByte(v, '<'); i >= 0 {
			disp = strings.Trim(strings.TrimSpace(v[:i]), `"`)
			v = strings.TrimSuffix(v[i+1:], ">")
			if j := strings.IndexByte(v, '>'); j >= 0 {
				v = v[:j]
			}
		}
		if err := sip.ParseUri(v, &u); err == nil {
			num := u.User
			if num == "" && u.Scheme == "tel" {
				num = u.Host
			}
			if num != "" {
				return clean(num, 32), clean(disp, 64)
			}
		}
	}
	if f := req.From(); f != nil {
		return clean(f.Address.User, 32), clean(f.DisplayName, 64)
	}
	return "", ""
}

// clean drops control characters (CR, LF, NUL...), quotes, angle
// brackets and backslashes, trims, and cuts to max bytes: what is left
// may go into a header or a desk's context.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '<' || r == '>' || r == '\\' || r == utf8.RuneError || r == 0x2028 || r == 0x2029 {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	for len(s) > max {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}
