package main

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/contactd/contactd/media/mediatest"
)

// Each RTP payload ccload sends in voice mode (one 20 ms G.711 frame, 160
// bytes) carries, in network byte order:
//
//	0:4    the marker "ccLV" (ringback, music and silence from the server
//	       have none, so they are not counted)
//	4      flags: flagCounted when sent in the window on a connected call
//	8:16   the send time: nanoseconds since the run began (monotonic)
//	16:20  the flow's id: a call's visitor 2k, its agent 2k+1; baseline
//	       pairs above every call's
//	20:24  the flow's own sequence number (contactd rewrites RTP's)
//
// and μ-law silence (0xFF) after.
var voiceMarker = [4]byte{'c', 'c', 'L', 'V'}

const (
	flagCounted = 1
	payloadHead = 24
)

// meter counts the packets of many flows: those counted (sent, then
// received with their one-way delay) and the oddities.
type meter struct {
	sent, recv        atomic.Int64 // counted packets
	sentAll, recvAll  atomic.Int64 // every marked packet
	reordered, strays atomic.Int64 // late sequence numbers; packets of another flow
	altered           atomic.Int64 // payloads changed after the head (not 0xFF)
	skipped           atomic.Int64 // frames the pacer left out in the window: ccload was behind
	h                 *hist        // delays of counted packets
}

// flow is one direction of a call (or a baseline pair): the sender writes
// seq on the pacer's goroutine, the receiver's fields are only touched on
// the receiving peer's reader goroutine.
type flow struct {
	id   uint32
	live *atomic.Bool // the call is connected: count
	m    *meter
	seq  uint32 // sender
	rtp  uint16 // sender: the last RTP sequence number
	sent bool   // sender: rtp is set
	last uint32 // receiver: the highest sequence seen
	got  bool
}

// payloader returns the PayloadFunc of f's sender. It does not allocate.
func (r *runner) payloader(f *flow) mediatest.PayloadFunc {
	return func(rtpSeq uint16, b []byte) {
		now := r.now()
		var flags byte
		if f.live.Load() && r.inWindow(now) {
			flags = flagCounted
			f.m.sent.Add(1)
			// The pacer skips the frames of a tick that came far too late
			// (ccload starved of CPU); RTP's sequence number counts them.
			if gap := rtpSeq - f.rtp - 1; f.sent && gap > 0 && gap < 1000 {
				f.m.skipped.Add(int64(gap))
			}
		}
		f.rtp, f.sent = rtpSeq, true
		f.m.sentAll.Add(1)
		copy(b, voiceMarker[:])
		b[4], b[5], b[6], b[7] = flags, 0, 0, 0
		binary.BigEndian.PutUint64(b[8:], uint64(now))
		binary.BigEndian.PutUint32(b[16:], f.id)
		binary.BigEndian.PutUint32(b[20:], f.seq)
		f.seq++
		for i := payloadHead; i < len(b); i++ {
			b[i] = 0xFF
		}
	}
}

// listener returns the OnPacket callback of the peer that hears f. It
// does not allocate.
func (r *runner) listener(f *flow) func(mediatest.Packet) {
	return func(pk mediatest.Packet) {
		b := pk.Payload
		if len(b) < payloadHead || [4]byte(b[:4]) != voiceMarker {
			return // tones, music, silence
		}
		if binary.BigEndian.Uint32(b[16:]) != f.id {
			f.m.strays.Add(1) // somebody else's audio, or our own echoed
			return
		}
		f.m.recvAll.Add(1)
		for _, x := range b[payloadHead:] {
			if x != 0xFF {
				f.m.altered.Add(1)
				break
			}
		}
		seq := binary.BigEndian.Uint32(b[20:])
		if f.got && int32(seq-f.last) <= 0 {
			f.m.reordered.Add(1)
		} else {
			f.last, f.got = seq, true
		}
		if b[4]&flagCounted == 0 {
			return
		}
		f.m.recv.Add(1)
		f.m.h.add(pk.Arrival.Sub(r.base) - time.Duration(binary.BigEndian.Uint64(b[8:])))
	}
}

// hist is a histogram of delays in 10 µs steps up to a second (the last
// bucket takes everything above), safe for concurrent adds: 20,000 packets
// a second for minutes fit in fixed memory.
type hist struct {
	n, max atomic.Int64
	b      [histBins]atomic.Int64
}

const (
	histStep = 10 * time.Microsecond
	histBins = int(time.Second / histStep)
)

func (h *hist) add(d time.Duration) {
	d = max(d, 0)
	h.b[min(int(d/histStep), histBins-1)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile is the nearest-rank percentile p, as the upper edge of its
// bucket (at most the largest value seen).
func (h *hist) quantile(p float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(p/100*float64(n))), 1)
	mx := time.Duration(h.max.Load())
	var c int64
	for i := range h.b {
		if c += h.b[i].Load(); c >= rank {
			if i == histBins-1 {
				return mx
			}
			return min(time.Duration(i+1)*histStep, mx)
		}
	}
	return mx
}

// VoiceReport is what voice mode adds to the JSON line. In voice mode the
// chat fields sent, delivered, lost, msgs_per_s, offered_per_s, p50_ms,
// p90_ms, p99_ms and max_ms are about RTP packets through contactd (both
// directions, counted ones: sent in the window on a connected call), and
// joined is the calls that connected.
type VoiceReport struct {
	Calls         int64   `json:"calls"` // calls connected
	CallsByWindow int64   `json:"calls_by_window"`
	RateCalls     float64 `json:"rate_calls"`
	Pacers        int     `json:"pacers"`
	LossPct       float64 `json:"loss_pct"`
	Reordered     int64   `json:"reordered"`
	Strays        int64   `json:"strays"`
	// SendSkipped counts the frames ccload's pacer did not send in the
	// window because it was behind (starved of CPU): the calls carried that
	// much less than 50 packets a second each.
	SendSkipped int64   `json:"send_skipped"`
	P50AddedMs  float64 `json:"p50_added_ms"`
	P99AddedMs  float64 `json:"p99_added_ms"`

	BaselinePairs    int     `json:"baseline_pairs"`
	BaselineSent     int64   `json:"baseline_sent"`
	BaselineReceived int64   `json:"baseline_received"`
	BaselineP50ms    float64 `json:"baseline_p50_ms"`
	BaselineP99ms    float64 `json:"baseline_p99_ms"`
	BaselineMaxMs    float64 `json:"baseline_max_ms"`

	AnswerP95ms   float64 `json:"answer_p95_ms"`    // call_offer to the server's answer
	ICEP50ms      float64 `json:"ice_p50_ms"`       // call_offer to the visitor's leg connected
	ICEP95ms      float64 `json:"ice_p95_ms"`       //
	AgentLegP95ms float64 `json:"agent_leg_p95_ms"` // the agent's call_offer to its leg connected

	CPUPctServer float64 `json:"cpu_pct_server,omitempty"` // contactd's CPU in the window, % of one core
	// ServerUsPerPacket is contactd's CPU in the window per packet it
	// forwarded (received from one leg, sent to the other) and ccload
	// counted: what DESIGN.md compares with Janus's 68-90 µs per packet.
	ServerUsPerPacket float64 `json:"server_cpu_us_per_packet,omitempty"`
	CPUPctCCload      float64 `json:"cpu_pct_ccload"` // ccload's
	CCloadCPUS        float64 `json:"ccload_cpu_s_window"`
	// The whole machine's busy time in the window (every process, in % of
	// one core: 100 × cores when full), and what is left after contactd
	// and ccload (with -server-pid): what else ran.
	CPUPctMachine float64 `json:"cpu_pct_machine"`
	CPUPctOthers  float64 `json:"cpu_pct_others,omitempty"`

	// Altered counts marked packets whose payload after the head was not
	// the μ-law silence sent: contactd changed the audio (gain, or a
	// transcoding) on the way.
	Altered int64 `json:"altered"`
	// -mode sip-media: who took the calls (browser or phones) and the
	// trunk number called.
	SIPAgents string `json:"sip_media_agents,omitempty"`
	SIPNumber string `json:"sip_media_number,omitempty"`
	// DeskLegAsks counts the times contactd asked the desk of an agent on
	// a phone to open a browser leg (needLeg); ccload's desks do not.
	DeskLegAsks int64 `json:"desk_leg_asks,omitempty"`
}

// machineCPU is the time every core of the machine spent busy (not idle,
// not waiting for I/O) since boot, from /proc/stat.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0
		}
		// user nice system idle iowait irq softirq steal guest guest_nice:
		// guest time is already in user.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// fill puts the packet figures into the report.
func (vr *voiceRun) fill(rep *report, window time.Duration) {
	v := rep.VoiceReport
	m := &vr.calls
	rep.Sent, rep.Delivered = m.sent.Load(), m.recv.Load()
	rep.Lost = max(0, rep.Sent-rep.Delivered)
	rep.SentTotal, rep.DeliveredTotal = m.sentAll.Load(), m.recvAll.Load()
	rep.MsgsPerS, rep.OfferedPerS = 0, 0
	if s := window.Seconds(); s > 0 {
		rep.MsgsPerS, rep.OfferedPerS = round2(float64(rep.Delivered)/s), round2(float64(rep.Sent)/s)
	}
	if rep.Sent > 0 {
		v.LossPct = math.Round(100*float64(rep.Lost)/float64(rep.Sent)*1000) / 1000
	}
	p50, p99 := m.h.quantile(50), m.h.quantile(99)
	rep.P50ms, rep.P90ms, rep.P99ms, rep.MaxMs = ms(p50), ms(m.h.quantile(90)), ms(p99), ms(time.Duration(m.h.max.Load()))
	v.Reordered, v.Strays, v.SendSkipped = m.reordered.Load(), m.strays.Load(), m.skipped.Load()
	v.Altered = m.altered.Load()
	v.DeskLegAsks = vr.deskLegAsks.Load()
	v.Calls, v.CallsByWindow = rep.Joined, rep.JoinedByWindow

	d := &vr.direct
	v.BaselineSent, v.BaselineReceived = d.sent.Load(), d.recv.Load()
	if d.h.n.Load() > 0 {
		b50, b99 := d.h.quantile(50), d.h.quantile(99)
		v.BaselineP50ms, v.BaselineP99ms, v.BaselineMaxMs = ms(b50), ms(b99), ms(time.Duration(d.h.max.Load()))
		v.P50AddedMs, v.P99AddedMs = ms(p50-b50), ms(p99-b99)
	}
	v.AnswerP95ms = ms(vr.answer.summary().p95)
	ice := vr.ice.summary()
	v.ICEP50ms, v.ICEP95ms = ms(ice.p50), ms(ice.p95)
	v.AgentLegP95ms = ms(vr.agentLeg.summary().p95)
	if rep.Delivered > 0 && rep.ServerCPUS > 0 {
		v.ServerUsPerPacket = round2(rep.ServerCPUS * 1e6 / float64(rep.Delivered))
	}
}

// The markers around the part of docs/BENCHMARKS.md that -report writes
// from voice runs.
const (
	voiceBegin   = "<!-- voice:begin (written by `make loadtest`; edits here are lost) -->"
	voiceEnd     = "<!-- voice:end -->"
	voiceHeading = "### Voice (ccload -mode voice)"
)

// renderVoice is the voice section: where and when, and a row a run.
func renderVoice(reps []report, note, where string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", voiceBegin)
	when := time.Now().UTC().Format("2006-01-02 15:04 MST")
	if t, err := time.Parse(time.RFC3339, reps[len(reps)-1].Time); err == nil {
		when = t.UTC().Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(&b, "Measured %s on %s. contactd and ccload ran on this machine at the same time and shared its cores", when, where)
	if note != "" {
		fmt.Fprintf(&b, "; also running: %s", note)
	}
	b.WriteString(". Packets and delays are the RTP packets sent in the window on connected calls, both directions " +
		"(50 a second each way per call; **frames not sent**: frames ccload's pacers skipped because ccload itself was short of CPU). " +
		"**direct p99** is the same delay between pion peer pairs that talk to each other without contactd, in the same run; " +
		"**added** is the difference of the p99s. **setup** is the visitor's `call_offer` to `call` state connected; **ICE** " +
		"the visitor's leg connected. CPU is over the window in percent of one core (200 is the whole machine); **others** is " +
		"every other process on the machine; **µs per packet** is contactd's CPU time in the window per packet it " +
		"forwarded (received from one leg, sent to the other).\n\n")
	b.WriteString("| store | calls (connected) | agents | calls/s | pacers | window s | packets/s (sent); frames not sent | loss % | p50 ms | p99 ms | direct p99 ms | p99 added ms | max ms | setup p95 ms | ICE p95 ms | errors | CPU % contactd / ccload / others | contactd CPU µs per packet | contactd RSS MB (start → end, max) | ccload RSS MB | GOMAXPROCS contactd / ccload |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range reps {
		v := r.VoiceReport
		if v == nil {
			v = &VoiceReport{}
		}
		dash := "–"
		label := r.Label
		if label == "" {
			label = dash
		}
		cpu, rss, procs, perPkt := fmt.Sprintf("– / %s / –", num(v.CPUPctCCload)), dash, dash, dash
		if r.ServerPID != 0 {
			cpu = fmt.Sprintf("%s / %s / %s", num(v.CPUPctServer), num(v.CPUPctCCload), num(v.CPUPctOthers))
			rss = fmt.Sprintf("%s → %s, %s", num(r.ServerRSSBaseMB), num(r.ServerRSSMB), num(r.ServerRSSMaxMB))
			procs = r.ServerGOMAXPROCS
			if r.Delivered > 0 {
				perPkt = num(r.ServerCPUS * 1e6 / float64(r.Delivered))
			}
		}
		procs += fmt.Sprintf(" / %d", r.GOMAXPROCS)
		direct, added := dash, dash
		if v.BaselinePairs > 0 {
			direct, added = num(v.BaselineP99ms), num(v.P99AddedMs)
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %d | %s | %d | %s | %s (%s); %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			label, r.Clients, v.Calls, r.Agents, num(v.RateCalls), v.Pacers, num(r.DurationS), num(r.MsgsPerS), num(r.OfferedPerS), v.SendSkipped,
			strconv.FormatFloat(v.LossPct, 'f', -1, 64), num(r.P50ms), num(r.P99ms), direct, added, num(r.MaxMs), num(r.SetupP95ms),
			num(v.ICEP95ms), errText(r), cpu, perPkt, rss, num(r.RSSMB), procs)
	}
	fmt.Fprintf(&b, "\n%s", voiceEnd)
	return b.String()
}

// errText is a run's errors as the tables show them.
func errText(r report) string {
	s := fmt.Sprint(r.Errors)
	if len(r.ErrorKinds) > 0 {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, r.ErrorKinds[k]))
		}
		s += " (" + strings.Join(kinds, ", ") + ")"
	}
	if r.CleanupErrors > 0 {
		s += fmt.Sprintf("; %d at cleanup", r.CleanupErrors)
	}
	if r.HardStop {
		s += "; hard stop"
	}
	return s
}
