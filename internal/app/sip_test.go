package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
	"github.com/contactd/contactd/routing"
	sipedge "github.com/contactd/contactd/signaling/sip"
)

// The numbers of the test trunk: one answered with early media, one at
// once.
const (
	numEarly  = "+15550100"
	numAnswer = "+15550200"
)

// sipConfig turns SIP on at 127.0.0.1:0 with a trunk from 127.0.0.1.
func sipConfig(t *testing.T) config.Config {
	cfg := testConfig(t, "")
	cfg.SIPListen = "udp://127.0.0.1:0,tcp://127.0.0.1:0"
	cfg.Trunks = []config.Trunk{{Name: "carrier", Sources: []string{"127.0.0.1/32"}, Numbers: []config.TrunkNumber{
		{Number: numEarly, Queue: "sales", Answer: config.AnswerEarlyMedia},
		{Number: numAnswer, Queue: "sales", Answer: config.AnswerAnswer},
	}}}
	return cfg
}

// sipAddr is the app's SIP address for a transport.
func sipAddr(t *testing.T, a *App, transport string) netip.AddrPort {
	t.Helper()
	for _, l := range a.sip.Addrs() {
		if l.Transport == transport {
			return netip.MustParseAddrPort(l.Addr)
		}
	}
	t.Fatalf("SIP does not listen on %s", transport)
	return netip.AddrPort{}
}

// rtpPeer is the phone's audio: plain RTP (PCMU) from a UDP socket,
// tagged as the browser peers' audio is, and what it hears sorted by tag.
type rtpPeer struct {
	t    *testing.T
	conn *net.UDPConn
	mu   sync.Mutex
	from map[byte]int
	bad  []string
	dtmf int
	sent atomic.Int64
	// sendStop stops the sender.
	sendStop atomic.Bool
	more     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newRTPPeer(t *testing.T) *rtpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{t: t, conn: c, from: map[byte]int{}, more: make(chan struct{}, 1), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.read()
	t.Cleanup(p.close)
	return p
}

func (p *rtpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *rtpPeer) offer(dir string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(p.port()) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=" + dir + "\r\n"
}

func (p *rtpPeer) read() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		var pk rtp.Packet
		if pk.Unmarshal(buf[:n]) != nil {
			continue
		}
		p.mu.Lock()
		if pk.PayloadType == 101 {
			p.dtmf++
		} else {
			k := byte(0)
			if pl := pk.Payload; len(pl) == mediatest.FrameSize && tags[pl[0]] && pl[3] == pl[0] && pl[6] == pl[0] {
				k = pl[0]
				for _, b := range pl[3:] {
					if b != k {
						p.bad = append(p.bad, fmt.Sprintf("payload from %x changed on the way: % x", k, pl[:8]))
						break
					}
				}
			}
			p.from[k]++
		}
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
}

// send sends tagged PCMU every 20 ms to the address of the SDP answer.
func (p *rtpPeer) send(answer string, tag byte) {
	p.t.Helper()
	to := sdpAddr(p.t, answer)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x5151}, Payload: make([]byte, mediatest.FrameSize)}
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			if p.sendStop.Load() {
				return
			}
			pk.SequenceNumber++
			pk.Timestamp += 160
			tagged(tag)(pk.SequenceNumber, pk.Payload)
			b, _ := pk.Marshal()
			p.conn.WriteToUDP(b, to)
			p.sent.Add(1)
		}
	}()
}

// stopSending stops the audio (the socket stays open).
func (p *rtpPeer) stopSending() {
	p.sendStop.Store(true)
}

// sends waits until n more packets were sent.
func (p *rtpPeer) sends(t *testing.T, n int64) {
	t.Helper()
	want := p.sent.Load() + n
	waitUntil(t, "the phone sent more", func() bool { return p.sent.Load() >= want })
}

func (p *rtpPeer) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.conn.Close()
	p.wg.Wait()
}

func (p *rtpPeer) count(tag byte) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bad) > 0 {
		p.t.Fatal(p.bad[0])
	}
	return p.from[tag]
}

// hears waits until n more packets from tag arrived.
func (p *rtpPeer) hears(what string, tag byte, n int) {
	p.t.Helper()
	want := p.count(tag) + n
	deadline := time.After(10 * time.Second)
	for p.count(tag) < want {
		select {
		case <-p.more:
		case <-deadline:
			p.mu.Lock()
			defer p.mu.Unlock()
			p.t.Fatalf("%s: the phone heard %v, want %d packets from %x", what, p.from, want, tag)
		}
	}
}

// sdpAddr is the RTP address of an SDP answer.
func sdpAddr(t *testing.T, sdp string) *net.UDPAddr {
	t.Helper()
	var ip, port string
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			ip = v
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok {
			port = strings.Fields(v)[0]
		}
	}
	a, err := net.ResolveUDPAddr("udp", net.JoinHostPort(ip, port))
	if err != nil {
		t.Fatalf("no RTP address in the answer %q: %v", sdp, err)
	}
	return a
}

// caller is a phone calling through the trunk: a sipgo user agent that
// listens (the edge's BYE comes to it) and sends from its listener.
type caller struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	cli    *sipgo.Client
	dc     *sipgo.DialogClientCache
	tr     string
	to     netip.AddrPort
	byes   chan *sip.Request
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newCaller(t *testing.T, a *App, transport string) *caller {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-phone"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	c := &caller{t: t, ua: ua, tr: transport, to: sipAddr(t, a, transport), byes: make(chan *sip.Request, 4)}
	var local string
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		local = pc.LocalAddr().String()
		c.wg.Add(1)
		go func() { defer c.wg.Done(); srv.ServeUDP(pc) }()
		context.AfterFunc(ctx, func() { pc.Close() })
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		local = ln.Addr().String()
		c.wg.Add(1)
		go func() { defer c.wg.Done(); srv.ServeTCP(ln) }()
		context.AfterFunc(ctx, func() { ln.Close() })
	}
	lap := netip.MustParseAddrPort(local)
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(lap.Port())))
	if err != nil {
		t.Fatal(err)
	}
	c.cli = cli
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "phone", Host: "127.0.0.1", Port: int(lap.Port())}}
	if transport == "tcp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", "tcp")
	}
	c.dc = sipgo.NewDialogClientCache(cli, contact)
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := c.dc.ReadBye(req, tx); err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 481, "No such call", nil))
		}
		select {
		case c.byes <- req:
		default:
		}
	})
	t.Cleanup(func() {
		cancel()
		ua.Close()
		c.wg.Wait()
	})
	return c
}

// invite calls number with sdp and returns the dialog.
func (c *caller) invite(ctx context.Context, number, sdp string, hdrs ...sip.Header) *sipgo.DialogClientSession {
	c.t.Helper()
	to := sip.Uri{Scheme: "sip", User: number, Host: c.to.Addr().String(), Port: int(c.to.Port())}
	if c.tr == "tcp" {
		to.UriParams = sip.NewParams()
		to.UriParams.Add("transport", "tcp")
	}
	hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	s, err := c.dc.Invite(ctx, to, []byte(sdp), hdrs...)
	if err != nil {
		c.t.Fatalf("INVITE: %v", err)
	}
	return s
}

// phoneCall is a call from a caller: its dialog, its audio, the answer.
type phoneCall struct {
	s      *sipgo.DialogClientSession
	rtp    *rtpPeer
	codes  chan int
	answer chan string // the SDP of the 183 or the 200
	done   chan error  // WaitAnswer's result
}

// dial calls number and waits for its answer asynchronously.
func (c *caller) dial(ctx context.Context, number string, hdrs ...sip.Header) *phoneCall {
	c.t.Helper()
	pc := &phoneCall{rtp: newRTPPeer(c.t), codes: make(chan int, 8), answer: make(chan string, 2), done: make(chan error, 1)}
	pc.s = c.invite(ctx, number, pc.rtp.offer("sendrecv"), hdrs...)
	go func() {
		pc.done <- pc.s.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			pc.codes <- res.StatusCode
			if len(res.Body()) > 0 && (res.StatusCode == 183 || res.StatusCode == 200) {
				select {
				case pc.answer <- string(res.Body()):
				default:
				}
			}
			return nil
		}})
	}()
	return pc
}

// code waits for the next status the call gets.
func (pc *phoneCall) code(t *testing.T) int {
	t.Helper()
	select {
	case c := <-pc.codes:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the INVITE")
		return 0
	}
}

// waitCode waits for status want (skipping others before it).
func (pc *phoneCall) waitCode(t *testing.T, want int) {
	t.Helper()
	var got []int
	for {
		c := pc.code(t)
		got = append(got, c)
		if c == want {
			return
		}
		if c >= 200 {
			t.Fatalf("the INVITE got %v, want %d", got, want)
		}
	}
}

func (pc *phoneCall) sdp(t *testing.T) string {
	t.Helper()
	select {
	case s := <-pc.answer:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no SDP answer")
		return ""
	}
}

// established waits for the 200 and ACKs it.
func (pc *phoneCall) established(t *testing.T) {
	t.Helper()
	select {
	case err := <-pc.done:
		if err != nil {
			t.Fatalf("the call was not answered: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call was not answered")
	}
	if err := pc.s.Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// sipWorld starts contactd with SIP and alice available.
func sipWorld(t *testing.T, cfg config.Config, opts ...Option) (*App, string, *wsClient) {
	t.Helper()
	a, base, alice, _ := chatWorld(t, cfg, opts...)
	return a, base, alice
}

// acceptCall: alice gets the phone call's offer (with the caller's
// context), accepts it and opens her browser leg, sending tag.
func acceptCall(t *testing.T, alice *wsClient, wantPhone string) (string, *ear) {
	t.Helper()
	offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
	conv := offer["conversation"].(string)
	v := offer["visitor"].(map[string]any)
	attrs, _ := v["attributes"].(map[string]any)
	if attrs["phone"] != wantPhone || attrs["trunk"] != "carrier" || attrs["dialled"] == nil {
		t.Fatalf("the offer shows %v, want the caller ID %s, the trunk and the number dialled", v, wantPhone)
	}
	alice.must("accept", map[string]any{"interaction": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	return conv, joinCall(t, alice, conv, 0xB2)
}

func TestAPhoneCallerReachesAnAgentInTheBrowser(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run("over "+tr, func(t *testing.T) {
			a, _, alice := sipWorld(t, sipConfig(t))
			baseline := runtime.NumGoroutine()
			ph := newCaller(t, a, tr)
			pai := sip.NewHeader("P-Asserted-Identity", `"Pat Caller" <sip:+15557654321@127.0.0.1>`)
			call := ph.dial(t.Context(), numEarly, pai)
			call.waitCode(t, 183)
			call.rtp.send(call.sdp(t), 0xA1)
			call.rtp.hears("ringback while queued", 0, 10)

			conv, agent := acceptCall(t, alice, "+15557654321")
			call.established(t)
			if m := alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"}); m == nil {
				t.Fatal("no connected call")
			}
			agent.hears("the agent hears the caller, payloads unchanged", 0xA1, 25)
			call.rtp.hears("the caller hears the agent, payloads unchanged", 0xB2, 25)

			// The agent ends in the desk: the phone gets a BYE.
			if r := alice.do("end", map[string]any{"conversation": conv}); r["type"] == "error" {
				alice.mu.Lock()
				for _, m := range alice.msgs {
					t.Logf("%v", m)
				}
				alice.mu.Unlock()
				t.Fatalf("end: %v", r)
			}
			select {
			case <-ph.byes:
			case <-time.After(10 * time.Second):
				t.Fatal("no BYE after the agent ended")
			}
			waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
			waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
			rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
			if err != nil || rec.Status != store.ConvEnded {
				t.Fatalf("the conversation: %+v, %v", rec, err)
			}
			// The metrics saw the call: the INVITE answered, no call
			// active now, the leg's loss and jitter observed at its end.
			waitUntil(t, "the call's metrics", func() bool {
				n := metricValues(t, a)
				return n["cc_sip_requests_total/INVITE/2xx"] >= 1 && n["cc_sip_calls_active/inbound"] == 0 &&
					n["cc_rtp_leg_jitter_seconds"] >= 1 && n["cc_rtp_leg_loss_ratio"] >= 1
			})
			call.rtp.close()
			ph.ua.Close()
			waitUntil(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline+5 })
		})
	}
}

func TestACallerWhoHangsUpWhileQueuedAbandons(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	a, _ := startSIPOnly(t, cfg)
	for _, tc := range []struct {
		name, number string
		hangUp       func(t *testing.T, pc *phoneCall, cancel context.CancelFunc)
		wantFinal    int
	}{
		{"CANCEL before the answer gets 487", numEarly, func(t *testing.T, pc *phoneCall, cancel context.CancelFunc) {
			pc.waitCode(t, 183)
			cancel()
		}, 487},
		{"BYE after an answer at once", numAnswer, func(t *testing.T, pc *phoneCall, cancel context.CancelFunc) {
			pc.established(t)
			if err := pc.s.Bye(t.Context()); err != nil {
				t.Fatal(err)
			}
		}, 0},
	} {
		for _, tr := range []string{"udp", "tcp"} {
			t.Run(tc.name+" over "+tr, func(t *testing.T) {
				ph := newCaller(t, a, tr)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				pc := ph.dial(ctx, tc.number)
				var conv string
				waitUntil(t, "the call queued", func() bool {
					open, _ := a.Store().ListOpenConversations(t.Context())
					for _, c := range open {
						if c.Attributes["dialled"] == tc.number {
							conv = string(c.ID)
						}
					}
					return conv != ""
				})
				tc.hangUp(t, pc, cancel)
				if tc.wantFinal != 0 {
					select {
					case <-pc.done:
					case <-time.After(10 * time.Second):
						t.Fatal("WaitAnswer did not return after the CANCEL")
					}
					if r := pc.s.InviteResponse; r == nil || r.StatusCode != tc.wantFinal {
						t.Fatalf("the INVITE's final answer: %v, want %d", r, tc.wantFinal)
					}
				}
				waitUntil(t, "the conversation ended as abandoned", func() bool {
					rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
					return err == nil && rec.Status == store.ConvEnded
				})
				waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
				waitUntil(t, "the leg closed", func() bool { return a.media.Legs() == 0 })
			})
		}
	}
}

// startSIPOnly starts contactd with SIP and nobody logged in.
func startSIPOnly(t *testing.T, cfg config.Config, opts ...Option) (*App, string) {
	t.Helper()
	a := start(t, cfg, io.Discard, opts...)
	return a, "http://" + a.Addr()
}

func TestHoldFromThePhoneIsTheDesksHold(t *testing.T) {
	a, _, alice := sipWorld(t, sipConfig(t))
	ph := newCaller(t, a, "udp")
	call := ph.dial(t.Context(), numAnswer)
	call.established(t)
	call.rtp.send(call.sdp(t), 0xA1)
	conv, agent := acceptCall(t, alice, "test-phone")
	agent.hears("connected", 0xA1, 10)
	call.rtp.hears("connected", 0xB2, 10)

	reinvite := func(dir string) {
		t.Helper()
		req := sip.NewRequest(sip.INVITE, call.s.InviteResponse.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(call.rtp.offer(dir)))
		res, err := call.s.Do(t.Context(), req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("re-INVITE %s: %v %v", dir, res, err)
		}
		ack := sip.NewRequest(sip.ACK, call.s.InviteResponse.Contact().Address)
		ack.AppendHeader(sip.HeaderClone(req.CSeq()))
		ack.CSeq().MethodName = sip.ACK
		if err := call.s.WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
	}
	reinvite("sendonly")
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "held"})
	// The phone said sendonly: it gets nothing (our answer is recvonly);
	// the agent hears silence (no packets) instead of the caller while the
	// phone goes on sending.
	before := agent.count(0xA1)
	call.rtp.sends(t, 25)
	if got := agent.count(0xA1) - before; got > 3 {
		t.Fatalf("the agent heard %d packets of the caller while held", got)
	}
	reinvite("sendrecv")
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
	call.rtp.hears("bridged again after the hold", 0xB2, 10)
	if err := call.s.Bye(t.Context()); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended"})
	waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
}

func TestShutdownSaysByeToEveryCall(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	a := start(t, cfg, io.Discard)
	var calls []*phoneCall
	var phones []*caller
	for _, tr := range []string{"udp", "tcp"} {
		ph := newCaller(t, a, tr)
		pc := ph.dial(t.Context(), numAnswer)
		pc.established(t)
		calls, phones = append(calls, pc), append(phones, ph)
	}
	waitUntil(t, "two dialogs", func() bool { return a.sip.Dialogs() == 2 })
	a.Close()
	for i, ph := range phones {
		select {
		case <-ph.byes:
		case <-time.After(10 * time.Second):
			t.Fatalf("phone %d got no BYE at shutdown", i)
		}
	}
	if n := a.sip.Dialogs(); n != 0 {
		t.Fatalf("%d dialogs after the shutdown", n)
	}
	_ = calls
}

func TestAnAnswerThatIsNeverAcknowledgedIsHungUp(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	a := start(t, cfg, io.Discard, func(a *App) { a.sipCfg = func(c *sipedge.Config) { c.AckTimeout = 500 * time.Millisecond } })
	ph := newCaller(t, a, "udp")
	pc := ph.dial(t.Context(), numAnswer)
	pc.waitCode(t, 200)
	// No ACK: the edge hangs up with a BYE and the caller has left.
	select {
	case <-ph.byes:
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE for an answer never acknowledged")
	}
	waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
	waitUntil(t, "the leg closed", func() bool { return a.media.Legs() == 0 })
}

// sendDTMF sends digit (0-9) as RFC 4733 telephone-events: three
// updates, then the end packet three times, on one timestamp.
func (p *rtpPeer) sendDTMF(answer string, digit byte) {
	p.t.Helper()
	to := sdpAddr(p.t, answer)
	pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 0x5151, SequenceNumber: 30000, Timestamp: 900000, Marker: true}}
	for i := range 6 {
		end := i >= 3
		flags := byte(10) // volume
		if end {
			flags |= 0x80
		}
		dur := uint16(160 * (min(i, 3) + 1))
		pk.Payload = []byte{digit, flags, byte(dur >> 8), byte(dur)}
		pk.SequenceNumber++
		b, _ := pk.Marshal()
		if _, err := p.conn.WriteToUDP(b, to); err != nil {
			p.t.Fatal(err)
		}
		pk.Marker = false
	}
}

func TestDTMFFromTheCallerReachesTheEdge(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	digits := make(chan rune, 4)
	a := start(t, cfg, io.Discard, func(a *App) {
		a.sipHooks.DTMF = func(conv store.ConversationID, d rune) {
			if conv != "" {
				digits <- d
			}
		}
	})
	ph := newCaller(t, a, "udp")
	pc := ph.dial(t.Context(), numAnswer)
	pc.established(t)
	ans := pc.sdp(t)
	pc.rtp.send(ans, 0xA1)
	waitUntil(t, "the call queued", func() bool { return a.sip.Dialogs() == 1 })
	pc.rtp.sendDTMF(ans, 5)
	select {
	case d := <-digits:
		if d != '5' {
			t.Fatalf("the edge got %q, want '5'", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no DTMF reached the edge")
	}
	if err := pc.s.Bye(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
}

// metricValues reads the SIP and RTP metrics: counters and gauges by
// name/label values, histograms by their sample count.
func metricValues(t *testing.T, a *App) map[string]float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "cc_sip_") && !strings.HasPrefix(mf.GetName(), "cc_rtp_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// Over UDP our 200 OK is sent again (T1, 2*T1, ... up to T2) until the
// ACK comes, and no more after it: a raw socket plays a phone whose ACK
// is late.
func TestThe200IsRetransmittedOverUDPUntilTheACK(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	a := start(t, cfg, io.Discard)
	to := sipAddr(t, a, "udp")
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rtpPeer := newRTPPeer(t)
	local := c.LocalAddr().String()
	sdp := rtpPeer.offer("sendrecv")
	invite := "INVITE sip:" + numAnswer + "@" + to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-raw-1;rport\r\n" +
		"From: <sip:+15557770000@127.0.0.1>;tag=raw1\r\n" +
		"To: <sip:" + numAnswer + "@" + to.String() + ">\r\n" +
		"Call-ID: raw-retransmit-1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:raw@" + local + ">\r\nMax-Forwards: 70\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	if _, err := c.WriteToUDP([]byte(invite), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	read := func() string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("reading the edge's answers: %v", err)
		}
		return string(buf[:n])
	}
	var oks []string
	for len(oks) < 3 {
		if m := read(); strings.HasPrefix(m, "SIP/2.0 200") {
			oks = append(oks, m)
		}
	}
	toTag := ""
	for _, l := range strings.Split(oks[0], "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "to:") {
			_, toTag, _ = strings.Cut(l, ";tag=")
		}
	}
	if toTag == "" {
		t.Fatalf("no To tag in %q", oks[0])
	}
	for _, ok := range oks[1:] {
		if !strings.Contains(ok, ";tag="+toTag) {
			t.Fatalf("a retransmission with another tag: %q", ok)
		}
	}
	ack := "ACK sip:" + to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-raw-ack;rport\r\n" +
		"From: <sip:+15557770000@127.0.0.1>;tag=raw1\r\n" +
		"To: <sip:" + numAnswer + "@" + to.String() + ">;tag=" + toTag + "\r\n" +
		"Call-ID: raw-retransmit-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDP([]byte(ack), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
	// The ACK confirms the call: its leg is up and the caller hears the
	// queue's tone (nothing is sent to a leg before it is up).
	rtpPeer.hears("the queue's tone once the ACK came", 0, 5)
	if a.sip.Dialogs() != 1 {
		t.Fatalf("%d dialogs, want the call's", a.sip.Dialogs())
	}
}

// A phone whose audio stops (a caller gone without a BYE) ends the call
// after media_timeout: the agent is told and the phone gets a BYE.
func TestAPhoneWhoseAudioStopsIsHungUp(t *testing.T) {
	cfg := sipConfig(t)
	cfg.MediaTimeout = time.Second
	a, _, alice := sipWorld(t, cfg)
	ph := newCaller(t, a, "udp")
	pc := ph.dial(t.Context(), numAnswer)
	pc.established(t)
	pc.rtp.send(pc.sdp(t), 0xA1)
	conv, agent := acceptCall(t, alice, "test-phone")
	agent.hears("connected", 0xA1, 10)
	pc.rtp.stopSending()
	m := alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended"})
	if m["cause"] != "media_timeout" {
		t.Fatalf("the call ended with %v, want media_timeout", m)
	}
	select {
	case <-ph.byes:
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE after the media timeout")
	}
	waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
}

// A caller waiting in a queue hears its place and estimated wait every
// announce_interval, made from the prompts, then the queue's tone again.
func TestAWaitingCallerHearsItsPlaceInTheQueue(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	type said struct {
		pos  int
		wait time.Duration
	}
	heard := make(chan said, 16)
	a := start(t, cfg, io.Discard, func(a *App) {
		a.sipCfg = func(c *sipedge.Config) {
			c.AnnounceInterval = 200 * time.Millisecond
			next := c.Announcement
			c.Announcement = func(pos int, wait time.Duration, key rune) *media.Clip {
				select {
				case heard <- said{pos, wait}:
				default:
				}
				return next(pos, wait, key)
			}
		}
	})
	ph := newCaller(t, a, "udp")
	pc := ph.dial(t.Context(), numEarly)
	pc.waitCode(t, 183)
	pc.rtp.send(pc.sdp(t), 0xA1)
	select {
	case s := <-heard:
		if s.pos != 1 {
			t.Fatalf("the caller was told position %d, want 1 (alone in the queue)", s.pos)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no announcement to a waiting caller")
	}
	waitUntil(t, "the announcement counted", func() bool { return metricValues(t, a)["cc_sip_announcements_total"] >= 1 })
	// The caller goes on hearing the queue (the clip, then ringback).
	pc.rtp.hears("the queue's audio after the announcement", 0, 50)
}

// A number with a menu: the call is answered, the menu plays, and the key
// pressed picks the queue; no key, the number's own queue.
func TestAMenuKeyPicksTheQueue(t *testing.T) {
	cfg := sipConfig(t)
	cfg.Queues = []routing.QueueConfig{{ID: "sales", NoAgents: routing.NoAgentsWait}, {ID: "support", NoAgents: routing.NoAgentsWait}}
	cfg.Trunks[0].Numbers = append(cfg.Trunks[0].Numbers, config.TrunkNumber{Number: "+15550300", Queue: "sales",
		Menu: []config.MenuOption{{Key: "1", Queue: "sales"}, {Key: "2", Queue: "support", Priority: 3}}})
	a := start(t, cfg, io.Discard, func(a *App) {
		a.sipCfg = func(c *sipedge.Config) { c.MenuTimeout = 300 * time.Millisecond }
	})
	queued := func(t *testing.T, phone string) store.Conversation {
		t.Helper()
		var got store.Conversation
		waitUntil(t, "the call queued", func() bool {
			open, _ := a.Store().ListOpenConversations(t.Context())
			for _, c := range open {
				if c.Attributes["phone"] == phone {
					got = c
				}
			}
			return got.ID != ""
		})
		return got
	}
	t.Run("key 2 goes to support", func(t *testing.T) {
		ph := newCaller(t, a, "udp")
		pc := ph.dial(t.Context(), "+15550300", sip.NewHeader("P-Asserted-Identity", "<sip:+15551112222@127.0.0.1>"))
		pc.established(t)
		ans := pc.sdp(t)
		pc.rtp.send(ans, 0xA1)
		pc.rtp.hears("the menu", 0, 10)
		pc.rtp.sendDTMF(ans, 2)
		c := queued(t, "+15551112222")
		if c.Queue != "support" || c.Attributes["menu_queue"] != "support" {
			t.Fatalf("the call went to %q (%v), want support", c.Queue, c.Attributes)
		}
		if err := pc.s.Bye(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the conversation ended", func() bool {
			rec, err := a.Store().GetConversation(t.Context(), c.ID)
			return err == nil && rec.Status == store.ConvEnded
		})
	})
	t.Run("no key goes to the number's queue", func(t *testing.T) {
		ph := newCaller(t, a, "tcp")
		pc := ph.dial(t.Context(), "+15550300", sip.NewHeader("P-Asserted-Identity", "<sip:+15553334444@127.0.0.1>"))
		pc.established(t)
		pc.rtp.send(pc.sdp(t), 0xA1)
		c := queued(t, "+15553334444")
		if c.Queue != "sales" {
			t.Fatalf("the call went to %q, want sales", c.Queue)
		}
		if err := pc.s.Bye(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	waitUntil(t, "no dialog left", func() bool { return a.sip.Dialogs() == 0 })
	if n := metricValues(t, a); n["cc_sip_menu_choices_total/key"] != 1 || n["cc_sip_menu_choices_total/timeout"] != 1 {
		t.Fatalf("menu choices counted: %v", n)
	}
}

// A waiting caller who presses the number's message key leaves the queue
// and records a voice message, stored with the left messages.
func TestACallerMayLeaveAVoiceMessageInstead(t *testing.T) {
	cfg := sipConfig(t)
	waitingQueue(&cfg)
	cfg.Trunks[0].Numbers[0].MessageKey = "*"
	a := start(t, cfg, io.Discard, func(a *App) {
		a.sipCfg = func(c *sipedge.Config) { c.AfterTone = a.media.NewClip(make([]int16, 800)) } // 100 ms
	})
	ph := newCaller(t, a, "udp")
	pc := ph.dial(t.Context(), numEarly, sip.NewHeader("P-Asserted-Identity", `"Mo Caller" <sip:+15559990000@127.0.0.1>`))
	pc.waitCode(t, 183)
	ans := pc.sdp(t)
	pc.rtp.send(ans, 0xA1)
	pc.rtp.hears("ringback while queued", 0, 5)
	var conv store.ConversationID
	waitUntil(t, "the call queued", func() bool {
		open, _ := a.Store().ListOpenConversations(t.Context())
		for _, c := range open {
			if c.Attributes["phone"] == "+15559990000" {
				conv = c.ID
			}
		}
		return conv != ""
	})
	pc.rtp.sendDTMF(ans, 10) // *
	waitUntil(t, "the caller out of the queue", func() bool {
		rec, err := a.Store().GetConversation(t.Context(), conv)
		return err == nil && rec.Status == store.ConvEnded
	})
	pc.rtp.sends(t, 50) // a second of message
	if err := pc.s.Bye(t.Context()); err != nil {
		t.Fatal(err)
	}
	var msg store.LeftMessage
	waitUntil(t, "the voice message stored", func() bool {
		msgs, _ := a.Store().ListLeftMessages(t.Context(), store.LeftMessageFilter{}, 10)
		for _, m := range msgs {
			if m.Attributes["phone"] == "+15559990000" {
				msg = m
			}
		}
		return msg.ID != ""
	})
	if msg.Name != "Mo Caller" || msg.Queue != "sales" || !msg.HasAudio || msg.AudioMillis < 200 {
		t.Fatalf("the voice message: %+v", msg)
	}
	waitUntil(t, "no dialog left", func() bool { return a.sip.Dialogs() == 0 })
	waitUntil(t, "the leg closed", func() bool { return a.media.Legs() == 0 })
	if n := metricValues(t, a)["cc_sip_voice_messages_total"]; n != 1 {
		t.Fatalf("voice messages counted: %v", n)
	}
}

// The message key only works while queued: a caller on hold who presses
// it stays in the conversation (leaving would end the agent's call).
func TestTheMessageKeyOnHoldDoesNotLeave(t *testing.T) {
	cfg := sipConfig(t)
	cfg.Trunks[0].Numbers[1].MessageKey = "*"
	digits := make(chan rune, 4)
	a, _, alice := sipWorld(t, cfg, func(a *App) {
		a.sipHooks.DTMF = func(_ store.ConversationID, d rune) { digits <- d }
	})
	ph := newCaller(t, a, "udp")
	pc := ph.dial(t.Context(), numAnswer)
	pc.established(t)
	ans := pc.sdp(t)
	pc.rtp.send(ans, 0xA1)
	conv, agent := acceptCall(t, alice, "test-phone")
	agent.hears("connected", 0xA1, 10)
	alice.must("hold", map[string]any{"conversation": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "held"})
	pc.rtp.hears("music on hold", 0, 10)
	pc.rtp.sendDTMF(ans, 10) // *
	select {
	case d := <-digits:
		if d != '*' {
			t.Fatalf("got %q", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the key did not reach the edge")
	}
	alice.must("unhold", map[string]any{"conversation": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
	pc.rtp.hears("bridged again", 0xB2, 10)
	if n := metricValues(t, a)["cc_sip_voice_messages_total"]; n != 0 {
		t.Fatalf("a voice message was started: %v", n)
	}
}
