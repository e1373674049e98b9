package main

// Voice mode: -clients calls, each between two pion peers standing in for
// browsers (media/mediatest), bridged by contactd.
//
// Agents log in as in chat mode (each has one voice slot in the config of
// -write-config), go available and accept every offer. A visitor starts a
// widget session with "channel":"voice" (which queues the call), connects
// its WebSocket, opens a peer and sends call_offer; the offer is complete
// (it carries the peer's candidates, nothing is trickled) and the server's
// answer carries the server's. When the agent's desk gets "call" with
// needLeg for the conversation, it opens its own peer the same way. Both
// peers send one 20 ms G.711 frame every 20 ms.
//
// Peers send from a few shared pacers (-pacers, default 10), each a single
// goroutine that sends the due frames of all its peers every 20 ms, started
// 20ms/N apart: one timer per peer would cost far more, and one pacer for
// all would send every call's frame at the same instant, a burst of 400
// packets every 20 ms that no real set of browsers makes and whose queueing
// would be measured as the server's delay. A call's two peers and a
// baseline pair's share a pacer.
//
// Calls start -rate-calls a second until -clients are up (the ramp); the
// window is the -duration that follows. Each payload carries a marker, its
// send time and its flow's own sequence number (voicestats.go), so the peer
// that receives it (in this process: one monotonic clock) measures the
// one-way delay and counts it. A packet counts (sent, and then received,
// delay) when it was sent in the window while its call was connected, that
// is after the visitor heard "call" state connected: ringback, music and
// the silence the server plays before carry no marker and are left out.
//
// Beside the calls, -baseline pairs of peers talk to each other directly
// (no contactd) from the same pacers: their delay is the cost of pion, the
// kernel and this process; the added delay is the calls' minus theirs.
//
// Set-up is timed from the visitor's call_offer to the visitor hearing
// "call" state connected: the answer, the visitor leg's ICE and DTLS, the
// call message to the agent, the agent's offer and leg. (Routing and the
// agent's accept happen when the widget session queues the call, usually
// before the visitor's offer.) The visitor leg's ICE connect time (offer
// sent to the peer connected) is reported on its own.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/media/mediatest"
)

// Voice limits and waits.
const (
	maxCalls     = 2000
	maxRateCalls = 100
	maxBaseline  = 100
	// voiceDrain is how long after the window counted packets still in
	// flight may take to arrive before the calls are hung up.
	voiceDrain = time.Second
	// callStepWait bounds each step of a call's set-up (answer, ICE,
	// connected).
	callStepWait = 20 * time.Second
)

// defaultVoiceAgents is one agent a call, and a few more.
func defaultVoiceAgents(calls int) int { return calls + 2 + calls/20 }

// voiceDefaults fills in what voice mode derives: the agents and the ramp.
func (o *options) voiceDefaults(set map[string]bool) error {
	if set["ramp"] {
		return errors.New("-ramp: in voice mode the ramp is -clients / -rate-calls")
	}
	if !set["agents"] {
		o.agents = defaultVoiceAgents(o.clients)
	}
	if o.rateCalls > 0 {
		o.ramp = time.Duration(float64(o.clients) / o.rateCalls * float64(time.Second))
	}
	return nil
}

func (o options) checkVoice() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.agentPassword == "" {
		add("-mode voice needs -agent-password (the password of -write-config)")
	}
	if o.agents < 1 || o.agents > maxAgents {
		add("-agents %d: want 1 to %d", o.agents, maxAgents)
	}
	if o.clients > maxCalls {
		add("-clients %d: voice mode runs at most %d calls (two pion peers each)", o.clients, maxCalls)
	}
	if o.rateCalls <= 0 || o.rateCalls > maxRateCalls {
		add("-rate-calls %g: want more than 0 and at most %d", o.rateCalls, maxRateCalls)
	}
	if o.pacers < 1 || o.pacers > 20 {
		add("-pacers %d: want 1 to 20", o.pacers)
	}
	if o.baseline < 0 || o.baseline > maxBaseline {
		add("-baseline %d: want 0 to %d", o.baseline, maxBaseline)
	}
	return errs
}

// voiceRun is what voice mode adds to a runner: the pacers peers send
// from, the calls by conversation, the agents' legs and the meters.
type voiceRun struct {
	r      *runner
	pacers []*mediatest.Pacer
	local  func(net.IP) bool
	calls  meter // through contactd, both directions
	direct meter // the baseline pairs

	answer, ice, agentLeg latencies // per call: offer to answer, to ICE connected, the agent's leg

	ctx    context.Context // the agents' legs; cancelled by closeLegs
	cancel context.CancelFunc

	mu     sync.Mutex
	byConv map[string]*voiceCall
	legs   map[string]*agentLeg // by conversation
	// -mode sip-media (sipmedia.go): the calls by the caller's number
	// until an agent is offered them, contactd's SIP address and number.
	byPhone   map[string]*voiceCall
	sipTarget *net.UDPAddr
	sipNumber string
	// deskLegAsks counts "call" messages with needLeg to desks of agents
	// on phones (sip-media -sip-agents phones).
	deskLegAsks   atomic.Int64
	deskLegLogged atomic.Bool
	pending       map[string]*agentLeg // by call_offer command id
	closed        bool
	legWG         sync.WaitGroup
	nextLeg       atomic.Int64
}

func newVoiceRun(r *runner) *voiceRun {
	ctx, cancel := context.WithCancel(context.Background())
	return &voiceRun{r: r, local: localAddrs(),
		calls: meter{h: new(hist)}, direct: meter{h: new(hist)}, ctx: ctx, cancel: cancel,
		byConv: map[string]*voiceCall{}, byPhone: map[string]*voiceCall{}, legs: map[string]*agentLeg{}, pending: map[string]*agentLeg{}}
}

// voiceCall is one call: the visitor's flow (up, to the agent) and the
// agent's (down), counted while live.
type voiceCall struct {
	idx      int
	conv     string
	live     atomic.Bool
	up, down flow
}

// voiceMsg holds the fields of a server message voice mode looks at.
type voiceMsg struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	Code         string          `json:"code"`
	Message      string          `json:"message"`
	Conversation string          `json:"conversation"`
	State        string          `json:"state"`
	Cause        string          `json:"cause"`
	Reason       string          `json:"reason"`
	NeedLeg      bool            `json:"needLeg"`
	Candidate    json.RawMessage `json:"candidate"`
	Result       struct {
		SDP string `json:"sdp"`
	} `json:"result"`
}

// voiceAnswer is the answer to a call_offer.
type voiceAnswer struct {
	sdp string
	err error
}

// runVoice runs the agents' setup, the baseline pairs, the calls, the
// window and the cleanup, and returns the report.
func (r *runner) runVoice(ctx context.Context) (*report, error) {
	o := r.o
	vr := newVoiceRun(r)
	r.voice = vr
	if o.mode == "sip-media" {
		vr.sipTarget, _ = parseSIPTarget(o.sipAddr)
		vr.sipNumber = o.sipNumber
	}
	vr.startPacers(o.pacers)
	defer vr.closePacers()
	defer vr.closeLegs()
	vrep := &VoiceReport{RateCalls: o.rateCalls, BaselinePairs: o.baseline, Pacers: o.pacers}
	rep := &report{Mode: o.mode, Label: o.label, Clients: o.clients, Agents: o.agents, Sources: r.visitorSources, VoiceReport: vrep}
	ramp := o.ramp
	if vr.sipTarget == nil {
		ramp = r.checkLimits() // widget sessions per address
	} else {
		rep.VoiceReport.SIPAgents, rep.VoiceReport.SIPNumber = o.sipAgents, o.sipNumber
	}
	rep.RampS = round2(ramp.Seconds())
	srv, err := newServerWatch(o.serverPID)
	if err != nil {
		return nil, err
	}
	if srv != nil {
		rep.ServerPID, rep.ServerGOMAXPROCS, rep.ServerRSSBaseMB = o.serverPID, srv.gomaxprocs, round2(srv.base)
	}

	agentCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	t0 := time.Now()
	agents, err := r.startAgents(ctx, agentCtx)
	rep.AgentSetupS = round2(time.Since(t0).Seconds())
	if err != nil {
		return nil, err
	}
	r.logf("%d agents available in %.1fs", len(agents), rep.AgentSetupS)
	if len(agents) < o.clients {
		r.logf("warning: %d agents for %d calls: the rest wait in the queue", len(agents), o.clients)
	}
	if o.sipAgents == "phones" && vr.sipTarget != nil {
		stopPhones, err := vr.startPhones(ctx)
		if err != nil {
			return nil, err
		}
		defer stopPhones()
	}
	if o.sipAgents == "phones" && vr.sipTarget != nil {
		n, closeBase := vr.startRTPBaseline(o.baseline)
		defer closeBase()
		vrep.BaselinePairs = n
	} else {
		base := vr.startBaseline(ctx, o.baseline)
		defer func() {
			for _, p := range base {
				p.Close()
			}
		}()
		vrep.BaselinePairs = len(base) / 2
	}

	phase := r.now()
	windowEnd := phase + ramp + o.duration
	r.winFrom.Store(int64(phase + ramp))
	r.winTo.Store(int64(windowEnd))
	hardCtx, cancelHard := context.WithDeadline(ctx, r.base.Add(windowEnd+voiceDrain+hardStopSlack))
	defer cancelHard()
	r.logf("starting %d calls at %g a second from %d source address(es); window %s", o.clients, o.rateCalls, r.visitorSources, o.duration)
	samplerDone := make(chan struct{})
	go func() { defer close(samplerDone); r.sample(hardCtx, srv) }()
	callsDone := vr.startCalls(hardCtx, phase, ramp)

	var srvFrom, selfFrom, machineFrom time.Duration
	if r.sleepUntil(hardCtx, phase+ramp) {
		if srv != nil {
			srvFrom = srv.cpu()
		}
		selfFrom, machineFrom = selfCPU(), machineCPU()
		r.logf("ramp over: %d calls connected; window starts", r.st.joined.Load())
	}
	windowEnded := r.sleepUntil(hardCtx, windowEnd)
	stopAt := r.now()
	window := min(max(stopAt-phase-ramp, 0), o.duration)
	if windowEnded && selfFrom > 0 {
		pct := func(d time.Duration) float64 { return round2(100 * d.Seconds() / window.Seconds()) }
		var srvCPU time.Duration
		if srv != nil {
			srvCPU = srv.cpu() - srvFrom
			rep.ServerCPUS = round2(srvCPU.Seconds())
			vrep.CPUPctServer = pct(srvCPU)
		}
		selfCPUWin := selfCPU() - selfFrom
		vrep.CCloadCPUS = round2(selfCPUWin.Seconds())
		vrep.CPUPctCCload = pct(selfCPUWin)
		if machineFrom > 0 {
			machine := machineCPU() - machineFrom
			vrep.CPUPctMachine = pct(machine)
			if srv != nil {
				vrep.CPUPctOthers = pct(max(0, machine-srvCPU-selfCPUWin))
			}
		}
	}
	if srv != nil {
		rep.ServerRSSMB = round2(srv.sample())
	}
	if windowEnded {
		r.logf("window over; hanging up in %s", voiceDrain)
		r.sleepUntil(hardCtx, windowEnd+voiceDrain)
	} else {
		r.logf("stopped %.1fs into the window", window.Seconds())
	}
	r.st.stopping()
	close(r.stop)
	<-callsDone
	r.logf("calls hung up %.1fs after stopping", (r.now() - stopAt).Seconds())
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.stop(hardCtx) }()
	}
	wg.Wait()
	stopAgents()
	vr.closeLegs()
	r.logf("cleanup done %.1fs after stopping", (r.now() - stopAt).Seconds())
	rep.HardStop = errors.Is(hardCtx.Err(), context.DeadlineExceeded)
	cancelHard()
	<-samplerDone
	r.cl.closeIdle()

	if ctx.Err() != nil {
		r.logf("interrupted: reporting what was measured")
	}
	rep.fill(r.st, window)
	vr.fill(rep, window)
	rep.DurationS = round2(window.Seconds())
	if srv != nil {
		rep.ServerRSSMaxMB = round2(srv.max())
	}
	rss, _ := procStatus("self", "VmRSS")
	hwm, _ := procStatus("self", "VmHWM")
	rep.RSSMB, rep.RSSMaxMB = round2(rss), round2(hwm)
	rep.CPUS = round2(selfCPU().Seconds())
	rep.ElapsedS = round2(r.now().Seconds())
	rep.Time = time.Now().UTC().Format(time.RFC3339)
	return rep, nil
}

// startCalls starts a call every 1/-rate-calls seconds, each once it gets
// a token, and returns a channel closed when all have returned.
func (vr *voiceRun) startCalls(ctx context.Context, phase, ramp time.Duration) <-chan struct{} {
	if vr.sipTarget != nil {
		return vr.r.startEach(ctx, phase, ramp, vr.phoneCall)
	}
	return vr.r.startEach(ctx, phase, ramp, vr.call)
}

// visitorCall is the visitor's side of a call, shared by its goroutine
// and its reader.
type visitorCall struct {
	v         *visitor
	c         *voiceCall
	offerID   string
	hangupID  string
	answer    chan voiceAnswer
	connected chan struct{}
	connOnce  sync.Once
	ended     chan string // the call ended before the visitor hung up: its cause
	hungUp    chan struct{}
	hangOnce  sync.Once
	hangingUp atomic.Bool
	tr        trickle
}

// answered passes the answer to the offer on, once.
func (vc *visitorCall) answered(a voiceAnswer) {
	select {
	case vc.answer <- a:
	default:
	}
}

// call runs call idx from the visitor's session to its hang-up; it holds
// one of the runner's tokens until the visitor is connected.
func (vr *voiceRun) call(ctx, setup context.Context, idx int) {
	r := vr.r
	v := &visitor{r: r, idx: idx, hc: r.cl.get(r.visitorSource(idx)), prefix: fmt.Sprintf("%s-v%d-", r.runID, idx)}
	start := r.now()
	err := v.connect(setup)
	<-r.tokens
	if err != nil {
		return
	}
	r.st.connected.Add(1)
	r.st.connect.add(r.now() - start)

	c := &voiceCall{idx: idx, conv: v.conv}
	c.up = flow{id: uint32(2 * idx), live: &c.live, m: &vr.calls}
	c.down = flow{id: uint32(2*idx + 1), live: &c.live, m: &vr.calls}
	vc := &visitorCall{v: v, c: c, offerID: v.prefix + "offer", hangupID: v.prefix + "hangup",
		answer: make(chan voiceAnswer, 1), connected: make(chan struct{}), ended: make(chan string, 1), hungUp: make(chan struct{})}
	vr.mu.Lock()
	vr.byConv[c.conv] = c
	vr.mu.Unlock()
	defer func() {
		vr.mu.Lock()
		delete(vr.byConv, c.conv)
		vr.mu.Unlock()
	}()

	cctx, cancel := context.WithCancel(ctx)
	readDone := make(chan struct{})
	go func() { defer close(readDone); vr.visitorRead(cctx, vc) }()
	defer func() {
		v.closing.Store(true)
		v.ws.Close(websocket.StatusNormalClosure, "ccload is done")
		cancel()
		<-readDone
	}()

	p, err := mediatest.New(mediatest.Config{Pacer: vr.pacerOf(idx)})
	if err != nil {
		r.st.fail("visitor_peer")
		return
	}
	defer p.Close()
	p.OnPacket(r.listener(&c.down))
	if !vr.visitorSetup(ctx, vc, p) {
		return
	}
	// In the window now, or soon: wait for the end.
	select {
	case <-r.stop:
	case cause := <-vc.ended:
		c.live.Store(false)
		r.st.fail("call_ended:" + cause)
		return
	case <-ctx.Done():
		return
	}
	c.live.Store(false)
	vc.hangingUp.Store(true)
	hctx, hcancel := context.WithTimeout(ctx, endWait)
	defer hcancel()
	if err := v.ws.Write(hctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"call_hangup","id":"%s"}`, vc.hangupID)); err != nil {
		r.st.cleanupErrors.Add(1)
		return
	}
	select {
	case <-vc.hungUp:
	case <-hctx.Done():
		r.st.cleanupErrors.Add(1)
	}
}

// visitorSetup offers, applies the answer, starts sending once the leg is
// up and waits for the call to connect. It says whether it did.
func (vr *voiceRun) visitorSetup(ctx context.Context, vc *visitorCall, p *mediatest.Peer) bool {
	r := vr.r
	c := vc.c
	sctx, cancel := context.WithTimeout(ctx, 3*callStepWait)
	defer cancel()
	offer, err := p.Offer(sctx, mediatest.OfferOptions{Complete: true})
	if err != nil {
		r.st.fail("visitor_offer")
		return false
	}
	b, _ := json.Marshal(map[string]any{"type": "call_offer", "id": vc.offerID, "sdp": offer})
	t0 := r.now()
	if err := vc.v.ws.Write(sctx, websocket.MessageText, b); err != nil {
		r.st.fail("visitor_write")
		return false
	}
	var ans voiceAnswer
	select {
	case ans = <-vc.answer:
	case <-r.stop:
		r.st.failRun("call_not_answered")
		return false
	case <-sctx.Done():
		r.st.fail("call_offer_timeout")
		return false
	}
	if ans.err != nil {
		return false // counted by the reader
	}
	vr.answer.add(r.now() - t0)
	sdp, n := localSDP(ans.sdp, vr.local)
	if n == 0 {
		r.st.fail("answer_without_local_candidate")
		return false
	}
	if err := p.Accept(sdp); err != nil {
		r.st.fail("visitor_accept")
		return false
	}
	vc.tr.ready(p, r, vr.local)
	select {
	case <-p.Connected():
		vr.ice.add(r.now() - t0)
	case <-p.Failed():
		r.st.fail("visitor_ice_failed")
		return false
	case <-r.stop:
		r.st.failRun("visitor_ice_not_connected")
		return false
	case <-sctx.Done():
		r.st.fail("visitor_ice_timeout")
		return false
	}
	p.StartSending(r.payloader(&c.up))
	select {
	case <-vc.connected:
		at := r.now()
		c.live.Store(true)
		r.st.joined.Add(1)
		r.st.setup.add(at - t0)
		if int64(at) <= r.winFrom.Load() {
			r.st.joinedByWin.Add(1)
		}
		return true
	case cause := <-vc.ended:
		r.st.fail("call_ended_before_connected:" + cause)
	case <-r.stop:
		r.st.failRun("call_not_connected")
	case <-sctx.Done():
		r.st.fail("call_connect_timeout")
	}
	return false
}

// visitorRead handles what the server sends the visitor.
func (vr *voiceRun) visitorRead(ctx context.Context, vc *visitorCall) {
	r := vr.r
	v := vc.v
	for {
		_, data, err := v.ws.Read(ctx)
		if err != nil {
			if !v.closing.Load() && ctx.Err() == nil {
				r.st.fail("visitor_closed")
			}
			return
		}
		var m voiceMsg
		if json.Unmarshal(data, &m) != nil {
			r.st.fail("bad_json")
			continue
		}
		if r.o.trace {
			r.logf("visitor %d < %s", v.idx, data)
		}
		switch m.Type {
		case "ack":
			switch m.ID {
			case vc.offerID:
				vc.answered(voiceAnswer{sdp: m.Result.SDP})
			case vc.hangupID:
				vc.hangOnce.Do(func() { close(vc.hungUp) })
			}
		case "error":
			switch m.ID {
			case vc.offerID:
				r.st.fail("call_offer:" + m.Code)
				vc.answered(voiceAnswer{err: fmt.Errorf("%s: %s", m.Code, m.Message)})
			case vc.hangupID:
				// The call may have ended on its own meanwhile.
				if m.Code != "not_found" {
					r.st.fail("call_hangup:" + m.Code)
				}
				vc.hangOnce.Do(func() { close(vc.hungUp) })
			default:
				r.st.fail("visitor_error:" + m.Code)
			}
		case "call":
			switch m.State {
			case "connected":
				vc.connOnce.Do(func() { close(vc.connected) })
			case "ended":
				if vc.hangingUp.Load() {
					vc.hangOnce.Do(func() { close(vc.hungUp) })
					continue
				}
				select {
				case vc.ended <- m.Cause:
				default:
				}
			}
		case "ice":
			vc.tr.add(m.Candidate, r, vr.local)
		case "left":
			if !vc.hangingUp.Load() {
				r.st.fail("left:" + m.Reason)
			}
		}
	}
}

// progress logs the calls and packets so far.
func (vr *voiceRun) progress() {
	r := vr.r
	n, _, _, _ := r.st.errors()
	r.logf("t=%.0fs connected=%d calls=%d packets sent=%d received=%d (counted %d/%d) errors=%d",
		r.now().Seconds(), r.st.connected.Load(), r.st.joined.Load(), vr.calls.sentAll.Load(), vr.calls.recvAll.Load(),
		vr.calls.recv.Load(), vr.calls.sent.Load(), n)
}
