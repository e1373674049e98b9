package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
)

// pprofEnv names a loopback address on which contactd serves the Go
// profiler (/debug/pprof/), for load tests and debugging; unset, nothing
// is served. It is not a configuration setting: profiles show internals,
// so only a loopback address is accepted, and it never shares the public
// listener.
const pprofEnv = "CONTACTD_DEBUG_PPROF"

// servePprof starts the profiler on addr when addr is set. Mutex and block
// profiles are sampled (1 in 100 contentions; blocking of 100 µs or more),
// cheap enough to leave on while profiling under load.
func servePprof(addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", pprofEnv, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s=%q: only a loopback address is allowed", pprofEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", pprofEnv, err)
	}
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(100_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("serving the Go profiler", "addr", ln.Addr().String(), "env", pprofEnv)
	go func() {
		if err := http.Serve(ln, mux); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("profiler stopped", "err", err)
		}
	}()
	return nil
}
