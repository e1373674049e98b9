package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/app"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

func TestPercentilesAreNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no values give zero", nil, 50, 0},
		{"one value is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"the median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of a hundred is the 99th", ms(seq(100)...), 99, 99 * time.Millisecond},
		{"p99 of ten is the largest", ms(seq(10)...), 99, 10 * time.Millisecond},
		{"p100 is the largest", ms(1, 5, 9), 100, 9 * time.Millisecond},
		{"a tiny percentile is the smallest", ms(3, 4), 0.1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %g) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestLatenciesSummarise(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	s := l.summary()
	if s.n != 100 || s.p50 != 50*time.Millisecond || s.p99 != 99*time.Millisecond || s.max != 100*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if ms(1234567*time.Nanosecond) != 1.23 {
		t.Fatalf("ms rounds to 0.01: %v", ms(1234567*time.Nanosecond))
	}
}

func TestOnlyLoopbackTargetsAreAccepted(t *testing.T) {
	tests := []struct {
		addr, dial string // dial empty: refused
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"127.9.8.7:80", "127.9.8.7:80"},
		{"localhost:8080", "127.0.0.1:8080"},
		{"LOCALHOST:8080", "127.0.0.1:8080"},
		{"[::1]:8080", "[::1]:8080"},
		{"10.0.0.1:8080", ""},
		{"192.168.1.10:80", ""},
		{"0.0.0.0:8080", ""},
		{"[::]:8080", ""},
		{"[2001:db8::1]:8080", ""},
		{"example.com:80", ""},
		{"localhost.example.com:80", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:http", ""},
		{":8080", ""},
	}
	for _, tt := range tests {
		name := tt.addr + " is refused"
		if tt.dial != "" {
			name = tt.addr + " is accepted"
		}
		t.Run(name, func(t *testing.T) {
			tg, err := parseTarget(tt.addr)
			if tt.dial == "" {
				if err == nil {
					t.Fatalf("parseTarget(%q) accepted it: %+v", tt.addr, tg)
				}
				return
			}
			if err != nil || tg.dialAddr != tt.dial || tg.origin != "http://"+tt.addr {
				t.Fatalf("parseTarget(%q) = %+v, %v; want dial %s", tt.addr, tg, err, tt.dial)
			}
		})
	}
}

func TestARunAgainstAnotherHostIsRefusedBeforeAnyConnection(t *testing.T) {
	var out, errs bytes.Buffer
	err := run(t.Context(), []string{"-mode", "idle", "-addr", "93.184.215.14:80", "-clients", "1", "-duration", "1s"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("run against a public address: %v", err)
	}
	if out.Len() > 0 {
		t.Fatalf("printed a report: %s", out.String())
	}
}

func TestFlagDefaults(t *testing.T) {
	tests := []struct {
		args       []string
		agents     int
		ramp       time.Duration
		wantErrSub string
	}{
		{[]string{"-clients", "10"}, 4, 2 * time.Second, ""},
		{[]string{"-clients", "500"}, 126, 2500 * time.Millisecond, ""},
		{[]string{"-clients", "2000", "-capacity", "50"}, 41, 10 * time.Second, ""},
		{[]string{"-clients", "8", "-agents", "3", "-ramp", "0s"}, 3, 0, ""},
		{[]string{"-mode", "idle", "-clients", "100"}, 0, 2 * time.Second, ""},
		{[]string{"-clients", "0"}, 0, 0, "-clients 0"},
		{[]string{"-clients", "30000"}, 0, 0, "-clients 30000"},
		{[]string{"-rate", "50"}, 0, 0, "-rate 50"},
		{[]string{"-mode", "storm"}, 0, 0, `-mode "storm"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"-agent-password", "pw"}, tt.args...)
			o, err := parseFlags(args, io.Discard)
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
	if _, err := parseFlags([]string{"-clients", "5"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-agent-password") {
		t.Fatalf("chat mode without a password: %v", err)
	}
}

// loadConfig writes the config ccload prints and loads it as contactd does.
func loadConfig(t *testing.T, args ...string) config.Config {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), append([]string{"-write-config"}, args...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "load.yaml")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadOutput([]string{"--config", path, "--http-addr", "127.0.0.1:0", "--media-addr", "127.0.0.1:0", "--sip-listen", "off", "--data-dir", dir}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("contactd refuses the config ccload wrote: %v\n%s", err, out.String())
	}
	return cfg
}

func TestTheConfigIsOneQueueAndAgentsWithThePassword(t *testing.T) {
	cfg := loadConfig(t, "-agents", "3", "-capacity", "7", "-agent-password", "s3cret \"quoted\"", "-agent-prefix", "ld")
	if len(cfg.Queues) != 1 {
		t.Fatalf("queues %+v", cfg.Queues)
	}
	q := cfg.Queues[0]
	if q.ID != "load" || len(q.Skills) != 0 || q.OfferTimeout != 2*time.Minute || q.WrapUp != 0 {
		t.Fatalf("queue %+v, want load without skills, offer_timeout 2m, no wrap-up", q)
	}
	if len(cfg.Agents) != 3 {
		t.Fatalf("agents %+v", cfg.Agents)
	}
	for i, a := range cfg.Agents {
		if want := routing.AgentID("ld" + strconv.Itoa(i+1)); a.ID != want || a.Capacity[routing.ChannelChat] != 7 {
			t.Fatalf("agent %d = %+v, want %s with 7 chats", i, a, want)
		}
		if ok, err := auth.VerifyPassword(a.PasswordHash, "s3cret \"quoted\""); !ok || err != nil {
			t.Fatalf("agent %s: the hash does not match the password: %v", a.ID, err)
		}
	}
	if err := run(t.Context(), []string{"-write-config", "-agents", "3"}, io.Discard, io.Discard); err == nil {
		t.Fatal("-write-config without a password was accepted")
	}
}

func TestMessageTextsCarryTheirSendTime(t *testing.T) {
	tests := []struct {
		text string
		want time.Duration
		ok   bool
	}{
		{"ccload 12 3 1500000", 1500 * time.Microsecond, true},
		{"ccload 12 3", 0, false},
		{"hello 1 2 3", 0, false},
		{"ccload 1 2 -5", 0, false},
		{"ccload 1 2 x", 0, false},
	}
	for _, tt := range tests {
		if got, ok := sendTime(tt.text); got != tt.want || ok != tt.ok {
			t.Errorf("sendTime(%q) = %v, %v; want %v, %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := echoTime("ccload-echo 42"); got != 42 || !ok {
		t.Errorf("echoTime = %v, %v", got, ok)
	}
}

func TestTheReportReplacesItsSectionAndKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	os.WriteFile(md, []byte("# Benchmarks\n\n<!-- bench:begin -->\nx\n<!-- bench:end -->\n"), 0o644)
	lines := filepath.Join(dir, "load.jsonl")
	rep := func(mode string, clients int, p99 float64) string {
		b, _ := json.Marshal(report{Mode: mode, Clients: clients, Agents: 3, Capacity: 4, MsgsPerS: 19.5, OfferedPerS: 20, P99ms: p99,
			ServerPID: 1, ServerGOMAXPROCS: "2", GOMAXPROCS: 2, Time: "2026-11-21T12:00:00Z", ErrorKinds: map[string]int64{"not_joined": 2}, Errors: 2})
		return string(b)
	}
	os.WriteFile(lines, []byte("ccload: noise\n"+rep("chat", 10, 12.5)+"\n"+rep("idle", 100, 0)+"\n"), 0o644)
	for range 2 { // twice: the section is replaced, not added again
		if err := writeReport(lines, md, "PostgreSQL idle"); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(md)
	doc := string(got)
	for _, want := range []string{"<!-- bench:end -->\n\n## Load (ccload)\n\n" + loadBegin, "| chat | – | 10 (0) | 3 × 4 |", "| 12.5 |", "not_joined 2",
		"| idle | – | 100 (0) | – |", "also running: PostgreSQL idle", "2 / 2 |", loadEnd} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	if strings.Count(doc, loadHeading) != 1 || strings.Count(doc, loadBegin) != 1 {
		t.Errorf("the section is there more than once:\n%s", doc)
	}
	// Text written by hand around the markers stays.
	os.WriteFile(md, []byte(strings.Replace(doc, loadBegin, "Hand-written.\n\n"+loadBegin, 1)+"Tail.\n"), 0o644)
	if err := writeReport(lines, md, ""); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(md)
	if !strings.Contains(string(got), "Hand-written.\n\n"+loadBegin) || !strings.HasSuffix(string(got), loadEnd+"\nTail.\n") {
		t.Errorf("hand-written text lost:\n%s", got)
	}
}

// TestChatAndIdleAgainstARealServer starts contactd in this process with
// the config ccload writes, and runs both modes briefly. Each agent takes
// one chat: routing does not offer an agent a waiting chat when it accepts
// another (only on arrivals and ends), so with more chats per agent how
// many visitors are served would depend on timing.
func TestChatAndIdleAgainstARealServer(t *testing.T) {
	cfg := loadConfig(t, "-agents", "7", "-capacity", "1", "-agent-password", "pw")
	a, err := app.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	pid := strconv.Itoa(os.Getpid())
	runJSON := func(t *testing.T, args ...string) report {
		t.Helper()
		var out, errs bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		args = append([]string{"-addr", a.Addr(), "-sources", "1", "-server-pid", pid}, args...)
		if err := run(ctx, args, &out, &errs); err != nil {
			t.Fatalf("ccload %q: %v\n%s", args, err, errs.String())
		}
		if n := strings.Count(out.String(), "\n"); n != 1 {
			t.Fatalf("ccload printed %d lines, want one JSON line:\n%s", n, out.String())
		}
		var rep report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out.String())
		}
		return rep
	}

	t.Run("six visitors chat with seven agents", func(t *testing.T) {
		before := runtime.NumGoroutine()
		rep := runJSON(t, "-mode", "chat", "-clients", "6", "-capacity", "1", "-duration", "3s", "-ramp", "1s", "-agent-password", "pw", "-rate", "5")
		if rep.Agents != 7 || rep.Joined != 6 || rep.Errors != 0 || rep.CleanupErrors != 0 {
			t.Fatalf("report %+v", rep)
		}
		// 6 visitors at 5 a second for 3 s: about 90 in the window, fewer
		// if one joined late.
		if rep.Sent < 40 || rep.Delivered != rep.Sent || rep.Acked != rep.Sent || rep.Lost != 0 || rep.MsgsPerS < 13 {
			t.Fatalf("messages: sent %d delivered %d acked %d lost %d, %g/s", rep.Sent, rep.Delivered, rep.Acked, rep.Lost, rep.MsgsPerS)
		}
		if rep.P50ms <= 0 || rep.P99ms < rep.P50ms || rep.MaxMs < rep.P99ms || rep.AckP50ms <= 0 || rep.SetupP95ms <= 0 {
			t.Fatalf("latencies: p50 %g p99 %g max %g ack %g setup %g", rep.P50ms, rep.P99ms, rep.MaxMs, rep.AckP50ms, rep.SetupP95ms)
		}
		if rep.Mode != "chat" || rep.GOMAXPROCS < 1 || rep.ServerRSSMB <= 0 || rep.RSSMB <= 0 || rep.DurationS != 3 {
			t.Fatalf("report %+v", rep)
		}
		// The agents went offline and the chats ended: nothing is left open.
		var open int
		a.Router().Query(t.Context(), func(e *routing.Engine) { open = e.OpenInteractions() })
		if open != 0 {
			t.Fatalf("%d interactions still open after the run", open)
		}
		// Every connection is closed, on both sides.
		testutil.GoroutinesAtMost(t, before+2)
	})

	t.Run("thirty idle visitors connect", func(t *testing.T) {
		rep := runJSON(t, "-mode", "idle", "-clients", "30", "-duration", "3s", "-ramp", "500ms")
		if rep.Connected != 30 || rep.Errors != 0 || rep.Agents != 0 || rep.ConnectP95ms <= 0 || rep.ServerRSSMB <= 0 {
			t.Fatalf("report %+v", rep)
		}
	})
}
