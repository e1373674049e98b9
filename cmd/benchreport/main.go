// Command benchreport turns `go test -bench` output into the measured part
// of docs/BENCHMARKS.md: the machine, core count and GOMAXPROCS, then one
// table row per benchmark with every metric it reported. The rest of the
// file (targets, how to read the figures) is written by hand and kept; only
// the text between the markers is replaced.
//
//	go test -run '^$' -bench . ./routing | go run ./cmd/benchreport -out docs/BENCHMARKS.md
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

const (
	begin = "<!-- bench:begin (written by `make bench`; edits here are lost) -->"
	end   = "<!-- bench:end -->"
)

func main() {
	in := flag.String("in", "-", "go test -bench output ('-' for standard input)")
	out := flag.String("out", "docs/BENCHMARKS.md", "markdown file to update")
	note := flag.String("note", "", "what else ran on the machine during the run")
	flag.Parse()
	if err := run(*in, *out, *note); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(in, out, note string) error {
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	rows, meta, err := parse(r)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errors.New("no benchmark results in the input")
	}
	section := render(rows, meta, note)
	old, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(out, splice(old, section), 0o644)
}

type row struct {
	pkg, name string
	procs     string
	n         string
	metrics   [][2]string // value, unit
}

func parse(r io.Reader) ([]row, map[string]string, error) {
	var rows []row
	meta := map[string]string{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ": "); ok && (k == "cpu" || k == "goos" || k == "goarch") {
			meta[k] = v
			continue
		}
		if v, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = v
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		name, procs := f[0], "1"
		if i := strings.LastIndex(name, "-"); i > 0 {
			name, procs = name[:i], name[i+1:]
		}
		rw := row{pkg: pkg, name: strings.TrimPrefix(name, "Benchmark"), procs: procs, n: f[1]}
		for i := 2; i+1 < len(f); i += 2 {
			rw.metrics = append(rw.metrics, [2]string{f[i], f[i+1]})
		}
		rows = append(rows, rw)
	}
	return rows, meta, sc.Err()
}

func render(rows []row, meta map[string]string, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", begin)
	fmt.Fprintf(&b, "Measured %s on `%s`, %d logical cores (%s/%s), %s.\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		cpuModel(meta["cpu"]), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, goVersion())
	fmt.Fprintf(&b, "GOMAXPROCS is the `procs` column (the `-cpu` the benchmark ran with).")
	if note != "" {
		fmt.Fprintf(&b, " Also running: %s.", note)
	}
	b.WriteString("\n\n| package | benchmark | procs | iterations | results |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		var ms []string
		for _, m := range r.metrics {
			ms = append(ms, m[0]+" "+m[1])
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", strings.TrimPrefix(r.pkg, "github.com/contactd/contactd/"), r.name, r.procs, r.n, strings.Join(ms, ", "))
	}
	fmt.Fprintf(&b, "\n%s\n", end)
	return b.String()
}

func cpuModel(fromBench string) string {
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	if fromBench != "" {
		return fromBench
	}
	return "unknown CPU"
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

// splice replaces the marked section of doc, or appends it.
func splice(doc []byte, section string) []byte {
	i := bytes.Index(doc, []byte(begin))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		if len(doc) > 0 && !bytes.HasSuffix(doc, []byte("\n\n")) {
			doc = append(doc, '\n')
		}
		return append(doc, section...)
	}
	out := append([]byte{}, doc[:i]...)
	out = append(out, strings.TrimSuffix(section, "\n")...)
	return append(out, doc[j+len(end):]...)
}
