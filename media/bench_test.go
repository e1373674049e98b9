package media_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// BenchmarkForward measures the server's CPU per relayed packet: N bridged
// calls (2N legs), every browser sending 50 packets a second, so the
// engine relays 100·N packets a second (one packet in and one out each).
// The browsers are mediatest peers in a child process (this test binary,
// running as the load client, see TestMain), so the getrusage figure of this process
// is the engine's alone. The child also measures the end-to-end delay and
// the loss.
//
//	go test -run '^$' -bench Forward -benchtime 1x -cpu 1 ./media/
//
// MEDIA_BENCH_PAIRS (default "50,200") and MEDIA_BENCH_SECONDS (default
// 10) change the sizes and the measuring window; MEDIA_BENCH_CLIENT_PROCS
// is the child's GOMAXPROCS (default 1).
func BenchmarkForward(b *testing.B) {
	sizes := []int{50, 200}
	if s := os.Getenv("MEDIA_BENCH_PAIRS"); s != "" {
		sizes = nil
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("MEDIA_BENCH_PAIRS: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	window := 10 * time.Second
	if s := os.Getenv("MEDIA_BENCH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("MEDIA_BENCH_SECONDS: %v", err)
		}
		window = time.Duration(n) * time.Second
	}
	for _, pairs := range sizes {
		b.Run(fmt.Sprintf("calls=%d", pairs), func(b *testing.B) {
			for range b.N {
				benchForward(b, pairs, window)
			}
		})
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// loadMsg is the protocol between the benchmark and its child, one JSON
// object per line.
type loadMsg struct {
	I      int    `json:"i,omitempty"`
	Offer  string `json:"offer,omitempty"`
	Answer string `json:"answer,omitempty"`
	Cmd    string `json:"cmd,omitempty"` // "start", "measure", "stop"
	Report *loadReport
}

type loadReport struct {
	Sent, Received, Lost uint64
	P50, P99, Max        time.Duration
	CPU, Wall            time.Duration // the client's CPU time over its measuring window
	// Over the whole run, counted after sending stopped and the packets in
	// flight arrived.
	TotalSent, TotalReceived uint64
}

func benchForward(b *testing.B, pairs int, window time.Duration) {
	b.StopTimer()
	cfg := media.Config{ListenAddr: "127.0.0.1:0", MediaTimeout: time.Minute}
	if os.Getenv("MEDIA_BENCH_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := media.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()

	toChildR, toChildW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	fromChildR, fromChildW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	procs := os.Getenv("MEDIA_BENCH_CLIENT_PROCS")
	if procs == "" {
		procs = "1"
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MEDIA_LOAD_CLIENT=1", "GOMAXPROCS="+procs,
		"MEDIA_LOAD_PEERS="+strconv.Itoa(2*pairs))
	cmd.ExtraFiles = []*os.File{toChildR, fromChildW} // fd 3 and 4 in the child
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	toChildR.Close()
	fromChildW.Close()
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	enc := json.NewEncoder(toChildW)
	dec := json.NewDecoder(bufio.NewReader(fromChildR))

	legs := make([]*media.Leg, 2*pairs)
	var finished atomic.Bool
	var connected sync.WaitGroup
	connected.Add(len(legs))
	setupStart := time.Now()
	for i := range legs {
		var once sync.Once
		legs[i], err = e.NewLeg(strconv.Itoa(i), media.LegHandler{
			OnConnected: func() { once.Do(connected.Done) },
			OnEnded: func(cause string) {
				if !finished.Load() {
					b.Errorf("leg %d ended: %s", i, cause)
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var setup []time.Duration
	for range legs {
		var m loadMsg
		if err := dec.Decode(&m); err != nil {
			b.Fatalf("from the client: %v", err)
		}
		t0 := time.Now()
		answer, err := legs[m.I].HandleOffer(m.Offer)
		if err != nil {
			b.Fatalf("leg %d: %v", m.I, err)
		}
		setup = append(setup, time.Since(t0))
		if err := enc.Encode(loadMsg{I: m.I, Answer: answer}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < len(legs); i += 2 {
		media.Bridge(legs[i], legs[i+1])
	}
	if err := enc.Encode(loadMsg{Cmd: "start"}); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { connected.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("not every leg connected")
	}
	b.Logf("%d legs connected in %v; HandleOffer p50 %v, max %v", len(legs),
		time.Since(setupStart).Round(time.Millisecond), pct(setup, 50), pct(setup, 100))

	time.Sleep(2 * time.Second) // warm up: the measurement starts in steady state
	counts := func() (in, out uint64) {
		for _, l := range legs {
			s := l.Stats()
			in += s.PacketsIn
			out += s.PacketsOut
		}
		return in, out
	}
	mallocs := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.Mallocs
	}
	if err := enc.Encode(loadMsg{Cmd: "measure"}); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	udp0 := udpErrors()
	in0, pk0 := counts()
	m0, cpu0, t0 := mallocs(), cpuTime(), time.Now()
	stopProfiles := profileWindow(b, pairs)
	b.StartTimer()
	time.Sleep(window)
	b.StopTimer()
	stopProfiles()
	cpu1, t1, m1 := cpuTime(), time.Now(), mallocs()
	in1, pk1 := counts()
	udp1 := udpErrors()
	finished.Store(true)
	if err := enc.Encode(loadMsg{Cmd: "stop"}); err != nil {
		b.Fatal(err)
	}
	var rep loadMsg
	if err := dec.Decode(&rep); err != nil || rep.Report == nil {
		b.Fatalf("client report: %v", err)
	}
	totalIn, totalOut := counts() // the browsers have stopped and drained
	for _, l := range legs {
		l.Close()
	}

	packets := float64(pk1 - pk0)
	cpu := cpu1 - cpu0
	secs := t1.Sub(t0).Seconds()
	r := rep.Report
	b.ReportMetric(float64(cpu.Nanoseconds())/packets, "cpu-ns/pkt")
	b.ReportMetric(packets/secs, "pkts/s")
	b.ReportMetric(100*cpu.Seconds()/secs, "cpu-%")
	b.ReportMetric(100*float64(r.Lost)/float64(max(r.Received+r.Lost, 1)), "loss-%")
	b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(r.Max.Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(m1-m0)/packets, "allocs/pkt")
	b.Logf("%d calls: %.0f relayed packets/s, %.1f µs CPU each (%.0f%% of a core, GOMAXPROCS %d), %.2f allocations each",
		pairs, packets/secs, float64(cpu.Nanoseconds())/packets/1000, 100*cpu.Seconds()/secs, runtime.GOMAXPROCS(0),
		float64(m1-m0)/packets)
	// The engine keeps the gaps of each source in the sequence numbers it
	// sends, so a gap at a receiving browser is a packet lost anywhere
	// between the two browsers.
	b.Logf("steady state (the window): %d packets received by the browsers, %d lost end to end (by sequence number); %d UDP receive errors on the machine",
		r.Received, r.Lost, udp1-udp0)
	b.Logf("whole run, set-up included: browsers sent %d, engine received %d (%d lost on the way in) and sent %d, browsers received %d (%d lost on the way out)",
		r.TotalSent, totalIn, int64(r.TotalSent)-int64(totalIn), totalOut, r.TotalReceived,
		int64(totalOut)-int64(r.TotalReceived))
	b.ReportMetric(float64(int64(r.TotalSent)-int64(totalIn)), "lost-in")
	b.ReportMetric(float64(int64(totalOut)-int64(r.TotalReceived)), "lost-out")
	_ = in1 - in0
	st := e.Stats()
	if st.Throttled > 0 {
		b.Errorf("the engine throttled %d datagrams of the browsers", st.Throttled)
	}
	b.Logf("engine: %+v", st)
	b.Logf("the browsers' process: %.0f%% of a core (GOMAXPROCS %s); load average %s",
		100*r.CPU.Seconds()/r.Wall.Seconds(), procs, loadAverage())
	b.Logf("end-to-end delay (send by the browser to arrival at the other browser, both processes on this machine): p50 %v, p99 %v, max %v",
		r.P50, r.P99, r.Max)
	toChildW.Close()
}

// udpErrors is the machine's count of UDP datagrams dropped on receive
// (full socket buffers), from /proc/net/snmp; 0 where it cannot be read.
func udpErrors() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if (name == "RcvbufErrors" || name == "InErrors") && i < len(f) {
				if v, err := strconv.ParseUint(f[i], 10, 64); err == nil && name == "RcvbufErrors" {
					return v
				}
			}
		}
	}
	return 0
}

// profileWindow writes, when MEDIA_BENCH_PROFILE names a directory, a CPU
// profile of the measuring window and heap profiles at its start and end
// (compare them with go tool pprof -diff_base to see the allocations of
// the steady state only).
func profileWindow(b *testing.B, pairs int) (stop func()) {
	dir := os.Getenv("MEDIA_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	name := func(kind string) string { return fmt.Sprintf("%s/forward-%d-%s.prof", dir, pairs, kind) }
	heap := func(kind string) {
		f, err := os.Create(name(kind))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		runtime.GC() // the profile is as of the last collection
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	// Sampling every 4 KB sees the steady state's allocations without
	// costing the CPU profile much.
	runtime.MemProfileRate = 4096
	heap("heap-start")
	cpu, err := os.Create(name("cpu"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		heap("heap-end")
		b.Logf("profiles of the window in %s", dir)
	}
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return s[i]
}

// TestMain runs the tests, or, in the child process of BenchmarkForward
// (MEDIA_LOAD_CLIENT=1), the browsers.
func TestMain(m *testing.M) {
	if os.Getenv("MEDIA_LOAD_CLIENT") == "1" {
		if err := loadClient(); err != nil {
			fmt.Fprintln(os.Stderr, "load client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// loadClient is the child process of BenchmarkForward: the browsers, one
// mediatest peer per leg, talking to the benchmark over fds 3 and 4.
func loadClient() error {
	n, _ := strconv.Atoi(os.Getenv("MEDIA_LOAD_PEERS"))
	in := json.NewDecoder(bufio.NewReader(os.NewFile(3, "from-bench")))
	out := json.NewEncoder(os.NewFile(4, "to-bench"))
	pacer := mediatest.NewPacer(2 * time.Millisecond) // browsers send independently
	defer pacer.Close()

	type stream struct {
		mu          sync.Mutex
		first, last uint16
		got         uint64
		delays      []time.Duration
	}
	var measuring atomic.Bool
	peers := make([]*mediatest.Peer, n)
	streams := make([]*stream, n)
	var peersMu sync.Mutex // the reader goroutine looks peers up as they are made
	ctx := context.Background()

	// The send time goes in the first eight bytes of every payload.
	gen := func(_ uint16, p []byte) {
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		for i := 8; i < len(p); i++ {
			p[i] = 0xFF
		}
	}
	// Messages from the benchmark are read while offers are still being
	// made: a pipe holds only a few answers.
	readDone := make(chan error, 1)
	go func() {
		var sent0 uint64
		var cpu0 time.Duration
		var wall0 time.Time
		for {
			var m loadMsg
			if err := in.Decode(&m); err != nil {
				readDone <- err
				return
			}
			peersMu.Lock()
			all := slices.Clone(peers)
			peersMu.Unlock()
			switch {
			case m.Answer != "":
				if err := all[m.I].Accept(m.Answer); err != nil {
					readDone <- err
					return
				}
			case m.Cmd == "start":
				for _, p := range all {
					p.StartSending(gen)
				}
			case m.Cmd == "measure":
				for _, p := range all {
					sent0 += p.Stats().PacketsSent
				}
				cpu0, wall0 = cpuTime(), time.Now()
				measuring.Store(true)
			case m.Cmd == "stop":
				measuring.Store(false)
				rep := &loadReport{CPU: cpuTime() - cpu0, Wall: time.Since(wall0)}
				var delays []time.Duration
				for _, p := range all {
					p.StopSending()
				}
				time.Sleep(500 * time.Millisecond) // what is in flight arrives
				for i, p := range all {
					ps := p.Stats()
					rep.Sent += ps.PacketsSent
					rep.TotalSent += ps.PacketsSent
					rep.TotalReceived += ps.PacketsReceived
					st := streams[i]
					st.mu.Lock()
					if st.got > 0 {
						expected := uint64(st.last-st.first) + 1
						rep.Received += st.got
						if expected > st.got {
							rep.Lost += expected - st.got
						}
					}
					delays = append(delays, st.delays...)
					st.mu.Unlock()
				}
				rep.Sent -= sent0
				rep.P50, rep.P99, rep.Max = pct(delays, 50), pct(delays, 99), pct(delays, 100)
				if err := out.Encode(loadMsg{Report: rep}); err != nil {
					readDone <- err
					return
				}
				for _, p := range all {
					_ = p.Close()
				}
				readDone <- nil
				return
			}
		}
	}()
	for i := range peers {
		p, err := mediatest.New(mediatest.Config{Pacer: pacer})
		if err != nil {
			return err
		}
		st := &stream{}
		streams[i] = st
		p.OnPacket(func(pk mediatest.Packet) {
			if !measuring.Load() || len(pk.Payload) < 8 {
				return
			}
			sent := int64(binary.BigEndian.Uint64(pk.Payload))
			st.mu.Lock()
			if st.got == 0 {
				st.first = pk.SequenceNumber
			}
			st.last = pk.SequenceNumber
			st.got++
			st.delays = append(st.delays, pk.Arrival.Sub(time.Unix(0, sent)))
			st.mu.Unlock()
		})
		peersMu.Lock()
		peers[i] = p
		peersMu.Unlock()
		offer, err := p.Offer(ctx, mediatest.OfferOptions{Complete: true})
		if err != nil {
			return err
		}
		if err := out.Encode(loadMsg{I: i, Offer: offer}); err != nil {
			return err
		}
	}
	if err := <-readDone; err != nil && err != io.EOF {
		return err
	}
	return nil
}
