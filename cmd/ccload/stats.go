package main

import (
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// latencies collects durations; summary sorts them once at the end. At a
// few thousand messages a second for a minute that is a few megabytes,
// and the percentiles are exact.
type latencies struct {
	mu sync.Mutex
	v  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.v = append(l.v, d)
	l.mu.Unlock()
}

// summary is what a set of latencies is reported as.
type summary struct {
	n                  int
	p50, p90, p95, p99 time.Duration
	max                time.Duration
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	v := slices.Clone(l.v)
	l.mu.Unlock()
	slices.Sort(v)
	if len(v) == 0 {
		return summary{}
	}
	return summary{n: len(v), p50: percentile(v, 50), p90: percentile(v, 90), p95: percentile(v, 95),
		p99: percentile(v, 99), max: v[len(v)-1]}
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted:
// the smallest value with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// ms is d in milliseconds, rounded to 0.01.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// round2 rounds to two decimals.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// stats is everything a run counts. Message counters are for the
// measurement window only (messages whose send time falls in it); the
// totals include the ramp.
type stats struct {
	delivery, ack, echo latencies // window only
	connect, setup      latencies // per visitor

	sent, acked, delivered, echoed atomic.Int64 // window
	sentTotal, deliveredTotal      atomic.Int64
	skipped                        atomic.Int64 // sends left out: too many unacknowledged
	connected, joined, joinedByWin atomic.Int64
	offers, sessionRetries         atomic.Int64
	replayedOffers, leftovers      atomic.Int64
	operators                      atomic.Int64 // lists of online agents received
	cleanupErrors                  atomic.Int64

	mu           sync.Mutex
	errs         map[string]int64
	cleanupKinds map[string]int64
	ending       bool
}

func newStats() *stats { return &stats{errs: map[string]int64{}, cleanupKinds: map[string]int64{}} }

// fail counts an error of a kind (a short fixed word, sometimes with the
// server's error code or HTTP status after a colon). Once the window is
// over it counts as a cleanup error: what goes wrong while thousands of
// clients end and close at once is reported apart.
func (s *stats) fail(kind string) {
	s.mu.Lock()
	if s.ending {
		s.cleanupKinds[kind]++
	} else {
		s.errs[kind]++
	}
	s.mu.Unlock()
}

// failRun counts an error of the run itself, even when found at its end.
func (s *stats) failRun(kind string) {
	s.mu.Lock()
	s.errs[kind]++
	s.mu.Unlock()
}

// stopping starts the cleanup: errors from now on are cleanup errors.
func (s *stats) stopping() {
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
}

// errors returns the run's errors and the cleanup errors by kind, with
// their totals (cleanup errors include ends not answered in time).
func (s *stats) errors() (int64, map[string]int64, int64, map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n, c int64
	kinds := make(map[string]int64, len(s.errs))
	for k, v := range s.errs {
		n += v
		kinds[k] = v
	}
	ckinds := make(map[string]int64, len(s.cleanupKinds))
	for k, v := range s.cleanupKinds {
		c += v
		ckinds[k] = v
	}
	return n, kinds, c + s.cleanupErrors.Load(), ckinds
}

// procStatus reads a field of /proc/<pid>/status in kB ("VmRSS",
// "VmHWM") and returns it in MB; pid "self" is this process.
func procStatus(pid, field string) (float64, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
		if err != nil {
			return 0, false
		}
		return kb / 1024, true
	}
	return 0, false
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU is the user plus system CPU time a process has used, from
// /proc/<pid>/stat.
func procCPU(pid string) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; fields are counted after
	// its closing parenthesis: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTicks, true
}

// selfCPU is this process's user plus system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procEnv returns a variable of another process's environment.
func procEnv(pid, name string) (string, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		return "", false
	}
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// loadAvg returns the machine's load averages over 1, 5 and 15 minutes,
// as /proc/loadavg has them.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
