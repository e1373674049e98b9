package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// hardStopSlack is how long after ramp + duration ccload gives up on
// whatever is still running.
const hardStopSlack = 30 * time.Second

// runner is one run: the options, the clients per source address, the
// counters, and the clock every timestamp is an offset of (monotonic, in
// this process only).
type runner struct {
	o      options
	t      target
	log    io.Writer
	logMu  sync.Mutex
	base   time.Time
	cl     *clients
	st     *stats
	runID  string // makes command ids unique across runs
	tokens chan struct{}

	visitorSources int
	agentBlock     byte
	nextAgentSrc   atomic.Int64

	// The measurement window, as offsets from base; zero until the
	// visitors start.
	winFrom, winTo atomic.Int64
	stop           chan struct{} // closed when visitors should stop sending

	voice *voiceRun // voice mode only
}

func newRunner(o options, t target, log io.Writer) *runner {
	if o.quiet {
		log = io.Discard
	}
	b := make([]byte, 4)
	rand.Read(b)
	r := &runner{o: o, t: t, log: log, base: time.Now(), cl: newClients(t), st: newStats(),
		runID: hex.EncodeToString(b), tokens: make(chan struct{}, o.concurrency), stop: make(chan struct{})}
	switch {
	case !t.v4:
		r.visitorSources = 1 // ::1 is the only IPv6 loopback address
	case o.sources > 0:
		r.visitorSources = o.sources
	default:
		r.visitorSources = max(1, (o.clients+visitorsPerSource-1)/visitorsPerSource)
	}
	// Agents log in from a block of their own, chosen at random so that a
	// run soon after another does not meet the login limit of its
	// addresses.
	r.agentBlock = byte(16 + mrand.IntN(230))
	r.nextAgentSrc.Store(int64((o.agents + agentsPerSource - 1) / agentsPerSource))
	return r
}

func (r *runner) now() time.Duration { return time.Since(r.base) }

func (r *runner) inWindow(t time.Duration) bool {
	return int64(t) >= r.winFrom.Load() && int64(t) < r.winTo.Load()
}

// logf writes a progress line; it may be called from any goroutine.
func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.log, "ccload: "+format+"\n", args...)
}

// visitorSource is the source address of visitor k: round robin, so that
// the ramp spreads over every address.
func (r *runner) visitorSource(k int) net.IP {
	if r.visitorSources <= 1 {
		return nil
	}
	return sourceIP(0, k%r.visitorSources)
}

// agentSource is the source address of agent k; fresh gives one no agent
// used yet, after a login was refused for too many attempts.
func (r *runner) agentSource(k int, fresh bool) net.IP {
	if !r.t.v4 || r.o.sources == 1 {
		return nil
	}
	i := k / agentsPerSource
	if fresh {
		i = int(r.nextAgentSrc.Add(1))
	}
	return sourceIP(r.agentBlock, i%maxSourcesPerBlock)
}

// run runs the agents' setup, the visitors, the window and the cleanup,
// and returns the report.
func (r *runner) run(ctx context.Context) (*report, error) {
	o := r.o
	rep := &report{Mode: o.mode, Label: o.label, Clients: o.clients, Agents: o.agents, Sources: r.visitorSources}
	if o.mode == "chat" {
		rep.Capacity, rep.Rate, rep.Echo = o.capacity, o.rate, o.echo
	}
	ramp := r.checkLimits()
	rep.RampS = round2(ramp.Seconds())
	srv, err := newServerWatch(o.serverPID)
	if err != nil {
		return nil, err
	}
	if srv != nil {
		rep.ServerPID, rep.ServerGOMAXPROCS, rep.ServerRSSBaseMB = o.serverPID, srv.gomaxprocs, round2(srv.base)
	}

	// Agents first: every visitor needs one.
	agentCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	var agents []*agent
	if o.mode == "chat" {
		t0 := time.Now()
		agents, err = r.startAgents(ctx, agentCtx)
		rep.AgentSetupS = round2(time.Since(t0).Seconds())
		if err != nil {
			return nil, err
		}
		r.logf("%d agents available in %.1fs", len(agents), rep.AgentSetupS)
	}

	// Visitors, the window and the hard stop.
	phase := r.now()
	windowEnd := phase + ramp + o.duration
	r.winFrom.Store(int64(phase + ramp))
	r.winTo.Store(int64(windowEnd))
	hardCtx, cancelHard := context.WithDeadline(ctx, r.base.Add(windowEnd+hardStopSlack))
	defer cancelHard()
	r.logf("starting %d visitors over %s from %d source address(es); window %s", o.clients, ramp.Round(time.Millisecond), r.visitorSources, o.duration)
	samplerDone := make(chan struct{})
	go func() { defer close(samplerDone); r.sample(hardCtx, srv) }()
	visitorsDone := r.startVisitors(hardCtx, phase, ramp)

	var cpuFrom, selfFrom time.Duration
	inWindow := r.sleepUntil(hardCtx, phase+ramp)
	if inWindow {
		selfFrom = selfCPU()
		if srv != nil {
			cpuFrom = srv.cpu()
		}
	}
	windowEnded := r.sleepUntil(hardCtx, windowEnd)
	if inWindow && windowEnded {
		rep.CPUWindowS = round2((selfCPU() - selfFrom).Seconds())
		rep.LoadAvg = loadAvg()
	}
	if srv != nil {
		if cpuTo := srv.cpu(); windowEnded && cpuFrom > 0 {
			rep.ServerCPUS = round2((cpuTo - cpuFrom).Seconds())
		}
		rep.ServerRSSMB = round2(srv.sample())
	}
	stopAt := r.now()
	// The window measured: shorter than asked when interrupted.
	window := min(max(stopAt-phase-ramp, 0), o.duration)
	if windowEnded {
		r.logf("window over; stopping")
	} else {
		r.logf("stopped %.1fs into the window", window.Seconds())
	}
	r.st.stopping()
	close(r.stop)
	<-visitorsDone // each visitor's context ends with hardCtx at the latest
	r.logf("visitors done %.1fs after stopping", (r.now() - stopAt).Seconds())
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.stop(hardCtx) }()
	}
	wg.Wait()
	stopAgents()
	r.logf("cleanup done %.1fs after stopping", (r.now() - stopAt).Seconds())
	rep.HardStop = errors.Is(hardCtx.Err(), context.DeadlineExceeded)
	cancelHard()
	<-samplerDone
	r.cl.closeIdle()

	if ctx.Err() != nil {
		r.logf("interrupted: reporting what was measured")
	}
	rep.fill(r.st, window)
	rep.DurationS = round2(window.Seconds())
	if srv != nil {
		rep.ServerRSSMaxMB = round2(srv.max())
		if o.mode == "idle" && rep.Connected > 0 {
			// The growth over the start, per connection (and its queued
			// conversation). In chat mode logins (argon2id, 19 MiB each)
			// and the garbage collector blur it.
			rep.ServerKBPerConn = round2((rep.ServerRSSMB - rep.ServerRSSBaseMB) * 1024 / float64(rep.Connected))
		}
	}
	rss, _ := procStatus("self", "VmRSS")
	hwm, _ := procStatus("self", "VmHWM")
	rep.RSSMB, rep.RSSMaxMB = round2(rss), round2(hwm)
	rep.CPUS = round2(selfCPU().Seconds())
	rep.ElapsedS = round2(r.now().Seconds())
	rep.Time = time.Now().UTC().Format(time.RFC3339)
	return rep, nil
}

// checkLimits warns about what the server's per-address limits will
// refuse, and returns the ramp, lengthened to stay under the limit on
// widget sessions.
func (r *runner) checkLimits() time.Duration {
	o := r.o
	if o.mode == "chat" {
		if o.agents*o.capacity < o.clients {
			r.logf("warning: %d agents of %d chats cannot take %d visitors; the rest wait", o.agents, o.capacity, o.clients)
		}
		if r.agentSource(0, false) == nil && o.agents > 10 {
			r.logf("warning: %d agents from one address: the server allows 10 logins a minute per address", o.agents)
		}
		if perSrc := float64(o.clients) / float64(r.visitorSources) * o.rate; perSrc > sessionsPerSecondPerSource {
			r.logf("warning: %.0f messages a second per source address: the server will refuse some with rate_limited (use more -sources)", perSrc)
		}
	}
	ramp := o.ramp
	if least := time.Duration(float64(o.clients) / float64(sessionsPerSecondPerSource*r.visitorSources) * float64(time.Second)); ramp < least {
		r.logf("ramp %s is too short for %d visitors from %d address(es) (the server allows 200 commands a second per address); ramping over %s",
			ramp, o.clients, r.visitorSources, least.Round(100*time.Millisecond))
		ramp = least
	}
	return ramp
}

// startVisitors starts the visitors evenly over the ramp, each once it
// gets a token, and returns a channel closed when all have returned.
// Setups still under way when the window ends are given up.
func (r *runner) startVisitors(ctx context.Context, phase, ramp time.Duration) <-chan struct{} {
	return r.startEach(ctx, phase, ramp, r.visitor)
}

// startEach runs start for clients 0..-clients-1, evenly over the ramp
// after phase, each once it gets a token, and returns a channel closed
// when all have returned. setup (start's second context) ends when the
// starting is over, so setups still under way then are given up.
func (r *runner) startEach(ctx context.Context, phase, ramp time.Duration, start func(ctx, setup context.Context, i int)) <-chan struct{} {
	setup, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	go func() {
		defer close(done)
		defer wg.Wait()
		defer cancel()
		for i := range r.o.clients {
			at := phase + time.Duration(float64(ramp)*float64(i)/float64(r.o.clients))
			if !r.sleepUntil(ctx, at) {
				return
			}
			select {
			case r.tokens <- struct{}{}:
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start(ctx, setup, i)
			}()
		}
		select {
		case <-r.stop:
		case <-ctx.Done():
		}
	}()
	return done
}

// sample reads the server's memory every second and logs progress every
// five, until ctx ends.
func (r *runner) sample(ctx context.Context, srv *serverWatch) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if srv != nil {
				srv.sample()
			}
			if n%5 == 0 {
				r.progress()
			}
		}
	}
}

// serverWatch reads contactd's figures from /proc.
type serverWatch struct {
	pid        string
	gomaxprocs string
	base       float64 // RSS at the start, MB
	mu         sync.Mutex
	maxRSS     float64
}

// newServerWatch returns nil when pid is 0.
func newServerWatch(pid int) (*serverWatch, error) {
	if pid <= 0 {
		return nil, nil
	}
	w := &serverWatch{pid: strconv.Itoa(pid), gomaxprocs: fmt.Sprintf("default (%d)", runtime.NumCPU())}
	if v, ok := procEnv(w.pid, "GOMAXPROCS"); ok {
		w.gomaxprocs = v
	}
	rss, ok := procStatus(w.pid, "VmRSS")
	if !ok {
		return nil, fmt.Errorf("-server-pid %d: cannot read /proc/%d/status", pid, pid)
	}
	w.base, w.maxRSS = rss, rss
	return w, nil
}

// sample returns the RSS now, in MB, and keeps the largest.
func (w *serverWatch) sample() float64 {
	rss, _ := procStatus(w.pid, "VmRSS")
	w.mu.Lock()
	w.maxRSS = max(w.maxRSS, rss)
	w.mu.Unlock()
	return rss
}

func (w *serverWatch) max() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxRSS
}

func (w *serverWatch) cpu() time.Duration {
	d, _ := procCPU(w.pid)
	return d
}

// sleepUntil waits until the offset at, and says whether it got there.
func (r *runner) sleepUntil(ctx context.Context, at time.Duration) bool {
	d := at - r.now()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *runner) progress() {
	if r.voice != nil {
		r.voice.progress()
		return
	}
	st := r.st
	n, _, _, _ := st.errors()
	r.logf("t=%.0fs connected=%d joined=%d sent=%d delivered=%d errors=%d",
		r.now().Seconds(), st.connected.Load(), st.joined.Load(), st.sentTotal.Load(), st.deliveredTotal.Load(), n)
}

// startAgents logs the agents in and makes them available. Those that
// fail are counted as errors; it fails only when none is ready. live
// bounds the agents' connections, ctx their setup.
func (r *runner) startAgents(ctx, live context.Context) ([]*agent, error) {
	sctx, cancel := context.WithTimeout(ctx, r.o.setupTimeout)
	defer cancel()
	// Each login costs the server an argon2id hash (19 MiB, tens of
	// milliseconds of CPU): a few at a time.
	logins := make(chan struct{}, 4)
	var (
		mu       sync.Mutex
		ready    []*agent
		firstErr error
		wg       sync.WaitGroup
	)
	for i := range r.o.agents {
		select {
		case r.tokens <- struct{}{}:
		case <-sctx.Done():
		}
		if sctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-r.tokens }()
			a := newAgent(r, i)
			err := a.start(sctx, live, logins)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			ready = append(ready, a)
		}()
	}
	wg.Wait()
	if len(ready) == 0 {
		if firstErr == nil {
			firstErr = sctx.Err()
		}
		return nil, fmt.Errorf("no agent is ready: %w", firstErr)
	}
	if len(ready) < r.o.agents {
		r.logf("warning: %d of %d agents ready (first error: %v)", len(ready), r.o.agents, firstErr)
	}
	return ready, nil
}
