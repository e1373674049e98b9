package main

// sipp (Debian sip-tester) as ccload's SIP caller and phones in -mode sip:
// the scenarios (embedded, written to a temporary directory), the
// processes, and the statistics file each writes (-trace_stat), read here.

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed sipp/*.xml
var sippScenarios embed.FS

// writeScenarios copies the embedded scenarios into dir.
func writeScenarios(dir string) error {
	ents, err := sippScenarios.ReadDir("sipp")
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := sippScenarios.ReadFile("sipp/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sippStats is what ccload reads from the last line of a sipp
// -trace_stat file: the cumulative counters of the whole run.
type sippStats struct {
	// Start and End are the run's first and last statistics times (sipp's
	// StartTime and CurrentTime of the last line, to the microsecond).
	Start, End time.Time
	Created    int64 // TotalCallCreated: calls started (uac) or received (uas)
	Incoming   int64 // IncomingCall(C)
	Outgoing   int64 // OutgoingCall(C)
	Successful int64 // SuccessfulCall(C)
	Failed     int64 // FailedCall(C)
	Current    int64 // CurrentCall: still running at the last line
	Retrans    int64 // Retransmissions(C)
	Unexpected int64 // FailedUnexpectedMessage(C)
	Timeouts   int64 // FailedTimeoutOnRecv(C) + FailedMaxUDPRetrans(C)
	Rejected   int64 // FailedCallRejected(C)
	DeadMsgs   int64 // DeadCallMsgs(C) + OutOfCallMsgs(C)
	// Setup is the repartition of the "setup" response time (INVITE to
	// 200) of uac.xml: bucket upper bounds in ms and counts; Above counts
	// those past the last bound.
	Setup      []bucket
	SetupAbove int64
	// SetupMean is sipp's mean of it.
	SetupMean time.Duration
}

type bucket struct {
	UpToMs float64
	N      int64
}

// Seconds is the time between the first and the last statistics line.
func (s sippStats) Seconds() float64 { return s.End.Sub(s.Start).Seconds() }

// setupQuantile is the upper bound (ms) of the bucket holding quantile p
// of the setup times, or +Inf when it is past the last bound, or 0 with
// no calls.
func (s sippStats) setupQuantile(p float64) float64 {
	var n int64
	for _, b := range s.Setup {
		n += b.N
	}
	n += s.SetupAbove
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(p * float64(n)))
	var seen int64
	for _, b := range s.Setup {
		seen += b.N
		if seen >= rank {
			return b.UpToMs
		}
	}
	return math.Inf(1)
}

// parseSippStats reads a -trace_stat file (semicolon-separated, a header
// line, then one line every -fd seconds and one at the end) and returns
// the figures of its last line.
func parseSippStats(r io.Reader) (sippStats, error) {
	var st sippStats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var header, last []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ";")
		if header == nil {
			header = f
			continue
		}
		last = f
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	if header == nil || last == nil {
		return st, errors.New("sipp statistics: no data line")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	var errs []error
	get := func(name string) string {
		i, ok := col[name]
		if !ok || i >= len(last) {
			errs = append(errs, fmt.Errorf("sipp statistics: no column %s", name))
			return ""
		}
		return strings.TrimSpace(last[i])
	}
	num := func(name string) int64 {
		v := get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("sipp statistics: %s %q: %w", name, v, err))
		}
		return n
	}
	st.Start, st.End = sippTime(get("StartTime"), &errs), sippTime(get("CurrentTime"), &errs)
	st.Created = num("TotalCallCreated")
	st.Incoming, st.Outgoing = num("IncomingCall(C)"), num("OutgoingCall(C)")
	st.Successful, st.Failed, st.Current = num("SuccessfulCall(C)"), num("FailedCall(C)"), num("CurrentCall")
	st.Retrans = num("Retransmissions(C)")
	st.Unexpected = num("FailedUnexpectedMessage(C)")
	st.Timeouts = num("FailedTimeoutOnRecv(C)") + num("FailedMaxUDPRetrans(C)")
	st.Rejected = num("FailedCallRejected(C)")
	st.DeadMsgs = num("DeadCallMsgs(C)") + num("OutOfCallMsgs(C)")
	if _, ok := col["ResponseTimesetup(C)"]; ok {
		st.SetupMean = sippDuration(get("ResponseTimesetup(C)"), &errs)
		const prefix = "ResponseTimeRepartitionsetup_"
		for i, h := range header {
			h = strings.TrimSpace(h)
			if !strings.HasPrefix(h, prefix) || i >= len(last) {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(last[i]), 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("sipp statistics: %s: %w", h, err))
				continue
			}
			bound := strings.TrimPrefix(h, prefix)
			switch {
			case strings.HasPrefix(bound, ">="):
				st.SetupAbove += n
			case strings.HasPrefix(bound, "<"):
				ms, err := strconv.ParseFloat(bound[1:], 64)
				if err != nil {
					errs = append(errs, fmt.Errorf("sipp statistics: %s: %w", h, err))
					continue
				}
				st.Setup = append(st.Setup, bucket{UpToMs: ms, N: n})
			}
		}
	}
	return st, errors.Join(errs...)
}

// sippTime reads sipp's "2026-12-08\t01:05:38.467526\t1796691938.467526"
// (date, time, seconds since the epoch): the last field.
func sippTime(v string, errs *[]error) time.Time {
	if v == "" {
		return time.Time{}
	}
	f := strings.Fields(v)
	s, err := strconv.ParseFloat(f[len(f)-1], 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("sipp statistics: time %q: %w", v, err))
		return time.Time{}
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
}

// sippDuration reads sipp's "HH:MM:SS:uuuuuu".
func sippDuration(v string, errs *[]error) time.Duration {
	if v == "" {
		return 0
	}
	p := strings.Split(v, ":")
	if len(p) != 4 {
		*errs = append(*errs, fmt.Errorf("sipp statistics: duration %q", v))
		return 0
	}
	var n [4]int64
	for i, s := range p {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("sipp statistics: duration %q: %w", v, err))
			return 0
		}
		n[i] = x
	}
	return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second + time.Duration(n[3])*time.Microsecond
}

// sippProc is one sipp process with its statistics file and output.
type sippProc struct {
	name string
	cmd  *exec.Cmd
	stat string
	out  bytes.Buffer // standard output and error (the screen with -bg off is not used)
	done chan struct{}
	err  error
}

// startSipp starts sipp with args, writing its statistics to
// dir/name.csv every second.
func startSipp(ctx context.Context, sipp, dir, name string, args ...string) (*sippProc, error) {
	p := &sippProc{name: name, stat: filepath.Join(dir, name+".csv"), done: make(chan struct{})}
	all := append(slicesClone(args), "-trace_stat", "-stf", p.stat, "-fd", "1", "-nostdin",
		"-trace_err", "-error_file", filepath.Join(dir, name+"_errors.log"))
	p.cmd = exec.CommandContext(ctx, sipp, all...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGKILL) }
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("sipp %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// wait waits for sipp to exit by itself (uac: -m calls done) up to d, then
// asks it to stop (SIGUSR1: no new calls, finish the running ones), then
// kills it. sipp exits 1 when some calls failed: that is a figure, not an
// error; an exit code past 1 or a signal is.
func (p *sippProc) wait(d time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(d):
		p.stop(10 * time.Second)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.ExitCode() == 1 {
		return nil
	}
	if p.err != nil {
		return fmt.Errorf("sipp %s: %w\n%s", p.name, p.err, tailText(p.out.String(), 2000))
	}
	return nil
}

// stop asks sipp to quit (SIGUSR1) and kills it after grace.
func (p *sippProc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stats reads the statistics file sipp wrote.
func (p *sippProc) stats() (sippStats, error) {
	f, err := os.Open(p.stat)
	if err != nil {
		return sippStats{}, fmt.Errorf("sipp %s: %w\n%s", p.name, err, tailText(p.out.String(), 2000))
	}
	defer f.Close()
	return parseSippStats(f)
}

func tailText(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// execOutput runs a program and returns its output, whatever its exit code.
func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
