package main

// SIP signaling mode (-mode sip): short phone calls without media, placed by
// sipp, first straight to a sipp callee (the direct run: what sipp and this
// machine do without contactd), then through contactd's trunk number, in
// the same ccload run at the same rate, number of calls and call length.
//
//	direct:   sipp uac.xml --INVITE--> sipp uas.xml (answers at once)
//	contactd: sipp uac.xml --INVITE--> contactd trunk number -> queue ->
//	          routing -> agent (-sip-agents)
//
// -sip-agents says who takes the calls in contactd:
//
//   - phones: agents load1..N log in at the desk and go available (they do
//     not accept offers: their phone does); their phones are registered with
//     digest by sipp (register.xml, one account per agent, every Contact at
//     the one sipp uas.xml that answers for all of them), and contactd rings
//     them (voice_device: sip). The trunk number is "early" (early_media:
//     183 at once, 200 once the agent's phone answered and the legs are
//     bridged), so a successful call is one an agent's phone answered.
//   - none: nobody; the trunk number is "answer" (200 OK at once, the call
//     queued); the caller hangs up after -hold and the call is an abandon.
//     This measures the edge (admission, the caller's RTP leg, the
//     conversation in the store, queueing, the abandon), not the offer to
//     an agent.
//
// Each call: INVITE (PCMU offer), 100/180/183, 200, ACK, -hold, BYE, 200.
// Figures from sipp's own statistics (-trace_stat, sipp.go): calls
// attempted, successful and failed, the time from the first to the last
// statistics line, successful calls a second over it, and the ratio of
// contactd's calls a second to the direct run's.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// SIP mode limits and defaults.
const (
	maxSIPRate  = 10000
	maxSIPCalls = 1_000_000
	// sipNumberAnswer and sipNumberEarly are the trunk numbers of
	// -write-config -mode sip: answered at once, and early media until an
	// agent's phone answers.
	sipNumberAnswer = "1000"
	sipNumberEarly  = "1001"
)

// SIPReport is what -mode sip adds to the JSON line.
type SIPReport struct {
	SIPAgents string  `json:"sip_agents"` // phones or none
	Number    string  `json:"sip_number"`
	Rate      float64 `json:"sip_rate"` // calls a second asked of sipp (-r)
	Calls     int64   `json:"sip_calls"`
	HoldMs    float64 `json:"sip_hold_ms"`
	RingMs    float64 `json:"sip_ring_ms"`
	Phones    int     `json:"sip_phones,omitempty"`            // registered
	PhonesReg int64   `json:"sip_phones_registered,omitempty"` // REGISTERs that succeeded

	Direct   *SIPFigures `json:"direct,omitempty"`
	Contactd *SIPFigures `json:"contactd,omitempty"`
	// AgentPhones is what the agents' phones saw in the contactd run:
	// INVITEs (attempted), calls ended by contactd's BYE (successful),
	// CANCELled (failed), still open at the end (unfinished).
	AgentPhones *SIPFigures `json:"agent_phones,omitempty"`
	// Ratio is contactd's successful calls a second over the direct run's.
	Ratio float64 `json:"ratio,omitempty"`

	ServerCPUPct float64 `json:"sip_server_cpu_pct,omitempty"` // contactd, % of one core over its run
	SippVersion  string  `json:"sipp_version,omitempty"`
}

// SIPFigures are one sipp's figures.
type SIPFigures struct {
	Attempted  int64   `json:"attempted"`
	Successful int64   `json:"successful"`
	Failed     int64   `json:"failed"`
	Unfinished int64   `json:"unfinished,omitempty"`
	Seconds    float64 `json:"seconds"`
	CallsPerS  float64 `json:"calls_per_s"` // successful / seconds
	Retrans    int64   `json:"retransmissions"`
	Timeouts   int64   `json:"timeouts,omitempty"`
	Unexpected int64   `json:"unexpected,omitempty"`
	Rejected   int64   `json:"rejected,omitempty"`
	// SetupP50Ms and SetupP99Ms are upper bounds (sipp's buckets: 1, 2, 5,
	// 10, 20, 50, 100, 200, 500, 1000 ms; -1: above 1 s) of INVITE to 200.
	SetupP50Ms  float64 `json:"setup_p50_ms_le,omitempty"`
	SetupP99Ms  float64 `json:"setup_p99_ms_le,omitempty"`
	SetupMeanMs float64 `json:"setup_mean_ms,omitempty"`
}

// figures turns sipp's statistics into a report's.
func figures(st sippStats, uas bool) *SIPFigures {
	f := &SIPFigures{Attempted: st.Outgoing, Successful: st.Successful, Failed: st.Failed, Unfinished: st.Current,
		Seconds: round2(st.Seconds()), Retrans: st.Retrans, Timeouts: st.Timeouts, Unexpected: st.Unexpected, Rejected: st.Rejected}
	if uas {
		f.Attempted = st.Incoming
	}
	if s := st.Seconds(); s > 0 {
		f.CallsPerS = round2(float64(st.Successful) / s)
	}
	q := func(p float64) float64 {
		v := st.setupQuantile(p)
		if math.IsInf(v, 1) {
			return -1
		}
		return v
	}
	if !uas && len(st.Setup) > 0 {
		f.SetupP50Ms, f.SetupP99Ms = q(0.5), q(0.99)
		f.SetupMeanMs = round2(float64(st.SetupMean) / 1e6)
	}
	return f
}

func (o options) checkSIP() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.rateCalls <= 0 || o.rateCalls > maxSIPRate {
		add("-rate-calls %g: want more than 0 and at most %d in -mode sip", o.rateCalls, maxSIPRate)
	}
	if n := o.sipCalls(); n < 1 || n > maxSIPCalls {
		add("-rate-calls × -duration: %d calls: want 1 to %d", n, maxSIPCalls)
	}
	if o.hold < 0 || o.hold > time.Minute {
		add("-hold %s: want 0 to 1m", o.hold)
	}
	switch o.sipAgents {
	case "phones":
		if o.agentPassword == "" {
			add("-sip-agents phones needs -agent-password (the password of -write-config)")
		}
		if o.agents < 1 || o.agents > maxAgents {
			add("-agents %d: want 1 to %d", o.agents, maxAgents)
		}
	case "none":
	default:
		add("-sip-agents %q: want phones or none", o.sipAgents)
	}
	if _, err := parseSIPTarget(o.sipAddr); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// defaultSIPAgents is enough agents for rate calls a second that each
// keep an agent busy for busy (ring and hold) and up to half a second more
// (routing, the offer, the answer, the BYEs), with a fifth to spare: an
// agent takes one call at a time.
func defaultSIPAgents(rate float64, busy time.Duration) int {
	return int(min(int64(maxAgents), max(10, int64(math.Ceil(rate*(busy.Seconds()+0.5)*1.2)))))
}

// sipCalls is the calls of a -mode sip run: -rate-calls × -duration.
func (o options) sipCalls() int64 {
	return int64(math.Round(o.rateCalls * o.duration.Seconds()))
}

// parseSIPTarget checks -sip-addr: contactd's SIP UDP address, on this
// machine.
func parseSIPTarget(addr string) (*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "udp://"))
	if err != nil {
		return nil, fmt.Errorf("-sip-addr %q: want host:port (contactd's sip_listen udp address): %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-sip-addr %q: want a loopback address (127.0.0.0/8 or ::1)", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("-sip-addr %q: bad port", addr)
	}
	return &net.UDPAddr{IP: ip, Port: p}, nil
}

// sipPassword is agent k's SIP password in -mode sip (unique per agent, as
// contactd requires; URI-safe).
func sipPassword(agentPassword string, k int) string {
	return fmt.Sprintf("%s-sip%d", agentPassword, k)
}

// sipUsername is agent k's SIP username.
func sipUsername(prefix string, k int) string { return fmt.Sprintf("%s%d-phone", prefix, k) }

// runSIP runs -mode sip and returns the report.
func (r *runner) runSIP(ctx context.Context) (*report, error) {
	o := r.o
	sr := &SIPReport{SIPAgents: o.sipAgents, Rate: o.rateCalls, Calls: o.sipCalls(), HoldMs: float64(o.hold.Milliseconds()), RingMs: float64(o.ring.Milliseconds())}
	rep := &report{Mode: o.mode, Label: o.label, Agents: o.agents, SIPReport: sr}
	if o.sipAgents == "none" {
		rep.Agents = 0
	}
	sr.Number = sipNumberAnswer
	if o.sipAgents == "phones" {
		sr.Number = sipNumberEarly
	}
	if o.sipNumber != "" {
		sr.Number = o.sipNumber
	}
	if v, err := sippVersion(o.sipp); err == nil {
		sr.SippVersion = v
	} else {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ccload-sip-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		r.logf("sipp files kept in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := writeScenarios(dir); err != nil {
		return nil, err
	}
	srv, err := newServerWatch(o.serverPID)
	if err != nil {
		return nil, err
	}
	if srv != nil {
		rep.ServerPID, rep.ServerGOMAXPROCS, rep.ServerRSSBaseMB = o.serverPID, srv.gomaxprocs, round2(srv.base)
	}
	target, _ := parseSIPTarget(o.sipAddr)
	calls := strconv.FormatInt(sr.Calls, 10)
	rate := strconv.FormatFloat(o.rateCalls, 'f', -1, 64)
	hold := strconv.FormatInt(o.hold.Milliseconds(), 10)
	// A run should take calls/rate + hold; sipp gets that and a minute.
	budget := time.Duration(float64(sr.Calls)/o.rateCalls*float64(time.Second)) + o.hold + time.Minute
	uac := func(to string) []string {
		return []string{to, "-sf", filepath.Join(dir, "uac.xml"), "-s", sr.Number, "-i", "127.0.0.1",
			"-p", strconv.Itoa(freePort()), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort()),
			"-r", rate, "-m", calls, "-d", hold, "-l", strconv.Itoa(o.sipLimit), "-buff_size", "8388608",
			"-recv_timeout", "10000", "-timeout", fmt.Sprintf("%ds", int(budget.Seconds())), "-max_recv_loops", "10000", "-max_sched_loops", "10000"}
	}
	uas := func(port int) []string {
		return []string{"-sf", filepath.Join(dir, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
			"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort()), "-buff_size", "8388608",
			"-max_recv_loops", "10000", "-max_sched_loops", "10000"}
	}

	// The direct run.
	if o.sipDirect {
		port := freePort()
		callee, err := startSipp(ctx, o.sipp, dir, "direct_uas", uas(port)...)
		if err != nil {
			return nil, err
		}
		if !waitBound(port, 10*time.Second) {
			callee.stop(5 * time.Second)
			return nil, fmt.Errorf("sipp's callee did not open 127.0.0.1:%d\n%s", port, tailText(callee.out.String(), 2000))
		}
		r.logf("direct: sipp -> sipp, %s calls at %s/s, hold %s ms", calls, rate, hold)
		caller, err := startSipp(ctx, o.sipp, dir, "direct_uac", uac(fmt.Sprintf("127.0.0.1:%d", port))...)
		if err != nil {
			callee.stop(5 * time.Second)
			return nil, err
		}
		werr := caller.wait(budget + 10*time.Second)
		callee.stop(10 * time.Second)
		if werr != nil {
			return nil, werr
		}
		st, err := caller.stats()
		if err != nil {
			return nil, err
		}
		sr.Direct = figures(st, false)
		r.logf("direct: %d of %d successful, %d failed, %.0f calls/s", st.Successful, st.Outgoing, st.Failed, sr.Direct.CallsPerS)
	}

	// Through contactd.
	var phones *phonePool
	if o.sipAgents == "phones" {
		agentCtx, stopAgents := context.WithCancel(ctx)
		defer stopAgents()
		t0 := time.Now()
		agents, err := r.startAgents(ctx, agentCtx)
		rep.AgentSetupS = round2(time.Since(t0).Seconds())
		if err != nil {
			return nil, err
		}
		defer func() {
			for _, a := range agents {
				a.stop(context.Background())
			}
		}()
		r.logf("%d agents available at the desk in %.1fs", len(agents), rep.AgentSetupS)
		if phones, err = newPhonePool(r, nil); err != nil {
			return nil, err
		}
		defer phones.close()
		n, err := phones.register(ctx, target)
		if err != nil {
			r.logf("phones: %v", err)
		}
		sr.Phones, sr.PhonesReg = o.agents, n
		r.logf("phones: %d of %d registered (contact %s)", n, o.agents, phones.localAddr())
		if n < int64(o.agents) {
			r.st.fail("phone_not_registered")
		}
	}
	r.logf("contactd: sipp -> %s number %s, %s calls at %s/s, hold %s ms", target, sr.Number, calls, rate, hold)
	var cpuFrom time.Duration
	if srv != nil {
		cpuFrom = srv.cpu()
	}
	t0 := time.Now()
	caller, err := startSipp(ctx, o.sipp, dir, "contactd_uac", uac(target.String())...)
	if err != nil {
		return nil, err
	}
	werr := caller.wait(budget + 10*time.Second)
	elapsed := time.Since(t0)
	if srv != nil {
		cpu := srv.cpu() - cpuFrom
		rep.ServerCPUS = round2(cpu.Seconds())
		sr.ServerCPUPct = round2(100 * cpu.Seconds() / elapsed.Seconds())
		rep.ServerRSSMB = round2(srv.sample())
		rep.ServerRSSMaxMB = round2(srv.max())
	}
	if werr != nil {
		return nil, werr
	}
	st, err := caller.stats()
	if err != nil {
		return nil, err
	}
	sr.Contactd = figures(st, false)
	r.logf("contactd: %d of %d successful, %d failed, %.0f calls/s", st.Successful, st.Outgoing, st.Failed, sr.Contactd.CallsPerS)
	if phones != nil {
		// contactd's BYEs to the phones follow the callers' by moments.
		deadline := time.Now().Add(5 * time.Second)
		for phones.figures().Unfinished > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		sr.AgentPhones = phones.figures()
		r.logf("agents' phones: %d calls rung, %d completed (ended by contactd's BYE), %d cancelled, %d open",
			sr.AgentPhones.Attempted, sr.AgentPhones.Successful, sr.AgentPhones.Failed, sr.AgentPhones.Unfinished)
	}
	if sr.Direct != nil && sr.Direct.CallsPerS > 0 {
		sr.Ratio = round2(sr.Contactd.CallsPerS / sr.Direct.CallsPerS)
	}
	rep.DurationS = round2(elapsed.Seconds())
	rep.Errors, rep.ErrorKinds, rep.CleanupErrors, rep.CleanupKinds = r.st.errors()
	rep.GOMAXPROCS, rep.NumCPU = runtime.GOMAXPROCS(0), runtime.NumCPU()
	rep.CPUS = round2(selfCPU().Seconds())
	rep.LoadAvg = loadAvg()
	rep.ElapsedS = round2(r.now().Seconds())
	rep.Time = time.Now().UTC().Format(time.RFC3339)
	return rep, nil
}

// sippVersion runs sipp -v: "SIPp v3.6.1-..." (it exits 99).
func sippVersion(sipp string) (string, error) {
	out, _ := execOutput(sipp, "-v")
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "SIPp v") {
			return strings.TrimSuffix(strings.Fields(l)[1], ","), nil
		}
	}
	return "", errors.New("-sipp " + sipp + ": not sipp, or not installed (Debian: apt-get install sip-tester)")
}

// freePort is a UDP port on 127.0.0.1 free a moment ago (sipp wants
// numbers).
func freePort() int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitBound waits until something listens on UDP 127.0.0.1:port (sipp has
// started), up to d.
func waitBound(port int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return true // taken: sipp is there
		}
		c.Close()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
