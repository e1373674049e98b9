package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/contactd/contactd/routing
cpu: AMD EPYC
BenchmarkDecisions/flush=1         	  200000	     21311 ns/op	     46924 decisions/s	    3555 B/op	      29 allocs/op
BenchmarkArrivalToOffer-2   	       1	2000115667 ns/op	      1825 offers	        57.00 p50-µs	       261.0 p99-µs
PASS
`

func TestParseKeepsEveryMetricAndTheProcs(t *testing.T) {
	rows, meta, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if meta["cpu"] != "AMD EPYC" || len(rows) != 2 {
		t.Fatalf("meta %v rows %+v", meta, rows)
	}
	if r := rows[0]; r.name != "Decisions/flush=1" || r.procs != "1" || len(r.metrics) != 4 || r.metrics[1] != [2]string{"46924", "decisions/s"} {
		t.Fatalf("row 0: %+v", r)
	}
	if r := rows[1]; r.name != "ArrivalToOffer" || r.procs != "2" || r.metrics[3] != [2]string{"261.0", "p99-µs"} {
		t.Fatalf("row 1: %+v", r)
	}
}

func TestSpliceReplacesOnlyTheMarkedSection(t *testing.T) {
	doc := "# Benchmarks\n\nhand-written\n\n" + begin + "\nold\n" + end + "\n\nmore hand-written\n"
	got := string(splice([]byte(doc), begin+"\nnew\n"+end+"\n"))
	if !strings.Contains(got, "hand-written\n\n"+begin+"\nnew\n"+end+"\n\nmore hand-written") || strings.Contains(got, "old") {
		t.Fatalf("spliced:\n%s", got)
	}
	if got := string(splice([]byte("# B\n"), "S\n")); got != "# B\n\nS\n" {
		t.Fatalf("appended: %q", got)
	}
}
