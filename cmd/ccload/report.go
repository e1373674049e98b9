package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The markers around the part of docs/BENCHMARKS.md that -report writes.
const (
	loadBegin   = "<!-- load:begin (written by `make loadtest`; edits here are lost) -->"
	loadEnd     = "<!-- load:end -->"
	loadHeading = "## Load (ccload)"
)

// writeReport reads ccload's JSON lines from in and writes them as a table
// between the load markers of the markdown file out (appending a "Load
// (ccload)" section with the markers when there is none).
func writeReport(in, out, note string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var reps []report
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("%s:%d: %w", in, n, err)
		}
		reps = append(reps, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(reps) == 0 {
		return fmt.Errorf("%s: no ccload results", in)
	}
	doc, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Voice runs have a section of their own: a run of one kind leaves
	// the other's figures alone.
	voice := slices.DeleteFunc(slices.Clone(reps), func(r report) bool { return r.Mode != "voice" })
	sipRuns := slices.DeleteFunc(slices.Clone(reps), func(r report) bool { return !isSIP(r) })
	reps = slices.DeleteFunc(reps, func(r report) bool { return r.Mode == "voice" || isSIP(r) })
	if len(reps) > 0 {
		doc = spliceLoad(doc, renderLoad(reps, note, machine()))
	}
	if len(voice) > 0 {
		doc = spliceVoice(doc, renderVoice(voice, note, machine()))
	}
	if len(sipRuns) > 0 {
		doc = spliceSIP(doc, renderSIP(sipRuns, note, machine()))
	}
	return os.WriteFile(out, doc, 0o644)
}

// machine describes where the figures were measured.
func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	gover := runtime.Version()
	if b, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		gover = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("`%s`, %d logical cores (%s/%s), %s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, gover)
}

func renderLoad(reps []report, note, where string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", loadBegin)
	when := time.Now().UTC().Format("2006-01-02 15:04 MST")
	if t, err := time.Parse(time.RFC3339, reps[len(reps)-1].Time); err == nil {
		when = t.UTC().Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(&b, "Measured %s on %s. contactd and ccload ran on this machine at the same time and shared its cores", when, where)
	if note != "" {
		fmt.Fprintf(&b, "; also running: %s", note)
	}
	b.WriteString(".\n\n")
	b.WriteString("| mode | store | visitors (served) | agents × chats | ramp s | window s | msgs/s (offered) | p50 ms | p99 ms | max ms | ack p99 ms | setup p95 ms | errors | CPU s in window: contactd (µs/msg) / ccload | load avg at the end | contactd RSS MB (start → end, max) | ccload RSS MB | GOMAXPROCS contactd / ccload |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range reps {
		dash := "–"
		agents, rate, p50, p99, maxMs, ack, setup := dash, dash, dash, dash, dash, dash, dash
		// Served: visitors an agent joined (chat), or connected (idle).
		visitors := fmt.Sprintf("%d (%d)", r.Clients, r.Connected)
		if r.Mode == "chat" {
			visitors = fmt.Sprintf("%d (%d)", r.Clients, r.Joined)
			agents = fmt.Sprintf("%d × %d", r.Agents, r.Capacity)
			rate = fmt.Sprintf("%.0f (%.0f)", r.MsgsPerS, r.OfferedPerS)
			p50, p99, maxMs, ack = num(r.P50ms), num(r.P99ms), num(r.MaxMs), num(r.AckP99ms)
			setup = num(r.SetupP95ms)
		} else {
			setup = num(r.ConnectP95ms) + " (connect)"
		}
		errs := fmt.Sprint(r.Errors)
		if len(r.ErrorKinds) > 0 {
			var kinds []string
			for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, r.ErrorKinds[k]))
			}
			errs += " (" + strings.Join(kinds, ", ") + ")"
		}
		if r.CleanupErrors > 0 {
			errs += fmt.Sprintf("; %d at cleanup", r.CleanupErrors)
		}
		if r.HardStop {
			errs += "; hard stop"
		}
		cpu, rss, procs := dash, dash, dash
		if r.ServerPID != 0 {
			cpu = num(r.ServerCPUS)
			if r.Mode == "chat" && r.Delivered > 0 && r.ServerCPUS > 0 {
				cpu += fmt.Sprintf(" (%.0f)", r.ServerCPUS*1e6/float64(r.Delivered))
			}
			rss = fmt.Sprintf("%s → %s, %s", num(r.ServerRSSBaseMB), num(r.ServerRSSMB), num(r.ServerRSSMaxMB))
			procs = r.ServerGOMAXPROCS
		}
		procs += fmt.Sprintf(" / %d", r.GOMAXPROCS)
		if r.CPUWindowS > 0 {
			cpu += " / " + num(r.CPUWindowS)
		}
		load := r.LoadAvg
		if load == "" {
			load = dash
		}
		label := r.Label
		if label == "" {
			label = dash
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Mode, label, visitors, agents, num(r.RampS), num(r.DurationS), rate, p50, p99, maxMs, ack, setup, errs,
			cpu, load, rss, num(r.RSSMB), procs)
	}
	fmt.Fprintf(&b, "\n%s", loadEnd)
	return b.String()
}

// num prints a figure with at most one decimal, none from 100 up.
func num(f float64) string {
	if f >= 100 || f == float64(int64(f)) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

// splice replaces the text between the markers begin and end, or
// appends a section under heading holding them.
func splice(doc []byte, section, begin, end, heading string) []byte {
	i := bytes.Index(doc, []byte(begin))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		out := bytes.TrimRight(doc, "\n")
		if len(out) > 0 {
			out = append(out, "\n\n"...)
		}
		out = append(out, heading+"\n\n"...)
		return append(append(out, section...), '\n')
	}
	out := append([]byte{}, doc[:i]...)
	out = append(out, section...)
	return append(out, doc[j+len(end):]...)
}

// spliceLoad puts the chat and idle section in doc.
func spliceLoad(doc []byte, section string) []byte {
	return splice(doc, section, loadBegin, loadEnd, loadHeading)
}

// spliceVoice puts the voice section in doc.
func spliceVoice(doc []byte, section string) []byte {
	return splice(doc, section, voiceBegin, voiceEnd, voiceHeading)
}
