// Command ccload is contactd's load generator. It drives a running contactd
// over the browser protocol (docs/PROTOCOL.md) with real WebSockets, as many
// visitors and agents at once, and ends by printing one JSON line of
// figures on standard output (progress and warnings go to standard error).
//
//	ccload -write-config -agents 126 -agent-password PW > load.yaml
//	contactd --config load.yaml --http-addr 127.0.0.1:8080 --data-dir /tmp/load &
//	ccload -mode chat -addr 127.0.0.1:8080 -clients 500 -duration 20s -agent-password PW
//	ccload -mode idle -addr 127.0.0.1:8080 -clients 10000 -duration 10s -server-pid $PID
//	ccload -mode voice -addr 127.0.0.1:8080 -clients 200 -rate-calls 10 -duration 20s -agent-password PW -server-pid $PID
//	ccload -mode sip -addr 127.0.0.1:8080 -sip-addr 127.0.0.1:5060 -rate-calls 1000 -duration 30s -agent-password PW -server-pid $PID
//	ccload -mode sip-media -sip-agents phones -addr ... -sip-addr ... -clients 200 -rate-calls 10 -duration 20s -agent-password PW
//	ccload -report load.jsonl -out docs/BENCHMARKS.md -note "what else ran"
//
// Chat mode: agents load1..loadM log in (POST /api/login), connect, go
// available and accept every offer. Visitors start a session in queue
// "load" (POST /api/widget/session), connect, wait until an agent has
// joined, then each sends -rate messages a second, open loop (on a timer,
// not waiting for the previous answer, so a slow server shows as latency
// rather than as fewer messages). A message carries its send time; the
// agent's connection that receives it records receive time minus send time
// (one process, one monotonic clock). Agents only receive (unless -echo),
// so the figure is one direction, visitor to agent, through the whole
// server path: command, group commit to the store, delivery. The visitor
// also records the time to its ack (sent once the message is committed).
//
// Visitors start evenly over -ramp; the measurement window is the
// -duration that follows. Only messages sent in the window count towards
// msgs_per_s and the percentiles. Then visitors stop, wait up to 5 s for
// their answers, end their conversation and close; agents go offline and
// close. Whatever happens, ccload stops at ramp + duration + 30 s after the
// visitors start (agents' setup before that is bounded by -setup-timeout).
//
// Idle mode: visitors only start a session and connect (no agents), stay
// idle for the duration and report; with -server-pid, contactd's resident
// memory (VmRSS) before, at the end and at most.
//
// Voice mode (voice.go): -clients calls between pion peers bridged by
// contactd, started -rate-calls a second; see voice.go.
//
// SIP modes (sipmode.go, sipmedia.go; config from -write-config -mode sip
// or sip-media): -mode sip places short calls without media with sipp,
// first sipp to sipp, then through contactd's trunk to agents whose phones
// are ccload's, and reports calls a second, failures and the ratio;
// -mode sip-media is voice mode with phone callers (raw SIP, plain RTP) to
// agents in the browser or on ccload's phones. scripts/sipload.sh runs
// both; see docs/BENCHMARKS.md, "SIP".
//
// Clients are spread over loopback source addresses (127.0.x.y for
// visitors, 100 per address; another 127.b.x.y block for agents, 8 per
// address): contactd limits commands (200/s, bursts of 400, widget
// sessions included) and logins (10 a minute) per address, as it should
// for real visitors who each have their own. With -sources 1 everything
// comes from one address and the ramp is slowed to 150 sessions/s.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "ccload:", err)
		os.Exit(1)
	}
}

// Bounds on what one ccload may start.
const (
	maxClients        = 20000
	maxAgents         = 5000
	maxDuration       = time.Hour
	maxRate           = 20 // the server's per-connection command rate
	visitorsPerSource = 100
	agentsPerSource   = 8 // logins: 10 a minute per address
	// sessionsPerSecondPerSource keeps widget sessions from one address
	// under the server's 200 commands a second.
	sessionsPerSecondPerSource = 150
)

type options struct {
	mode          string
	addr          string
	clients       int
	agents        int
	capacity      int
	duration      time.Duration
	ramp          time.Duration
	rate          float64
	echo          bool
	queue         string
	agentPrefix   string
	agentPassword string
	sources       int
	concurrency   int
	setupTimeout  time.Duration
	serverPID     int
	label         string
	writeConfig   bool
	report        string
	out           string
	note          string
	quiet         bool
	cpuProfile    string
	trace         bool
	rateCalls     float64 // voice
	baseline      int     // voice
	pacers        int     // voice
	// -mode sip and sip-media (sipmode.go, sipmedia.go)
	sipp      string
	sipAddr   string
	sipNumber string
	sipAgents string
	sipDirect bool
	sipLimit  int
	hold      time.Duration
	ring      time.Duration
	keep      bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("ccload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "chat", "chat (visitors send, agents receive), idle (visitors connect and stay idle) or voice (calls between pion peers through contactd)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "contactd's host:port: a loopback address (127.0.0.0/8, ::1) or localhost only")
	fs.IntVar(&o.clients, "clients", 100, fmt.Sprintf("visitors (at most %d); in voice mode, calls (at most %d)", maxClients, maxCalls))
	fs.IntVar(&o.agents, "agents", 0, "agents (chat mode); default ceil(clients/capacity)+1")
	fs.IntVar(&o.capacity, "capacity", 4, "chats per agent: written by -write-config, and used for the default -agents")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "the measurement window, after the ramp")
	fs.DurationVar(&o.ramp, "ramp", 0, "start visitors evenly over this time; default clients/200 per second, at least 2s")
	fs.Float64Var(&o.rate, "rate", 1, "messages a second per visitor (chat mode)")
	fs.BoolVar(&o.echo, "echo", false, "agents answer every message; the visitor measures agent-to-visitor latency too")
	fs.StringVar(&o.queue, "queue", "load", "the queue visitors ask for")
	fs.StringVar(&o.agentPrefix, "agent-prefix", "load", "agent ids are this prefix and 1..agents")
	fs.StringVar(&o.agentPassword, "agent-password", "", "the agents' password (chat mode and -write-config)")
	fs.IntVar(&o.sources, "sources", 0, fmt.Sprintf("loopback source addresses for visitors; default one per %d visitors (IPv4 targets only)", visitorsPerSource))
	fs.IntVar(&o.concurrency, "concurrency", 256, "visitor and agent setups in progress at once")
	fs.DurationVar(&o.setupTimeout, "setup-timeout", 3*time.Minute, "how long agents may take to log in and go available")
	fs.IntVar(&o.serverPID, "server-pid", 0, "contactd's process id, to report its memory and CPU time")
	fs.StringVar(&o.label, "label", "", "free text copied to the report (such as the store)")
	fs.BoolVar(&o.writeConfig, "write-config", false, "print a contactd config fragment with the queue and the agents, and exit")
	fs.StringVar(&o.report, "report", "", "read ccload JSON lines from this file and write the table into -out, and exit")
	fs.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "the markdown file -report updates")
	fs.StringVar(&o.note, "note", "", "for -report: what else ran on the machine")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress on standard error")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write ccload's own CPU profile to this file")
	fs.BoolVar(&o.trace, "trace", false, "print every message received (but the lists of operators) on standard error")
	fs.Float64Var(&o.rateCalls, "rate-calls", 10, "voice: new calls a second until -clients are up (the ramp)")
	fs.IntVar(&o.baseline, "baseline", 10, "voice: direct pion-to-pion pairs (no contactd) measured beside the calls, for the added delay; 0: none")
	fs.IntVar(&o.pacers, "pacers", 10, "voice: pacers (goroutines sending every peer's frames every 20 ms), started evenly over the 20 ms")
	fs.StringVar(&o.sipp, "sipp", "sipp", "sip: the sipp program (Debian sip-tester)")
	fs.StringVar(&o.sipAddr, "sip-addr", "", "sip, sip-media: contactd's SIP UDP address (host:port of sip_listen's udp://, on this machine)")
	fs.StringVar(&o.sipNumber, "sip-number", "", "sip, sip-media: the trunk number called; default "+sipNumberAnswer+" (answered at once) with -sip-agents none, "+sipNumberEarly+" (early media until an agent answers) otherwise")
	fs.StringVar(&o.sipAgents, "sip-agents", "", "sip, sip-media: who takes the calls: phones (agents at the desk, their phones registered by ccload; default of sip), none (sip only: nobody; calls answered at once and queued, the caller hangs up) or browser (sip-media only, its default: agents at the desk with pion peers)")
	fs.BoolVar(&o.sipDirect, "sip-direct", true, "sip: first run the same calls from sipp to sipp without contactd, for the ratio")
	fs.IntVar(&o.sipLimit, "sip-limit", 5000, "sip: sipp's limit of simultaneous calls (-l)")
	fs.DurationVar(&o.hold, "hold", 0, "sip: how long a call stays up after the ACK before the caller's BYE")
	fs.DurationVar(&o.ring, "ring", 0, "sip, sip-media: how long the agents' phones ring (180) before they answer (200); 0: they answer at once")
	fs.BoolVar(&o.keep, "keep", false, "sip: keep sipp's scenarios, statistics and error logs (the directory is logged)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.report != "" || o.writeConfig {
		if o.writeConfig && o.agents == 0 {
			o.agents = defaultAgents(o.clients, o.capacity)
			if o.mode == "sip" {
				o.agents = defaultSIPAgents(o.rateCalls, o.ring+o.hold)
			}
		}
		return o, o.checkConfig()
	}
	if o.mode == "chat" && !set["agents"] {
		o.agents = defaultAgents(o.clients, o.capacity)
	}
	if o.mode == "idle" {
		o.agents = 0
	}
	if o.mode == "sip" {
		if o.sipAgents == "" {
			o.sipAgents = "phones"
		}
		if !set["agents"] {
			o.agents = defaultSIPAgents(o.rateCalls, o.ring+o.hold)
		}
		if !set["duration"] {
			o.duration = 10 * time.Second
		}
		return o, o.check()
	}
	if o.mode == "sip-media" {
		if o.sipAgents == "" {
			o.sipAgents = "browser"
		}
		if o.sipNumber == "" {
			o.sipNumber = sipNumberEarly
		}
	}
	if o.mode == "voice" || o.mode == "sip-media" {
		if err := o.voiceDefaults(set); err != nil {
			return o, err
		}
		return o, o.check()
	}
	if !set["ramp"] {
		o.ramp = max(2*time.Second, time.Duration(float64(o.clients)/200*float64(time.Second)))
	}
	return o, o.check()
}

// defaultAgents is enough agents for every visitor, and one more.
func defaultAgents(clients, capacity int) int {
	if capacity < 1 {
		return 1
	}
	return (clients+capacity-1)/capacity + 1
}

func (o options) checkConfig() error {
	if o.writeConfig {
		switch {
		case o.agentPassword == "":
			return errors.New("-write-config needs -agent-password")
		case o.agents < 1 || o.agents > maxAgents:
			return fmt.Errorf("-agents %d: want 1 to %d", o.agents, maxAgents)
		case o.capacity < 1 || o.capacity > 1000:
			return fmt.Errorf("-capacity %d: want 1 to 1000", o.capacity)
		}
	}
	return nil
}

func (o options) check() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.mode {
	case "chat":
		if o.agentPassword == "" {
			add("-mode chat needs -agent-password (the password of -write-config)")
		}
		if o.agents < 1 || o.agents > maxAgents {
			add("-agents %d: want 1 to %d", o.agents, maxAgents)
		}
		if o.capacity < 1 {
			add("-capacity %d: want 1 or more", o.capacity)
		}
		if o.rate <= 0 || o.rate > maxRate {
			add("-rate %g: want more than 0 and at most %d (the server's limit per connection)", o.rate, maxRate)
		}
	case "idle":
	case "voice":
		errs = append(errs, o.checkVoice()...)
	case "sip":
		errs = append(errs, o.checkSIP()...)
	case "sip-media":
		errs = append(errs, o.checkVoice()...)
		if o.sipAgents != "browser" && o.sipAgents != "phones" {
			add("-sip-agents %q: want browser or phones in -mode sip-media", o.sipAgents)
		}
		if _, err := parseSIPTarget(o.sipAddr); err != nil {
			errs = append(errs, err)
		}
	default:
		add("-mode %q: want chat, idle, voice, sip or sip-media", o.mode)
	}
	if o.clients < 1 || o.clients > maxClients {
		add("-clients %d: want 1 to %d", o.clients, maxClients)
	}
	if o.duration <= 0 || o.duration > maxDuration {
		add("-duration %s: want more than 0 and at most %s", o.duration, maxDuration)
	}
	if o.ramp < 0 || o.ramp > maxDuration {
		add("-ramp %s: want 0 to %s", o.ramp, maxDuration)
	}
	if o.sources < 0 || o.sources > maxSourcesPerBlock {
		add("-sources %d: want 0 (automatic) to %d", o.sources, maxSourcesPerBlock)
	}
	if o.concurrency < 1 || o.concurrency > 10000 {
		add("-concurrency %d: want 1 to 10000", o.concurrency)
	}
	if o.setupTimeout <= 0 {
		add("-setup-timeout %s: want more than 0", o.setupTimeout)
	}
	if _, err := parseTarget(o.addr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	switch {
	case o.writeConfig:
		return writeConfig(stdout, o)
	case o.report != "":
		return writeReport(o.report, o.out, o.note)
	}
	t, err := parseTarget(o.addr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r := newRunner(o, t, stderr)
	run := r.run
	switch o.mode {
	case "voice":
		run = r.runVoice
	case "sip":
		run = r.runSIP
	case "sip-media":
		run = r.runVoice
	}
	rep, err := run(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// report is the JSON line ccload prints. Message counts and latencies are
// for the messages sent in the measurement window; milliseconds are
// rounded to 0.01.
type report struct {
	Mode       string  `json:"mode"`
	Label      string  `json:"label,omitempty"`
	Clients    int     `json:"clients"`
	Agents     int     `json:"agents"`
	Capacity   int     `json:"capacity,omitempty"`
	Rate       float64 `json:"rate,omitempty"`
	Echo       bool    `json:"echo,omitempty"`
	DurationS  float64 `json:"duration_s"`
	RampS      float64 `json:"ramp_s"`
	Sources    int     `json:"sources"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	NumCPU     int     `json:"num_cpu"`

	Connected      int64 `json:"connected"`
	Joined         int64 `json:"joined"`
	JoinedByWindow int64 `json:"joined_by_window"`
	Offers         int64 `json:"offers,omitempty"`
	ReplayedOffers int64 `json:"replayed_offers,omitempty"`
	Leftovers      int64 `json:"leftovers_ended,omitempty"`
	Operators      int64 `json:"operators_msgs,omitempty"`

	Sent           int64   `json:"sent"`
	Acked          int64   `json:"acked"`
	Delivered      int64   `json:"delivered"`
	Lost           int64   `json:"lost"`
	Skipped        int64   `json:"skipped"`
	SentTotal      int64   `json:"sent_total"`
	DeliveredTotal int64   `json:"delivered_total"`
	MsgsPerS       float64 `json:"msgs_per_s"`
	OfferedPerS    float64 `json:"offered_per_s"`
	P50ms          float64 `json:"p50_ms"`
	P90ms          float64 `json:"p90_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	AckP50ms       float64 `json:"ack_p50_ms"`
	AckP99ms       float64 `json:"ack_p99_ms"`
	Echoed         int64   `json:"echoed,omitempty"`
	EchoP50ms      float64 `json:"echo_p50_ms,omitempty"`
	EchoP99ms      float64 `json:"echo_p99_ms,omitempty"`

	ConnectP50ms float64 `json:"connect_p50_ms"`
	ConnectP95ms float64 `json:"connect_p95_ms"`
	ConnectP99ms float64 `json:"connect_p99_ms"`
	SetupP50ms   float64 `json:"setup_p50_ms"`
	SetupP95ms   float64 `json:"setup_p95_ms"`
	SetupP99ms   float64 `json:"setup_p99_ms"`
	AgentSetupS  float64 `json:"agent_setup_s"`

	Errors         int64            `json:"errors"`
	ErrorKinds     map[string]int64 `json:"error_kinds,omitempty"`
	CleanupErrors  int64            `json:"cleanup_errors"`
	CleanupKinds   map[string]int64 `json:"cleanup_error_kinds,omitempty"`
	SessionRetries int64            `json:"session_retries"`

	RSSMB    float64 `json:"rss_mb"`
	RSSMaxMB float64 `json:"rss_max_mb"`
	CPUS     float64 `json:"cpu_s"`
	// CPUWindowS is ccload's own CPU time in the window; LoadAvg the
	// machine's load averages (1, 5, 15 minutes) as the window ended: what
	// else took the cores shows there.
	CPUWindowS float64 `json:"cpu_window_s,omitempty"`
	LoadAvg    string  `json:"load_avg,omitempty"`

	ServerPID        int     `json:"server_pid,omitempty"`
	ServerGOMAXPROCS string  `json:"server_gomaxprocs,omitempty"`
	ServerRSSBaseMB  float64 `json:"server_rss_base_mb,omitempty"`
	ServerRSSMB      float64 `json:"server_rss_mb,omitempty"`
	ServerRSSMaxMB   float64 `json:"server_rss_max_mb,omitempty"`
	ServerKBPerConn  float64 `json:"server_kb_per_conn,omitempty"`
	ServerCPUS       float64 `json:"server_cpu_s,omitempty"`

	// Voice mode only (voice.go).
	*VoiceReport
	// SIP mode only (sipmode.go).
	*SIPReport

	HardStop bool    `json:"hard_stop,omitempty"`
	ElapsedS float64 `json:"elapsed_s"`
	Time     string  `json:"time"`
}

// fill copies the counters and latencies into the report.
func (rep *report) fill(st *stats, window time.Duration) {
	rep.Connected, rep.Joined, rep.JoinedByWindow = st.connected.Load(), st.joined.Load(), st.joinedByWin.Load()
	rep.Offers, rep.ReplayedOffers, rep.Leftovers = st.offers.Load(), st.replayedOffers.Load(), st.leftovers.Load()
	rep.Operators = st.operators.Load()
	rep.Sent, rep.Acked, rep.Delivered = st.sent.Load(), st.acked.Load(), st.delivered.Load()
	rep.Lost = max(0, rep.Sent-rep.Delivered)
	rep.Skipped, rep.SentTotal, rep.DeliveredTotal = st.skipped.Load(), st.sentTotal.Load(), st.deliveredTotal.Load()
	if s := window.Seconds(); s > 0 {
		rep.MsgsPerS, rep.OfferedPerS = round2(float64(rep.Delivered)/s), round2(float64(rep.Sent)/s)
	}
	d := st.delivery.summary()
	rep.P50ms, rep.P90ms, rep.P99ms, rep.MaxMs = ms(d.p50), ms(d.p90), ms(d.p99), ms(d.max)
	a := st.ack.summary()
	rep.AckP50ms, rep.AckP99ms = ms(a.p50), ms(a.p99)
	rep.Echoed = st.echoed.Load()
	if e := st.echo.summary(); e.n > 0 {
		rep.EchoP50ms, rep.EchoP99ms = ms(e.p50), ms(e.p99)
	}
	c := st.connect.summary()
	rep.ConnectP50ms, rep.ConnectP95ms, rep.ConnectP99ms = ms(c.p50), ms(c.p95), ms(c.p99)
	s := st.setup.summary()
	rep.SetupP50ms, rep.SetupP95ms, rep.SetupP99ms = ms(s.p50), ms(s.p95), ms(s.p99)
	rep.Errors, rep.ErrorKinds, rep.CleanupErrors, rep.CleanupKinds = st.errors()
	rep.SessionRetries = st.sessionRetries.Load()
	rep.GOMAXPROCS, rep.NumCPU = runtime.GOMAXPROCS(0), runtime.NumCPU()
}
