package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/app"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// The statistics file of a real sipp 3.6.1 run of uac.xml: 100 calls at
// 20 a second through contactd (number 1000, answered at once), all
// successful.
func TestSippStatisticsOfARealRunAreRead(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "sipp_contactd_uac.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := parseSippStats(f)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outgoing != 100 || st.Created != 100 || st.Successful != 100 || st.Failed != 0 || st.Current != 0 || st.Incoming != 0 {
		t.Fatalf("counts %+v, want 100 outgoing and successful, none failed", st)
	}
	if s := st.Seconds(); s < 4.9 || s > 5.2 {
		t.Fatalf("the run took %.3f s by its statistics, want about 5 (100 calls at 20/s)", s)
	}
	if len(st.Setup) != 10 || st.Setup[0].UpToMs != 1 || st.Setup[9].UpToMs != 1000 {
		t.Fatalf("setup buckets %+v, want the 10 of uac.xml (1 ms to 1000 ms)", st.Setup)
	}
	var n int64
	for _, b := range st.Setup {
		n += b.N
	}
	if n+st.SetupAbove != 100 {
		t.Fatalf("setup buckets hold %d calls, want 100", n+st.SetupAbove)
	}
	fig := figures(st, false)
	if fig.Attempted != 100 || fig.Successful != 100 || fig.Failed != 0 || math.Abs(fig.CallsPerS-100/st.Seconds()) > 0.01 {
		t.Fatalf("figures %+v", fig)
	}
	if fig.SetupP50Ms <= 0 || fig.SetupP99Ms < fig.SetupP50Ms || fig.SetupMeanMs <= 0 {
		t.Fatalf("setup figures %+v", fig)
	}

	// The callee's side of the direct run: calls counted as incoming.
	g, err := os.Open(filepath.Join("testdata", "sipp_direct_uas.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ust, err := parseSippStats(g)
	if err != nil {
		t.Fatal(err)
	}
	if uf := figures(ust, true); uf.Attempted != 100 || uf.Successful != 100 || uf.Failed != 0 {
		t.Fatalf("uas figures %+v, want 100 incoming, all successful", uf)
	}
}

// A made-up file: failures, calls still running and setup times past the
// last bucket are read as such; quantiles are bucket bounds.
func TestSippStatisticsCountFailuresAndSlowSetups(t *testing.T) {
	cols := []string{"StartTime", "LastResetTime", "CurrentTime", "TotalCallCreated", "CurrentCall", "IncomingCall(C)", "OutgoingCall(C)",
		"SuccessfulCall(C)", "FailedCall(C)", "Retransmissions(C)", "FailedUnexpectedMessage(C)", "FailedTimeoutOnRecv(C)",
		"FailedMaxUDPRetrans(C)", "FailedCallRejected(C)", "DeadCallMsgs(C)", "OutOfCallMsgs(C)", "ResponseTimesetup(C)",
		"ResponseTimeRepartitionsetup", "ResponseTimeRepartitionsetup_<10", "ResponseTimeRepartitionsetup_<100", "ResponseTimeRepartitionsetup_>=100"}
	line := func(now string, created, ok, failed, below10, below100, above int) string {
		return strings.Join([]string{"2026-12-08\t01:00:00.000000\t1796691600.000000", "x", now,
			strconv.Itoa(created), "3", "0", strconv.Itoa(created), strconv.Itoa(ok), strconv.Itoa(failed), "12", "1", "4", "2", "0", "5", "1",
			"00:00:00:042500", "", strconv.Itoa(below10), strconv.Itoa(below100), strconv.Itoa(above)}, ";") + ";"
	}
	csv := strings.Join(cols, ";") + ";\n" +
		line("2026-12-08\t01:00:01.000000\t1796691601.000000", 10, 10, 0, 10, 0, 0) + "\n" +
		line("2026-12-08\t01:00:02.500000\t1796691602.500000", 110, 100, 7, 50, 45, 5) + "\n"
	st, err := parseSippStats(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if st.Outgoing != 110 || st.Successful != 100 || st.Failed != 7 || st.Current != 3 || st.Retrans != 12 || st.Unexpected != 1 ||
		st.Timeouts != 6 || st.DeadMsgs != 6 || st.SetupMean != 42500*time.Microsecond {
		t.Fatalf("the last line's counters: %+v", st)
	}
	if s := st.Seconds(); s != 2.5 {
		t.Fatalf("seconds %g, want 2.5", s)
	}
	if q := st.setupQuantile(0.5); q != 10 {
		t.Fatalf("p50 bound %g, want 10 (50 of 100 below 10 ms)", q)
	}
	if q := st.setupQuantile(0.9); q != 100 {
		t.Fatalf("p90 bound %g, want 100", q)
	}
	if q := st.setupQuantile(0.99); !math.IsInf(q, 1) {
		t.Fatalf("p99 bound %g, want +Inf (5 of 100 at or past 100 ms)", q)
	}
	fig := figures(st, false)
	if fig.SetupP99Ms != -1 || fig.Unfinished != 3 || fig.CallsPerS != 40 {
		t.Fatalf("figures %+v: want p99 -1 (past the last bucket), 3 unfinished, 100/2.5 = 40 calls/s", fig)
	}

	for name, bad := range map[string]string{
		"empty":          "",
		"header only":    strings.Join(cols, ";") + "\n",
		"missing column": "StartTime;CurrentTime\n1;2\n",
		"not a number":   strings.Replace(csv, ";110;", ";many;", 1),
	} {
		if _, err := parseSippStats(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}

// RFC 2617 section 3.5's example, with the method and URI of SIP's place.
func TestDigestAnswersTheRFCExample(t *testing.T) {
	ch := parseChallenge(`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	if ch["realm"] != "testrealm@host.com" || ch["nonce"] != "dcd98b7102dd2f0e8b11d0f600bfb0c093" || ch["qop"] != "auth,auth-int" {
		t.Fatalf("challenge %v", ch)
	}
	got := digestAuthorization("Mufasa", "Circle Of Life", "GET", "/dir/index.html", ch, "0a4f113b")
	for _, want := range []string{`response="6629fae49393a05397450978507c4ef1"`, `qop=auth`, `nc=00000001`, `cnonce="0a4f113b"`,
		`opaque="5ccc069c403ebaf9f0171e9517f40e41"`, `username="Mufasa"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Authorization %s: no %s", got, want)
		}
	}
}

func TestSIPMessagesAreReadAndAnswered(t *testing.T) {
	inv := "INVITE sip:agent@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n" +
		"From: \"Caller\" <sip:+19990000007@127.0.0.1>;tag=a\r\nTo: <sip:load1-phone@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 4 INVITE\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0"
	m, ok := parseSIPMessage([]byte(inv))
	if !ok || m.method != "INVITE" || m.cseqMethod() != "INVITE" || m.body != "v=0" || m.header("call-id") != "c1" {
		t.Fatalf("request %+v", m)
	}
	if n := callerNumber(m.header("From")); n != "+19990000007" {
		t.Fatalf("caller number %q", n)
	}
	ok200 := string(okTo(m, "t9", "sip:agent@127.0.0.1:5070", "v=0\r\n"))
	for _, want := range []string{"SIP/2.0 200 OK\r\n", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n",
		"To: <sip:load1-phone@127.0.0.1>;tag=t9\r\n", "CSeq: 4 INVITE\r\n", "Contact: <sip:agent@127.0.0.1:5070>\r\n", "Content-Length: 5\r\n\r\nv=0\r\n"} {
		if !strings.Contains(ok200, want) {
			t.Errorf("200 OK has no %q:\n%s", want, ok200)
		}
	}
	res, ok := parseSIPMessage([]byte("SIP/2.0 183 Session Progress\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.1:5999;transport=udp>\r\n\r\n"))
	if !ok || res.status != 183 || res.method != "" || res.cseqMethod() != "INVITE" {
		t.Fatalf("response %+v", res)
	}
	uri, addr, err := contactAddr(res.header("Contact"))
	if err != nil || uri != "sip:127.0.0.1:5999;transport=udp" || addr.String() != "127.0.0.1:5999" {
		t.Fatalf("contact %q %v %v", uri, addr, err)
	}
	if _, ok := parseSIPMessage([]byte("HELLO\r\n\r\n")); ok {
		t.Fatal("garbage read as SIP")
	}
}

// loadSIPConfig is what -write-config -mode MODE prints, loaded with SIP
// on a port free a moment ago; it returns the config and the SIP address.
func loadSIPConfig(t *testing.T, args ...string) (config.Config, string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), append([]string{"-write-config"}, args...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"trunks:", `number: "1000"`, `number: "1001"`, "sip_password:", `sources: ["127.0.0.0/8"]`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the config has no %s:\n%s", want, out.String())
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "load.yaml")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sipAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	cfg, err := config.LoadOutput([]string{"--config", path, "--http-addr", "127.0.0.1:0", "--media-addr", "127.0.0.1:0",
		"--sip-listen", "udp://" + sipAddr, "--data-dir", dir}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("contactd refuses the config ccload wrote: %v\n%s", err, out.String())
	}
	return cfg, sipAddr
}

func startApp(t *testing.T, cfg config.Config) *app.App {
	t.Helper()
	a, err := app.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func sippOrSkip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if testutil.RequireEnv("REQUIRE_SIPP") {
			t.Fatal("REQUIRE_SIPP=1 but sipp is not installed (Debian: apt-get install sip-tester)")
		}
		t.Skip("sipp is not installed (Debian sip-tester); set REQUIRE_SIPP=1 to make this a failure")
	}
	return p
}

// The signaling harness end to end at a tiny rate: 10 calls sipp to sipp,
// then the same 10 through a real contactd's trunk number answered at
// once (nobody takes them: -sip-agents none); every call succeeds on both,
// and the JSON line has the figures. The agents' phones register with
// digest (the registrar says 200 for every account).
func TestSIPSignalingHarnessAgainstARealServer(t *testing.T) {
	sipp := sippOrSkip(t)
	cfg, sipAddr := loadSIPConfig(t, "-mode", "sip", "-sip-agents", "none", "-agents", "3", "-capacity", "1", "-agent-password", "pw-for-the-test")
	for _, ag := range cfg.Agents {
		if ag.SIPUsername == "" || len(ag.SIPPassword) < config.MinSIPPassword || ag.VoiceDevice != "browser" {
			t.Fatalf("agent %s: SIP account %q/%d chars, device %q", ag.ID, ag.SIPUsername, len(ag.SIPPassword), ag.VoiceDevice)
		}
	}
	a := startApp(t, cfg)

	// Every phone registers.
	target, err := parseSIPTarget(sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(options{agents: 3, agentPrefix: "load", agentPassword: "pw-for-the-test", concurrency: 1}, target0(t), io.Discard)
	pp, err := newPhonePool(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pp.close()
	if n, err := pp.register(t.Context(), target); n != 3 || err != nil {
		t.Fatalf("%d of 3 phones registered: %v", n, err)
	}
	if err := registerPhone(t.Context(), pp, target, phoneAccount{user: sipUsername("load", 1), password: "not-the-password"}); err == nil ||
		!strings.Contains(err.Error(), "403") && !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong password: %v, want refused", err)
	}

	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{"-mode", "sip", "-sipp", sipp, "-sip-agents", "none", "-addr", a.Addr(), "-sip-addr", sipAddr,
		"-rate-calls", "10", "-duration", "1s", "-server-pid", strconv.Itoa(os.Getpid())}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("ccload %q: %v\n%s", args, err, errs.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("ccload printed %d lines, want one JSON line:\n%s", n, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.SIPReport == nil {
		t.Fatalf("not a SIP report: %v\n%s", err, out.String())
	}
	s := rep.SIPReport
	if rep.Mode != "sip" || s.Calls != 10 || s.Number != sipNumberAnswer || s.Direct == nil || s.Contactd == nil || s.AgentPhones != nil {
		t.Fatalf("report %s", out.String())
	}
	for name, f := range map[string]*SIPFigures{"direct": s.Direct, "contactd": s.Contactd} {
		if f.Attempted != 10 || f.Successful != 10 || f.Failed != 0 || f.Unfinished != 0 || f.CallsPerS <= 0 || f.Seconds <= 0 || f.SetupP99Ms == 0 {
			t.Errorf("%s: %+v, want 10 of 10 successful", name, *f)
		}
	}
	if s.Ratio <= 0 || s.SippVersion == "" || rep.ServerCPUS <= 0 || rep.GOMAXPROCS < 1 {
		t.Fatalf("report %s", out.String())
	}
	// The callers hung up: every call left the queue.
	testutil.Eventually(t, "no interaction left open", func() bool {
		var open int
		a.Router().Query(t.Context(), func(e *routing.Engine) { open = e.OpenInteractions() })
		return open == 0
	})
}

// The media harness end to end: 3 phone callers (ccload's SIP caller and
// RTP peers) through a real contactd's trunk to agents in the browser
// (pion peers): every packet of the window arrives, unchanged, both ways.
func TestPhoneCallsToBrowserAgentsThroughARealServer(t *testing.T) {
	cfg, sipAddr := loadSIPConfig(t, "-mode", "sip-media", "-agents", "4", "-capacity", "1", "-agent-password", "pw-for-the-test")
	a := startApp(t, cfg)
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := []string{"-mode", "sip-media", "-addr", a.Addr(), "-sip-addr", sipAddr, "-sources", "1", "-server-pid", strconv.Itoa(os.Getpid()),
		"-clients", "3", "-agents", "4", "-rate-calls", "5", "-duration", "2s", "-baseline", "1", "-agent-password", "pw-for-the-test"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("ccload %q: %v\n%s", args, err, errs.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.VoiceReport == nil {
		t.Fatalf("not a voice report: %v\n%s", err, out.String())
	}
	v := rep.VoiceReport
	if rep.Mode != "sip-media" || v.SIPAgents != "browser" || v.SIPNumber != sipNumberEarly || v.Calls != 3 || rep.Errors != 0 || rep.CleanupErrors != 0 || rep.HardStop {
		t.Fatalf("report %s\n%s", out.String(), errs.String())
	}
	if rep.Sent < 200 || rep.Delivered != rep.Sent || v.LossPct != 0 || v.Strays != 0 || v.Altered != 0 {
		t.Fatalf("packets: sent %d delivered %d, %g%% lost, strays %d, altered %d\n%s", rep.Sent, rep.Delivered, v.LossPct, v.Strays, v.Altered, out.String())
	}
	if rep.P50ms <= 0 || rep.P99ms < rep.P50ms || v.BaselinePairs != 1 || v.AgentLegP95ms <= 0 || rep.SetupP95ms <= 0 {
		t.Fatalf("latencies: %s", out.String())
	}
	testutil.Eventually(t, "no interaction left open", func() bool {
		var open int
		a.Router().Query(t.Context(), func(e *routing.Engine) { open = e.OpenInteractions() })
		return open == 0
	})
}

func TestSIPRunsHaveASectionOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	voiceLines, sipLines := filepath.Join(dir, "voice.jsonl"), filepath.Join(dir, "sip.jsonl")
	voice, _ := json.Marshal(report{Mode: "voice", Clients: 200, Time: "2026-11-21T12:00:00Z", VoiceReport: &VoiceReport{Calls: 200}})
	sig, _ := json.Marshal(report{Mode: "sip", Agents: 600, ServerPID: 1, ServerGOMAXPROCS: "2", GOMAXPROCS: 2, LoadAvg: "1.0 0.9 0.8",
		Time: "2026-12-08T03:00:00Z", SIPReport: &SIPReport{SIPAgents: "phones", Number: "1001", Rate: 1000, Calls: 30000, Phones: 600, PhonesReg: 600,
			Direct:      &SIPFigures{Attempted: 30000, Successful: 30000, CallsPerS: 998.2, SetupP99Ms: 2},
			Contactd:    &SIPFigures{Attempted: 30000, Successful: 29990, Failed: 10, CallsPerS: 990.1, SetupP99Ms: -1},
			AgentPhones: &SIPFigures{Attempted: 29995, Successful: 29990}, Ratio: 0.99, ServerCPUPct: 150.5}})
	media, _ := json.Marshal(report{Mode: "sip-media", Clients: 200, Agents: 212, DurationS: 20, P50ms: 0.5, P99ms: 2.5, SetupP95ms: 40,
		Time: "2026-12-08T03:10:00Z", VoiceReport: &VoiceReport{Calls: 200, RateCalls: 10, SIPAgents: "phones", BaselinePairs: 10,
			BaselineP99ms: 0.9, P99AddedMs: 1.6, Altered: 0, DeskLegAsks: 3}})
	os.WriteFile(md, []byte("# Benchmarks\n\nHand-written.\n"), 0o644)
	os.WriteFile(voiceLines, []byte(string(voice)+"\n"), 0o644)
	os.WriteFile(sipLines, []byte(string(sig)+"\n"+string(media)+"\n"), 0o644)
	for _, in := range []string{voiceLines, sipLines, voiceLines, sipLines} {
		if err := writeReport(in, md, "nothing else"); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(md)
	doc := string(got)
	for _, want := range []string{"Hand-written.", voiceBegin, sipHeading + "\n\n" + sipBegin,
		"| 600 phones | 1001 | 30000 | 1000 | 0 / 0 | 30000 / 30000 | 0 | 998 | ≤ 2 | 29990 / 30000 | 10 | 990 | > 1000 | 0.99 | 29995 / 29990 | 600 / 600 | 0 | 150 | 1.0 0.9 0.8 | 2 / 2 |",
		"| phones | 200 (200) | 212 | 10 | 20 | 0 (0) | 0 | 0 | 0.5 | 2.5 | 0.9 | 1.6 |", "| 0; desks of phone agents asked for a leg 3 times |", "also running: nothing else", sipEnd} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	if strings.Count(doc, sipBegin) != 1 || strings.Count(doc, voiceBegin) != 1 || strings.Contains(doc, loadBegin) {
		t.Errorf("sections repeated, or SIP runs in the chat table:\n%s", doc)
	}
}

// The JSON line of a SIP run keeps the fields of both embedded reports
// (fields of the same name in two embedded structs would both vanish).
func TestSIPAndVoiceFieldsDoNotCollide(t *testing.T) {
	b, err := json.Marshal(report{Mode: "sip", SIPReport: &SIPReport{SIPAgents: "phones", Number: "1001", Ratio: 0.7},
		VoiceReport: &VoiceReport{SIPAgents: "browser", SIPNumber: "1001", Altered: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sip_agents", "sip_number", "ratio", "sip_media_agents", "sip_media_number", "altered"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
}

func TestSIPConfigsPutAgentsOnPhonesWhenPhonesTakeTheCalls(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "sip"}, "sip"},
		{[]string{"-mode", "sip", "-sip-agents", "phones"}, "sip"},
		{[]string{"-mode", "sip", "-sip-agents", "none"}, "browser"},
		{[]string{"-mode", "sip-media"}, "browser"},
		{[]string{"-mode", "sip-media", "-sip-agents", "browser"}, "browser"},
		{[]string{"-mode", "sip-media", "-sip-agents", "phones"}, "sip"},
	} {
		cfg, _ := loadSIPConfig(t, append(c.args, "-agents", "2", "-capacity", "1", "-agent-password", "pw-for-the-test")...)
		for _, ag := range cfg.Agents {
			if ag.VoiceDevice != c.want {
				t.Errorf("%q: agent %s voice_device %q, want %s", c.args, ag.ID, ag.VoiceDevice, c.want)
			}
		}
	}
}

func target0(t *testing.T) target {
	t.Helper()
	tg, err := parseTarget("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// Agents on phones end to end: ten sipp callers through a real contactd
// to agents whose phones are ccload's (registered with digest, ringing
// 200 ms, then answering), then three phone-to-phone calls with RTP.
func TestAgentPhonesThroughARealServer(t *testing.T) {
	sipp := sippOrSkip(t)
	cfg, sipAddr := loadSIPConfig(t, "-mode", "sip", "-agents", "4", "-capacity", "1", "-agent-password", "pw-for-the-test")
	a := startApp(t, cfg)
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := []string{"-mode", "sip", "-sipp", sipp, "-addr", a.Addr(), "-sip-addr", sipAddr, "-agents", "4", "-sources", "1",
		"-agent-password", "pw-for-the-test", "-rate-calls", "5", "-duration", "2s", "-ring", "200ms", "-sip-direct=false"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("ccload %q: %v\n%s", args, err, errs.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.SIPReport == nil {
		t.Fatalf("not a SIP report: %v\n%s", err, out.String())
	}
	s := rep.SIPReport
	if s.SIPAgents != "phones" || s.Number != sipNumberEarly || s.Phones != 4 || s.PhonesReg != 4 || s.Direct != nil || s.Ratio != 0 || rep.Errors != 0 {
		t.Fatalf("report %s\n%s", out.String(), errs.String())
	}
	if c, p := s.Contactd, s.AgentPhones; c == nil || p == nil || c.Attempted != 10 || c.Successful != 10 || c.Failed != 0 ||
		p.Attempted != 10 || p.Successful != 10 || p.Unfinished != 0 {
		t.Fatalf("callers %+v, phones %+v: want 10 calls answered by the agents' phones and hung up\n%s", c, p, errs.String())
	}
}

func TestPhoneToPhoneCallsThroughARealServer(t *testing.T) {
	cfg, sipAddr := loadSIPConfig(t, "-mode", "sip-media", "-sip-agents", "phones", "-agents", "4", "-capacity", "1", "-agent-password", "pw-for-the-test")
	a := startApp(t, cfg)
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := []string{"-mode", "sip-media", "-sip-agents", "phones", "-addr", a.Addr(), "-sip-addr", sipAddr, "-sources", "1",
		"-clients", "3", "-agents", "4", "-rate-calls", "5", "-duration", "2s", "-ring", "200ms", "-baseline", "1", "-agent-password", "pw-for-the-test"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("ccload %q: %v\n%s", args, err, errs.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.VoiceReport == nil {
		t.Fatalf("not a voice report: %v\n%s", err, out.String())
	}
	v := rep.VoiceReport
	if v.SIPAgents != "phones" || v.Calls != 3 || rep.Errors != 0 || rep.CleanupErrors != 0 || rep.HardStop {
		t.Fatalf("report %s\n%s", out.String(), errs.String())
	}
	if rep.Sent < 200 || rep.Delivered != rep.Sent || v.LossPct != 0 || v.Strays != 0 || v.Altered != 0 || v.BaselinePairs != 1 || v.BaselineReceived != v.BaselineSent {
		t.Fatalf("packets: sent %d delivered %d, strays %d, altered %d; baseline %d/%d\n%s", rep.Sent, rep.Delivered, v.Strays, v.Altered,
			v.BaselineReceived, v.BaselineSent, out.String())
	}
	testutil.Eventually(t, "no interaction left open", func() bool {
		var open int
		a.Router().Query(t.Context(), func(e *routing.Engine) { open = e.OpenInteractions() })
		return open == 0
	})
}
