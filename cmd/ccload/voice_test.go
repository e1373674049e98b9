package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/app"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media/mediatest"
	"github.com/contactd/contactd/routing"
)

func TestVoiceFlags(t *testing.T) {
	tests := []struct {
		args       []string
		agents     int
		ramp       time.Duration
		wantErrSub string
	}{
		{[]string{"-clients", "200"}, 212, 20 * time.Second, ""},
		{[]string{"-clients", "3", "-rate-calls", "5"}, 5, 600 * time.Millisecond, ""},
		{[]string{"-clients", "10", "-agents", "4"}, 4, time.Second, ""},
		{[]string{"-clients", "10", "-ramp", "5s"}, 0, 0, "-ramp"},
		{[]string{"-clients", "3000"}, 0, 0, "-clients 3000"},
		{[]string{"-rate-calls", "0"}, 0, 0, "-rate-calls 0"},
		{[]string{"-baseline", "-1"}, 0, 0, "-baseline -1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseFlags(append([]string{"-mode", "voice", "-agent-password", "pw"}, tt.args...), io.Discard)
			if tt.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
					t.Fatalf("parseFlags(%q) = %v, want an error with %q", tt.args, err, tt.wantErrSub)
				}
				return
			}
			if err != nil || o.agents != tt.agents || o.ramp != tt.ramp {
				t.Fatalf("parseFlags(%q): agents %d ramp %s err %v; want %d, %s", tt.args, o.agents, o.ramp, err, tt.agents, tt.ramp)
			}
		})
	}
	if _, err := parseFlags([]string{"-mode", "voice"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-agent-password") {
		t.Fatalf("voice mode without a password: %v", err)
	}
}

func TestPayloadsCarryTheirFlowSendTimeAndSequence(t *testing.T) {
	r := &runner{base: time.Now().Add(-time.Second)}
	r.winFrom.Store(0)
	r.winTo.Store(int64(time.Hour))
	var live atomic.Bool
	m := &meter{h: new(hist)}
	f := &flow{id: 7, live: &live, m: m}
	send, hear := r.payloader(f), r.listener(f)
	b := make([]byte, mediatest.FrameSize)

	send(0, b) // not live yet: sent, not counted
	hear(mediatest.Packet{Payload: b, Arrival: time.Now()})
	live.Store(true)
	for _, seq := range []uint16{1, 2, 5} { // the pacer skipped 3 and 4
		send(seq, b)
		hear(mediatest.Packet{Payload: b, Arrival: time.Now().Add(2 * time.Millisecond)})
	}
	hear(mediatest.Packet{Payload: b, Arrival: time.Now()}) // the last one again
	other := &flow{id: 8, live: &live, m: m}
	r.payloader(other)(0, b)
	hear(mediatest.Packet{Payload: b, Arrival: time.Now()})                               // another flow's
	hear(mediatest.Packet{Payload: bytes.Repeat([]byte{0xFF}, 160), Arrival: time.Now()}) // music, silence

	if m.sentAll.Load() != 5 || m.sent.Load() != 4 || m.recv.Load() != 4 || m.recvAll.Load() != 5 {
		t.Fatalf("sent %d (%d counted), received %d (%d counted)", m.sentAll.Load(), m.sent.Load(), m.recvAll.Load(), m.recv.Load())
	}
	if m.skipped.Load() != 2 {
		t.Fatalf("skipped %d, want 2", m.skipped.Load())
	}
	if m.reordered.Load() != 1 || m.strays.Load() != 1 {
		t.Fatalf("reordered %d strays %d, want 1 and 1", m.reordered.Load(), m.strays.Load())
	}
	if d := m.h.quantile(50); d < 2*time.Millisecond || d > time.Second {
		t.Fatalf("delay %v, want about 2 ms", d)
	}
	if b[payloadHead] != 0xFF || b[payloadHead+100] != 0xFF {
		t.Fatalf("the rest of the payload is not silence: % x", b[:32])
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := new(hist)
	if h.quantile(99) != 0 {
		t.Fatal("an empty histogram has a p99")
	}
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	if got := h.quantile(50); got != 50*time.Millisecond+histStep {
		t.Fatalf("p50 %v", got)
	}
	if got := h.quantile(100); got != 100*time.Millisecond {
		t.Fatalf("p100 %v, want the largest", got)
	}
	h.add(3 * time.Second) // past the last bucket
	h.add(-time.Millisecond)
	if got := h.quantile(100); got != 3*time.Second {
		t.Fatalf("p100 %v", got)
	}
	if got := h.quantile(0.1); got != histStep {
		t.Fatalf("p0.1 %v (a negative delay counts as 0)", got)
	}
}

func TestOnlyThisMachinesCandidatesAreKept(t *testing.T) {
	local := func(ip net.IP) bool { return ip != nil && (ip.IsLoopback() || ip.String() == "10.1.2.3") }
	sdp := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n" +
		"a=candidate:2 1 udp 2130706431 10.1.2.3 40000 typ host\r\n" +
		"a=candidate:3 1 udp 1694498815 203.0.113.9 40000 typ srflx raddr 0.0.0.0 rport 0\r\n" +
		"a=candidate:4 1 udp 2130706431 abcd.local 40000 typ host\r\n" +
		"a=end-of-candidates\r\n"
	got, n := localSDP(sdp, local)
	if n != 2 || !strings.Contains(got, "127.0.0.1 40000") || !strings.Contains(got, "10.1.2.3") ||
		strings.Contains(got, "203.0.113.9") || strings.Contains(got, ".local") || !strings.HasSuffix(got, "a=end-of-candidates\r\n") {
		t.Fatalf("kept %d:\n%s", n, got)
	}
	if localCandidate("candidate:3 1 udp 1 8.8.8.8 9 typ host", local) {
		t.Fatal("a public address was kept")
	}
}

func TestVoiceRunsHaveASectionOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	chatLines, voiceLines := filepath.Join(dir, "chat.jsonl"), filepath.Join(dir, "voice.jsonl")
	chat, _ := json.Marshal(report{Mode: "chat", Clients: 10, Agents: 3, Capacity: 4, Time: "2026-11-21T12:00:00Z"})
	voice, _ := json.Marshal(report{Mode: "voice", Clients: 200, Agents: 212, DurationS: 20, P50ms: 0.4, P99ms: 1.9, SetupP95ms: 61,
		ServerPID: 1, ServerGOMAXPROCS: "2", GOMAXPROCS: 2, Time: "2026-11-21T12:00:00Z",
		VoiceReport: &VoiceReport{Calls: 200, RateCalls: 10, Pacers: 4, BaselinePairs: 10, BaselineP99ms: 0.8, P99AddedMs: 1.1,
			CPUPctServer: 63.5, CPUPctCCload: 88, CPUPctOthers: 12, LossPct: 0.005}})
	os.WriteFile(md, []byte("# Benchmarks\n\nHand-written.\n"), 0o644)
	os.WriteFile(chatLines, []byte(string(chat)+"\n"), 0o644)
	os.WriteFile(voiceLines, []byte(string(voice)+"\n"), 0o644)
	// Chat first, then voice, then chat again: each replaces its own.
	for _, in := range []string{chatLines, voiceLines, chatLines} {
		if err := writeReport(in, md, "a build"); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(md)
	doc := string(got)
	for _, want := range []string{"Hand-written.", "| chat | – | 10 (0) | 3 × 4 |", voiceHeading + "\n\n" + voiceBegin, "| calls (connected) |",
		"| – | 200 (200) | 212 | 10 | 4 | 20 | 0 (0); 0 | 0.005 | 0.4 | 1.9 | 0.8 | 1.1 |", "| 63.5 / 88 / 12 |", "2 / 2 |", "also running: a build", voiceEnd} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	if strings.Count(doc, voiceBegin) != 1 || strings.Count(doc, loadBegin) != 1 || strings.Contains(doc, "| voice |") {
		t.Errorf("sections repeated, or a voice run in the chat table:\n%s", doc)
	}
}

// TestVoiceCallsThroughARealServer starts contactd in this process with the
// config ccload writes (voice on a free loopback port), runs three calls
// and two direct pairs for two seconds, and checks that every call
// connected, audio went both ways unchanged and nothing was lost.
func TestVoiceCallsThroughARealServer(t *testing.T) {
	cfg := loadConfig(t, "-agents", "4", "-capacity", "1", "-agent-password", "pw")
	if !cfg.VoiceOn() {
		t.Fatalf("voice is off in the config ccload writes: media_addr %q", cfg.MediaAddr)
	}
	for _, ag := range cfg.Agents {
		if ag.Capacity[routing.ChannelVoice] != 1 {
			t.Fatalf("agent %s: capacity %v, want one call", ag.ID, ag.Capacity)
		}
	}
	a, err := app.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	before := runtime.NumGoroutine()

	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args := []string{"-mode", "voice", "-addr", a.Addr(), "-sources", "1", "-server-pid", strconv.Itoa(os.Getpid()),
		"-clients", "3", "-agents", "4", "-rate-calls", "5", "-duration", "2s", "-baseline", "2", "-agent-password", "pw"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("ccload %q: %v\n%s", args, err, errs.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("ccload printed %d lines, want one JSON line:\n%s", n, out.String())
	}
	var fields map[string]any
	if err := json.Unmarshal(out.Bytes(), &fields); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"mode", "clients", "duration_s", "gomaxprocs", "server_gomaxprocs", "calls", "loss_pct", "p50_ms", "p99_ms",
		"p99_added_ms", "baseline_p99_ms", "setup_p95_ms", "ice_p95_ms", "cpu_pct_server", "cpu_pct_ccload", "server_rss_mb", "rss_mb", "errors"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("the JSON line has no %s: %s", k, out.String())
		}
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.VoiceReport == nil {
		t.Fatalf("not a voice report: %v\n%s", err, out.String())
	}
	v := rep.VoiceReport
	if rep.Mode != "voice" || v.Calls != 3 || rep.Connected != 3 || rep.Errors != 0 || rep.CleanupErrors != 0 || rep.HardStop {
		t.Fatalf("report %s\n%s", out.String(), errs.String())
	}
	// Three calls, both ways, 50 packets a second, for up to 2 s.
	if rep.Sent < 200 || rep.Delivered != rep.Sent || rep.Lost != 0 || v.LossPct != 0 || v.Strays != 0 {
		t.Fatalf("packets: sent %d delivered %d lost %d (%g%%), strays %d\n%s", rep.Sent, rep.Delivered, rep.Lost, v.LossPct, v.Strays, out.String())
	}
	if v.BaselinePairs != 2 || v.BaselineSent < 100 || v.BaselineReceived != v.BaselineSent {
		t.Fatalf("baseline: %d pairs, sent %d received %d", v.BaselinePairs, v.BaselineSent, v.BaselineReceived)
	}
	if rep.P50ms <= 0 || rep.P99ms < rep.P50ms || rep.MaxMs < rep.P99ms || v.BaselineP99ms <= 0 || rep.SetupP95ms <= 0 || v.ICEP95ms <= 0 ||
		v.ICEP95ms > rep.SetupP95ms*2 || v.AgentLegP95ms <= 0 {
		t.Fatalf("latencies: %s", out.String())
	}
	if rep.DurationS != 2 || v.CPUPctServer <= 0 || v.CPUPctCCload <= 0 || rep.ServerRSSMB <= 0 || rep.GOMAXPROCS < 1 || rep.ServerGOMAXPROCS == "" {
		t.Fatalf("report %s", out.String())
	}

	// The calls ended and the agents went offline: nothing is left open.
	var open int
	a.Router().Query(t.Context(), func(e *routing.Engine) { open = e.OpenInteractions() })
	if open != 0 {
		t.Fatalf("%d interactions still open after the run", open)
	}
	testutil.GoroutinesAtMost(t, before+2)
}
