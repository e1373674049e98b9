package app

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

const alicePhonePass = "alice's long phone secret"

// phoneAgentConfig: SIP on, alice takes calls on a SIP phone
// (alice-phone), bob in the browser.
func phoneAgentConfig(t *testing.T) config.Config {
	cfg := sipConfig(t)
	for _, d := range DemoAgents() {
		if d.ID == "alice" {
			d.SIPUsername, d.SIPPassword, d.VoiceDevice = "alice-phone", alicePhonePass, config.VoiceSIP
			cfg.Agents = append(cfg.Agents, d)
		}
	}
	return cfg
}

// deskPhone is an agent's SIP phone in the test: a sipgo UAS that
// registers with digest through the edge and answers, refuses or lets
// ring the INVITEs it gets, sending tagged RTP once it answers.
type deskPhone struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	cli    *sipgo.Client
	dsc    *sipgo.DialogServerCache
	tr     string
	local  netip.AddrPort
	edge   netip.AddrPort
	rtp    *rtpPeer
	tag    byte
	mu     sync.Mutex
	mode   int // 200: answer; 486, 603: refuse; 0: let it ring
	sess   *sipgo.DialogServerSession
	invite *sip.Request

	invites  chan *sip.Request
	answered chan *sipgo.DialogServerSession
	cancels  chan struct{}
	byes     chan *sip.Request
	notifies chan *sip.Request
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func newDeskPhone(t *testing.T, a *App, transport string, tag byte) *deskPhone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("desk-phone"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	p := &deskPhone{t: t, ua: ua, tr: transport, edge: sipAddr(t, a, transport), rtp: newRTPPeer(t), tag: tag, mode: 200,
		invites: make(chan *sip.Request, 8), answered: make(chan *sipgo.DialogServerSession, 2), cancels: make(chan struct{}, 8),
		byes: make(chan *sip.Request, 4), notifies: make(chan *sip.Request, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	var local string
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		local = pc.LocalAddr().String()
		p.wg.Add(1)
		go func() { defer p.wg.Done(); srv.ServeUDP(pc) }()
		context.AfterFunc(ctx, func() { pc.Close() })
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		local = ln.Addr().String()
		p.wg.Add(1)
		go func() { defer p.wg.Done(); srv.ServeTCP(ln) }()
		context.AfterFunc(ctx, func() { ln.Close() })
	}
	p.local = netip.MustParseAddrPort(local)
	p.cli, err = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(p.local.Port())))
	if err != nil {
		t.Fatal(err)
	}
	p.dsc = sipgo.NewDialogServerCache(p.cli, p.contact())
	srv.OnInvite(p.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { p.dsc.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := p.dsc.ReadBye(req, tx); err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 481, "No such call", nil))
		}
		p.byes <- req
	})
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		p.notifies <- req
	})
	t.Cleanup(func() {
		cancel()
		ua.Close()
		p.wg.Wait()
	})
	return p
}

func (p *deskPhone) contact() sip.ContactHeader {
	c := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice-phone", Host: "127.0.0.1", Port: int(p.local.Port())}}
	if p.tr == "tcp" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", "tcp")
	}
	return c
}

func (p *deskPhone) setMode(m int) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

// register registers the phone as user with digest.
func (p *deskPhone) register(user, password string) {
	p.t.Helper()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(p.edge.Port())})
	req.SetTransport(strings.ToUpper(p.tr))
	aor := sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}
	req.AppendHeader(&sip.ToHeader{Address: aor})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	c := p.contact()
	req.AppendHeader(&c)
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	ctx, cancel := context.WithTimeout(p.t.Context(), 10*time.Second)
	defer cancel()
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		p.t.Fatal(err)
	}
	if res.StatusCode == 401 {
		if res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password}); err != nil {
			p.t.Fatal(err)
		}
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("REGISTER: %s", res.StartLine())
	}
}

func (p *deskPhone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	sess, err := p.dsc.ReadInvite(req, tx)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad", nil))
		return
	}
	p.invites <- req
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	switch mode {
	case 486, 603:
		sess.Respond(mode, "No", nil)
		return
	}
	sess.Respond(180, "Ringing", nil)
	if mode == 0 {
		<-tx.Done() // CANCEL
		p.cancels <- struct{}{}
		return
	}
	if err := sess.RespondSDP([]byte(p.rtp.offer("sendrecv"))); err != nil {
		// CANCELled first (another phone answered): fine.
		p.cancels <- struct{}{}
		return
	}
	p.mu.Lock()
	p.sess, p.invite = sess, req
	p.mu.Unlock()
	p.rtp.send(string(req.Body()), p.tag)
	p.answered <- sess
}

// waitInvite returns the next INVITE the phone got.
func (p *deskPhone) waitInvite() *sip.Request {
	p.t.Helper()
	select {
	case r := <-p.invites:
		return r
	case <-time.After(15 * time.Second):
		p.t.Fatal("the phone did not ring")
		return nil
	}
}

func (p *deskPhone) waitAnswered() *sipgo.DialogServerSession {
	p.t.Helper()
	select {
	case s := <-p.answered:
		return s
	case <-time.After(15 * time.Second):
		p.t.Fatal("the phone did not answer")
		return nil
	}
}

func (p *deskPhone) waitBye(what string) {
	p.t.Helper()
	select {
	case <-p.byes:
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s: no BYE at the phone", what)
	}
}

// reinvite sends a new offer with dir from the answered phone.
func (p *deskPhone) reinvite(dir string) {
	p.t.Helper()
	p.mu.Lock()
	sess := p.sess
	p.mu.Unlock()
	req := sip.NewRequest(sip.INVITE, sess.InviteRequest.Contact().Address)
	req.SetBody([]byte(p.rtp.offer(dir)))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ctx, cancel := context.WithTimeout(p.t.Context(), 10*time.Second)
	defer cancel()
	res, err := sess.Do(ctx, req)
	if err != nil || res.StatusCode != 200 {
		p.t.Fatalf("re-INVITE %s: %v %v", dir, res, err)
	}
	ack := sip.NewRequest(sip.ACK, sess.InviteRequest.Contact().Address)
	ack.AppendHeader(sip.HeaderClone(res.CSeq()))
	ack.CSeq().MethodName = sip.ACK
	if err := sess.WriteRequest(ack); err != nil {
		p.t.Fatal(err)
	}
}

// refer sends REFER to target from the answered phone and returns the
// final status.
func (p *deskPhone) refer(target string) int {
	p.t.Helper()
	p.mu.Lock()
	sess := p.sess
	p.mu.Unlock()
	req := sip.NewRequest(sip.REFER, sess.InviteRequest.Contact().Address)
	req.AppendHeader(sip.NewHeader("Refer-To", "<sip:"+target+"@127.0.0.1>"))
	ctx, cancel := context.WithTimeout(p.t.Context(), 10*time.Second)
	defer cancel()
	res, err := sess.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("REFER: %v", err)
	}
	return res.StatusCode
}

// hangUp: the agent hangs the phone up.
func (p *deskPhone) hangUp() {
	p.t.Helper()
	p.mu.Lock()
	sess := p.sess
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.t.Context(), 10*time.Second)
	defer cancel()
	if err := sess.Bye(ctx); err != nil {
		p.t.Fatalf("BYE from the phone: %v", err)
	}
}

func convStatus(t *testing.T, a *App, conv string) string {
	rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
	if err != nil {
		t.Fatal(err)
	}
	return rec.Status
}

// A phone caller reaches an agent on a SIP phone: the phone rings with the
// caller's name and number, answering is alice's accept, RTP flows both
// ways unchanged through contactd, hold from the phone is hold, and the
// agent hanging up ends the call (the conversation ends, the caller gets
// a BYE).
func TestAPhoneCallerReachesAnAgentOnASIPPhone(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run("over "+tr, func(t *testing.T) {
			a, _, alice := sipWorld(t, phoneAgentConfig(t))
			baseline := runtime.NumGoroutine()
			phone := newDeskPhone(t, a, tr, 0xC3)
			phone.register("alice-phone", alicePhonePass)

			ph := newCaller(t, a, "udp")
			pai := sip.NewHeader("P-Asserted-Identity", `"Pat \"The\" Caller" <sip:+15557654321@127.0.0.1>`)
			call := ph.dial(t.Context(), numEarly, pai)
			// Early media; the phone may answer before the 183 is read.
			call.rtp.send(call.sdp(t), 0xA1)

			inv := phone.waitInvite()
			from := inv.From()
			if from.Address.User != "+15557654321" || !strings.HasPrefix(from.Value(), `"Pat The Caller" <`) {
				t.Fatalf("the phone shows From %q, want the caller's name and number", from.Value())
			}
			offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
			conv := offer["conversation"].(string)
			phone.waitAnswered()
			alice.waitFor("assigned", map[string]any{"conversation": conv})
			call.established(t)
			alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})

			phone.rtp.hears("the agent's phone hears the caller, payloads unchanged", 0xA1, 25)
			call.rtp.hears("the caller hears the agent's phone, payloads unchanged", 0xC3, 25)
			if n := metricValues(t, a)["cc_sip_calls_active/outbound"]; n != 1 {
				t.Fatalf("cc_sip_calls_active{direction=outbound} = %v during the call", n)
			}

			// Hold from the phone: the caller hears music; resume.
			phone.reinvite("sendonly")
			alice.waitFor("call", map[string]any{"conversation": conv, "state": "held"})
			call.rtp.hears("music on hold", 0, 25)
			phone.reinvite("sendrecv")
			alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
			call.rtp.hears("the agent again", 0xC3, 25)

			// The agent hangs up: the caller gets a BYE, the conversation
			// ends and alice goes to wrap-up.
			phone.hangUp()
			select {
			case <-ph.byes:
			case <-time.After(10 * time.Second):
				t.Fatal("no BYE at the caller after the agent hung up")
			}
			waitUntil(t, "the conversation ended", func() bool { return convStatus(t, a, conv) == store.ConvEnded })
			waitUntil(t, "no dialog and no call left", func() bool {
				return a.sip.Dialogs() == 0 && a.sip.AgentCalls() == 0 && a.media.Legs() == 0
			})
			waitUntil(t, "the outbound call counted out", func() bool {
				return metricValues(t, a)["cc_sip_calls_active/outbound"] == 0
			})
			call.rtp.close()
			phone.rtp.close()
			ph.ua.Close()
			phone.ua.Close()
			waitUntil(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline+5 })
		})
	}
}

// The phone refusing (486 Busy Here, 603 Decline) is alice's decline.
func TestAnAgentsPhoneThatRefusesDeclines(t *testing.T) {
	for _, code := range []int{486, 603} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			a, _, alice := sipWorld(t, phoneAgentConfig(t))
			phone := newDeskPhone(t, a, "udp", 0xC3)
			phone.register("alice-phone", alicePhonePass)
			phone.setMode(code)
			ph := newCaller(t, a, "udp")
			call := ph.dial(t.Context(), numEarly)
			call.waitCode(t, 183)
			phone.waitInvite()
			alice.waitFor("offer_ended", map[string]any{"reason": "declined"})
			waitUntil(t, "the agent's call gone", func() bool { return a.sip.AgentCalls() == 0 })
		})
	}
}

// A phone that rings past the offer timeout is a missed offer: its INVITE
// is CANCELled.
func TestAnAgentsPhoneThatRingsTooLongIsCancelled(t *testing.T) {
	cfg := phoneAgentConfig(t)
	cfg.Queues = SampleQueues()
	for i := range cfg.Queues {
		cfg.Queues[i].OfferTimeout = time.Second
	}
	a, _, alice := sipWorld(t, cfg)
	phone := newDeskPhone(t, a, "udp", 0xC3)
	phone.register("alice-phone", alicePhonePass)
	phone.setMode(0)
	ph := newCaller(t, a, "udp")
	call := ph.dial(t.Context(), numEarly)
	call.waitCode(t, 183)
	phone.waitInvite()
	alice.waitFor("offer_ended", map[string]any{"reason": string(routing.ReasonExpired)})
	select {
	case <-phone.cancels:
	case <-time.After(15 * time.Second):
		t.Fatal("the ringing phone got no CANCEL")
	}
	waitUntil(t, "the agent's call gone", func() bool { return a.sip.AgentCalls() == 0 })
}

// An agent on a SIP phone with no phone registered is set away (the
// offer goes to somebody else) instead of being offered calls that cannot
// ring.
func TestAnAgentWithNoPhoneRegisteredIsSetAway(t *testing.T) {
	a, _, alice := sipWorld(t, phoneAgentConfig(t))
	ph := newCaller(t, a, "udp")
	call := ph.dial(t.Context(), numEarly)
	call.waitCode(t, 183)
	alice.waitFor("offer_ended", map[string]any{"reason": "withdrawn"})
	waitUntil(t, "alice away", func() bool {
		var p routing.Presence
		var reason string
		a.Router().Query(t.Context(), func(e *routing.Engine) {
			for _, x := range e.AgentViews() {
				if x.ID == "alice" {
					p, reason = x.Presence, x.AwayReason
				}
			}
		})
		return p == routing.PresenceAway && reason == ReasonPhoneUnregistered
	})
}

// A web visitor (WebRTC) talks with an agent on a SIP phone; the desk's
// End hangs the phone up.
func TestAWebVisitorReachesAnAgentOnASIPPhone(t *testing.T) {
	a, base, alice := sipWorld(t, phoneAgentConfig(t))
	phone := newDeskPhone(t, a, "udp", 0xC3)
	phone.register("alice-phone", alicePhonePass)
	conv, token := visitorSessionOn(t, base, "sales", "Vera \"V\" Web\r\nX-Evil: 1", "voice")
	vis := visitor(t, base, token)
	v := joinCall(t, vis, conv, 0xA1)
	inv := phone.waitInvite()
	if !strings.HasPrefix(inv.From().Value(), `"Vera \"V\" Web X-Evil: 1" <sip:anonymous@`) || inv.GetHeader("X-Evil") != nil {
		t.Fatalf("From %q", inv.From().Value())
	}
	phone.waitAnswered()
	vis.waitFor("call", map[string]any{"state": "connected"})
	v.hears("the visitor hears the agent's phone, payloads unchanged", 0xC3, 25)
	// The desk shows the call but never opens a leg of its own.
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected", "needLeg": false})
	alice.mu.Lock()
	for _, m := range alice.msgs {
		if m["type"] == "call" && m["needLeg"] == true {
			t.Errorf("the desk of an agent on a phone was asked to open a leg: %v", m)
		}
	}
	alice.mu.Unlock()
	// Hold from the desk: the visitor hears music, the phone's leg stays.
	alice.must("hold", map[string]any{"conversation": conv})
	vis.waitFor("call", map[string]any{"state": "held"})
	v.hearsOnly("music on hold from the desk", 0, 30, 0xC3)
	alice.must("unhold", map[string]any{"conversation": conv})
	vis.waitFor("call", map[string]any{"state": "connected"})
	v.hears("the agent's phone again", 0xC3, 20)
	phone.rtp.hears("the agent's phone hears the visitor, payloads unchanged", 0xA1, 25)

	alice.must("end", map[string]any{"conversation": conv})
	phone.waitBye("the desk's End")
	vis.waitFor("call", map[string]any{"state": "ended"})
	v.p.Close()
	waitUntil(t, "no call left", func() bool { return a.sip.AgentCalls() == 0 && a.media.Legs() == 0 })
}

// REFER from the phone is a blind transfer: to bob (in the browser) and
// to a queue; an unknown target is refused.
func TestReferFromTheAgentsPhoneTransfers(t *testing.T) {
	a, base, alice, bob := chatWorld(t, phoneAgentConfig(t))
	_ = alice
	phone := newDeskPhone(t, a, "udp", 0xC3)
	phone.register("alice-phone", alicePhonePass)
	ph := newCaller(t, a, "udp")
	call := ph.dial(t.Context(), numAnswer)
	call.established(t)
	call.rtp.send(call.sdp(t), 0xA1)
	phone.waitInvite()
	phone.waitAnswered()
	call.rtp.hears("the caller hears the agent's phone", 0xC3, 20)

	if code := phone.refer("nobody-here"); code != 603 {
		t.Fatalf("REFER to nobody: %d, want 603", code)
	}
	// A REFER in alice's dialog from another device (not hers) is 403.
	other := newDeskPhone(t, a, "udp", 0xD4)
	if code := other.referAs(phone, "bob"); code != 403 {
		t.Fatalf("REFER from a device that is not the agent's: %d, want 403", code)
	}
	bob.must("presence", map[string]any{"presence": "available"})
	if code := phone.refer("bob"); code != 202 {
		t.Fatalf("REFER to bob: %d, want 202", code)
	}
	select {
	case n := <-phone.notifies:
		if !strings.Contains(string(n.Body()), "200") {
			t.Fatalf("NOTIFY: %q", n.Body())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no NOTIFY after the REFER")
	}
	phone.waitBye("after the transfer")
	offer := bob.waitFor("offer", map[string]any{"channel": "voice"})
	conv := offer["conversation"].(string)
	bob.must("accept", map[string]any{"interaction": conv})
	bob.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	b := joinCall(t, bob, conv, 0xB2)
	b.hears("bob hears the caller", 0xA1, 20)
	call.rtp.hears("the caller hears bob", 0xB2, 20)

	// Bob transfers back to alice: her phone rings again and takes over.
	bob.must("transfer", map[string]any{"conversation": conv, "toAgent": "alice", "mode": "blind"})
	phone.waitInvite()
	phone.waitAnswered()
	call.rtp.hears("the caller hears alice's phone again", 0xC3, 20)
	b.p.Close()

	// REFER to a queue: support (bob has its skill) offers it to bob.
	if code := phone.refer("support"); code != 202 {
		t.Fatalf("REFER to the support queue: %d, want 202", code)
	}
	phone.waitBye("after the transfer to a queue")
	bob.waitFor("offer", map[string]any{"conversation": conv, "queue": "support"})
	_ = base
}

// referAs sends a REFER within p's dialog, from this phone's socket.
func (o *deskPhone) referAs(p *deskPhone, target string) int {
	o.t.Helper()
	p.mu.Lock()
	sess := p.sess
	p.mu.Unlock()
	inv, res := sess.InviteRequest, sess.InviteResponse
	req := sip.NewRequest(sip.REFER, inv.Contact().Address)
	from := res.To().AsFrom()
	req.AppendHeader(&from)
	to := inv.From().AsTo()
	req.AppendHeader(&to)
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 9000, MethodName: sip.REFER})
	req.AppendHeader(sip.NewHeader("Refer-To", "<sip:"+target+"@127.0.0.1>"))
	c := o.contact()
	req.AppendHeader(&c)
	req.SetDestination(o.edge.String())
	ctx, cancel := context.WithTimeout(o.t.Context(), 10*time.Second)
	defer cancel()
	r, err := o.cli.Do(ctx, req)
	if err != nil {
		o.t.Fatalf("REFER: %v", err)
	}
	return r.StatusCode
}

// An agent with two phones: both ring, the first to answer wins; the
// other is CANCELled while it rings, or (answering too) ACKed and hung up.
func TestTheFirstOfTheAgentsPhonesToAnswerWins(t *testing.T) {
	for _, both := range []bool{false, true} {
		t.Run(map[bool]string{false: "the other rings", true: "both answer"}[both], func(t *testing.T) {
			a, _, alice := sipWorld(t, phoneAgentConfig(t))
			p1 := newDeskPhone(t, a, "udp", 0xC3)
			p2 := newDeskPhone(t, a, "tcp", 0xD4)
			p1.register("alice-phone", alicePhonePass)
			p2.register("alice-phone", alicePhonePass)
			if !both {
				p2.setMode(0)
			}
			ph := newCaller(t, a, "udp")
			call := ph.dial(t.Context(), numEarly)
			// Early media; the phone may answer before the 183 is read.
			call.rtp.send(call.sdp(t), 0xA1)
			p1.waitInvite()
			p2.waitInvite()
			offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
			conv := offer["conversation"].(string)
			alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
			call.established(t)
			// Exactly one phone keeps the call: the other was CANCELled
			// or got a BYE.
			var winner, loser *deskPhone
			select {
			case <-p2.cancels:
				winner, loser = p1, p2
			case <-p2.byes:
				winner, loser = p1, p2
			case <-p1.cancels:
				winner, loser = p2, p1
			case <-p1.byes:
				winner, loser = p2, p1
			case <-time.After(15 * time.Second):
				t.Fatal("neither phone was CANCELled or hung up")
			}
			if !both && winner != p1 {
				t.Fatal("the phone that only rang won")
			}
			call.rtp.hears("the caller hears the phone that won", winner.tag, 25)
			winner.rtp.hears("the phone that won hears the caller", 0xA1, 25)
			if n := call.rtp.count(loser.tag); n > 2 {
				t.Fatalf("the caller heard %d packets of the phone that lost", n)
			}
			alice.must("end", map[string]any{"conversation": conv})
			winner.waitBye("the desk's End")
			waitUntil(t, "no call left", func() bool { return a.sip.AgentCalls() == 0 && a.sip.Dialogs() == 0 })
		})
	}
}

// sippAgent registers alice's phone from a free UDP port (through the Go
// phone, with digest), frees the port and starts a sipp uas there
// (testdata/sipp/uas_agent.xml, -rtp_echo): contactd's INVITE reaches
// sipp at the registered address. It returns sipp's exit.
func sippAgent(t *testing.T, a *App, ctx context.Context) (<-chan error, *strings.Builder) {
	t.Helper()
	sipp := sippPath(t)
	p := newDeskPhone(t, a, "udp", 0xC3)
	p.register("alice-phone", alicePhonePass)
	port := p.local.Port()
	p.cancel()
	p.ua.Close()
	p.wg.Wait()
	cmd := exec.CommandContext(ctx, sipp, "-sf", filepath.Join("testdata", "sipp", "uas_agent.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(int(port)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDPPort(t)),
		"-rtp_echo", "-m", "1", "-nostdin", "-timeout", "80s", "-timeout_error")
	out := &strings.Builder{}
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{out, &mu}, lockedWriter{out, &mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return done, out
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func waitSipp(t *testing.T, what string, done <-chan error, out *strings.Builder) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: sipp: %v\n%s", what, err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: sipp did not finish\n%s", what, out.String())
	}
}

// sipp as an agent's phone: a Go caller with RTP reaches it through the
// queue and hears its own audio echoed by sipp, unchanged; then a sipp
// caller (uac_queue.xml) reaches a sipp agent (uas_agent.xml) and the
// desk's End hangs both up.
func TestASippAgentPhoneAnswersThroughTheQueue(t *testing.T) {
	sipp := sippPath(t)
	t.Run("Go caller", func(t *testing.T) {
		a, _, alice := sipWorld(t, phoneAgentConfig(t))
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		done, out := sippAgent(t, a, ctx)
		ph := newCaller(t, a, "udp")
		call := ph.dial(t.Context(), numAnswer)
		call.established(t)
		call.rtp.send(call.sdp(t), 0xA1)
		offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
		conv := offer["conversation"].(string)
		alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
		call.rtp.hears("the caller hears its audio echoed by the sipp phone, unchanged", 0xA1, 25)
		alice.must("end", map[string]any{"conversation": conv})
		waitSipp(t, "the desk's End", done, out)
		waitUntil(t, "no call left", func() bool { return a.sip.AgentCalls() == 0 && a.sip.Dialogs() == 0 && a.media.Legs() == 0 })
	})
	t.Run("sipp caller", func(t *testing.T) {
		a, _, alice := sipWorld(t, phoneAgentConfig(t))
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		done, out := sippAgent(t, a, ctx)
		to := sipAddr(t, a, "udp")
		caller := exec.CommandContext(ctx, sipp, to.String(),
			"-sf", filepath.Join("testdata", "sipp", "uac_queue.xml"), "-s", numEarly,
			"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDPPort(t)),
			"-m", "1", "-l", "1", "-nostdin", "-timeout", "80s", "-timeout_error")
		cout := &strings.Builder{}
		var mu sync.Mutex
		caller.Stdout, caller.Stderr = lockedWriter{cout, &mu}, lockedWriter{cout, &mu}
		if err := caller.Start(); err != nil {
			t.Fatal(err)
		}
		cdone := make(chan error, 1)
		go func() { cdone <- caller.Wait() }()
		offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
		conv := offer["conversation"].(string)
		alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
		alice.must("end", map[string]any{"conversation": conv})
		waitSipp(t, "the sipp agent after the desk's End", done, out)
		waitSipp(t, "the sipp caller after the desk's End", cdone, cout)
		waitUntil(t, "no call left", func() bool { return a.sip.AgentCalls() == 0 && a.sip.Dialogs() == 0 && a.media.Legs() == 0 })
	})
}

// A warm transfer from an agent on a phone to an agent in the browser: the
// caller hears music while they consult (the phone and bob hear each
// other), then is bridged to bob; alice's phone gets a BYE.
func TestAWarmTransferFromAPhoneAgentToTheBrowser(t *testing.T) {
	a, _, alice, bob := chatWorld(t, phoneAgentConfig(t))
	phone := newDeskPhone(t, a, "udp", 0xC3)
	phone.register("alice-phone", alicePhonePass)
	ph := newCaller(t, a, "udp")
	call := ph.dial(t.Context(), numAnswer)
	call.established(t)
	call.rtp.send(call.sdp(t), 0xA1)
	phone.waitInvite()
	phone.waitAnswered()
	offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
	conv := offer["conversation"].(string)
	call.rtp.hears("the caller hears alice's phone", 0xC3, 20)

	bob.must("presence", map[string]any{"presence": "available"})
	alice.must("transfer", map[string]any{"conversation": conv, "toAgent": "bob", "mode": "warm"})
	bob.waitFor("offer", map[string]any{"conversation": conv})
	bob.must("accept", map[string]any{"interaction": conv})
	bob.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	b := joinCall(t, bob, conv, 0xB2)
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "consult"})
	call.rtp.hears("music for the caller during the consultation", 0, 30)
	phone.rtp.hears("alice's phone hears bob", 0xB2, 20)
	b.hears("bob hears alice's phone", 0xC3, 20)

	alice.must("transfer_complete", map[string]any{"conversation": conv})
	phone.waitBye("the transfer completed")
	call.rtp.hears("the caller hears bob", 0xB2, 30)
	b.hears("bob hears the caller", 0xA1, 30)
	bob.must("end", map[string]any{"conversation": conv})
	b.p.Close()
	waitUntil(t, "no call left", func() bool { return a.sip.AgentCalls() == 0 && a.sip.Dialogs() == 0 && a.media.Legs() == 0 })
}
