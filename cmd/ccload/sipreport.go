package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The markers around the part of docs/BENCHMARKS.md that -report writes
// from -mode sip and sip-media runs (scripts/sipload.sh).
const (
	sipBegin   = "<!-- sip:begin (written by `scripts/sipload.sh`; edits here are lost) -->"
	sipEnd     = "<!-- sip:end -->"
	sipHeading = "## SIP (ccload -mode sip, sip-media)"
)

// isSIP says whether a run belongs in the SIP section.
func isSIP(r report) bool { return r.Mode == "sip" || r.Mode == "sip-media" }

// spliceSIP puts the SIP section in doc.
func spliceSIP(doc []byte, section string) []byte {
	return splice(doc, section, sipBegin, sipEnd, sipHeading)
}

// renderSIP is the SIP section: where and when, a table of signaling runs
// and one of media runs.
func renderSIP(reps []report, note, where string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", sipBegin)
	when := time.Now().UTC().Format("2006-01-02 15:04 MST")
	if t, err := time.Parse(time.RFC3339, reps[len(reps)-1].Time); err == nil {
		when = t.UTC().Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(&b, "Measured %s on %s. contactd, ccload and sipp ran on this machine at the same time and shared its cores", when, where)
	if note != "" {
		fmt.Fprintf(&b, "; also running: %s", note)
	}
	b.WriteString(".\n")
	dash := "–"
	var sig, med []report
	for _, r := range reps {
		if r.Mode == "sip" && r.SIPReport != nil {
			sig = append(sig, r)
		} else if r.Mode == "sip-media" {
			med = append(med, r)
		}
	}
	fig := func(f *SIPFigures) (string, string, string, string) {
		if f == nil {
			return dash, dash, dash, dash
		}
		p99 := "≤ " + num(f.SetupP99Ms)
		if f.SetupP99Ms < 0 {
			p99 = "> 1000"
		}
		ok := fmt.Sprintf("%d / %d", f.Successful, f.Attempted)
		if f.Unfinished > 0 {
			ok += fmt.Sprintf(" (%d unfinished)", f.Unfinished)
		}
		return ok, strconv.FormatInt(f.Failed, 10), num(f.CallsPerS), p99
	}
	if len(sig) > 0 {
		b.WriteString("\n**Signaling** (`-mode sip`): calls successful / attempted as sipp counts them, failed, successful calls a second " +
			"from the first to the last statistics line, and INVITE-to-200 p99 as sipp's bucket bound; **direct** is sipp to sipp in " +
			"the same run at the same rate and call length; **ratio** is contactd's calls/s over direct's; **agents' phones** is what " +
			"the sipp answering for every agent's phone received (rung / completed). contactd's CPU is over its run, % of one core.\n\n")
		b.WriteString("| agents | number | calls | asked /s | ring / hold ms | direct ok / attempted | direct failed | direct calls/s | direct setup p99 ms | contactd ok / attempted | contactd failed | contactd calls/s | contactd setup p99 ms | ratio | agents' phones rung / completed | phones registered | errors | contactd CPU % | load avg at the end | GOMAXPROCS contactd / ccload |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range sig {
			s := r.SIPReport
			dOK, dFail, dRate, dP99 := fig(s.Direct)
			cOK, cFail, cRate, cP99 := fig(s.Contactd)
			agents := s.SIPAgents
			if s.SIPAgents == "phones" {
				agents = fmt.Sprintf("%d phones", r.Agents)
			}
			phones, reg := dash, dash
			if s.AgentPhones != nil {
				phones = fmt.Sprintf("%d / %d", s.AgentPhones.Attempted, s.AgentPhones.Successful)
			}
			if s.Phones > 0 {
				reg = fmt.Sprintf("%d / %d", s.PhonesReg, s.Phones)
			}
			ratio := dash
			if s.Ratio > 0 {
				ratio = strconv.FormatFloat(s.Ratio, 'f', 2, 64)
			}
			cpu, procs := dash, dash
			if r.ServerPID != 0 {
				cpu, procs = num(s.ServerCPUPct), r.ServerGOMAXPROCS
			}
			procs += fmt.Sprintf(" / %d", r.GOMAXPROCS)
			load := r.LoadAvg
			if load == "" {
				load = dash
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				agents, s.Number, s.Calls, num(s.Rate), num(s.RingMs)+" / "+num(s.HoldMs), dOK, dFail, dRate, dP99, cOK, cFail, cRate, cP99, ratio,
				phones, reg, errText(r), cpu, load, procs)
		}
	}
	if len(med) > 0 {
		b.WriteString("\n**Media** (`-mode sip-media`): phone callers (plain RTP) through contactd to agents in the browser (pion) or on " +
			"phones (plain RTP). Packets and delays as in the voice table: RTP packets sent in the window on answered calls, both " +
			"directions; **altered**: packets whose payload came out changed (contactd forwards G.711 unchanged at gain 1); " +
			"**direct p99** between peer pairs without contactd (pion pairs for browser agents, plain RTP pairs for phones); " +
			"**setup** is the caller's INVITE to its 200 OK (routing, the offer, the agent's leg, the bridge).\n\n")
		b.WriteString("| agents on | calls (answered) | agents | calls/s | window s | packets/s (sent) | loss % | altered | p50 ms | p99 ms | direct p99 ms | p99 added ms | max ms | setup p95 ms | errors | CPU % contactd / ccload / others | contactd CPU µs per packet | contactd RSS MB (start → end, max) | GOMAXPROCS contactd / ccload |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range med {
			v := r.VoiceReport
			if v == nil {
				v = &VoiceReport{}
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
			errs := errText(r)
			if v.DeskLegAsks > 0 {
				errs += fmt.Sprintf("; desks of phone agents asked for a leg %d times", v.DeskLegAsks)
			}
			fmt.Fprintf(&b, "| %s | %d (%d) | %d | %s | %s | %s (%s) | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				v.SIPAgents, r.Clients, v.Calls, r.Agents, num(v.RateCalls), num(r.DurationS), num(r.MsgsPerS), num(r.OfferedPerS),
				strconv.FormatFloat(v.LossPct, 'f', -1, 64), v.Altered, num(r.P50ms), num(r.P99ms), direct, added, num(r.MaxMs),
				num(r.SetupP95ms), errs, cpu, perPkt, rss, procs)
		}
	}
	fmt.Fprintf(&b, "\n%s", sipEnd)
	return b.String()
}
