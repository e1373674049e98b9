package sip

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/routing"
)

// sipp finds sipp (Debian sip-tester): a missing sipp skips the test,
// or fails it when REQUIRE_SIPP=1.
func sippPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("REQUIRE_SIPP") == "1" {
			t.Fatalf("REQUIRE_SIPP=1 but sipp is not installed (Debian package sip-tester): %v", err)
		}
		t.Skipf("sipp not installed (Debian package sip-tester; REQUIRE_SIPP=1 makes this a failure): %v", err)
	}
	return p
}

// freePort is a port free for both UDP and TCP on 127.0.0.1 (sipp needs
// one given).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// runSipp runs a scenario once against edge and fails the test with sipp's
// output and error log unless every call succeeded.
func runSipp(t *testing.T, scenario, transport, edge string, args ...string) {
	t.Helper()
	sipp := sippPath(t)
	dir := t.TempDir()
	errFile := filepath.Join(dir, "errors.log")
	tr := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	all := append([]string{edge, "-sf", filepath.Join("testdata", "sipp", scenario), "-m", "1", "-t", tr,
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-nostdin", "-timeout", "30s", "-timeout_error",
		"-trace_err", "-error_file", errFile, "-max_recv_loops", "1000"}, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, all...)
	cmd.Dir = "."
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		errs, _ := os.ReadFile(errFile)
		t.Fatalf("sipp %s over %s: %v\n%s\nerrors:\n%s", scenario, transport, err, tail(out.Bytes(), 3000), tail(errs, 3000))
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func TestSippRegistersWithDigest(t *testing.T) {
	sippPath(t)
	for _, tr := range transports {
		t.Run("over "+tr, func(t *testing.T) {
			h := startHardEdge(t, FloodConfig{})
			h.reg.SetAccounts([]Account{{Agent: "bob", Username: "bob", Password: "correct horse battery"}})
			var mu sync.Mutex
			var changes []int
			h.reg.OnChange(func(a routing.AgentID) {
				mu.Lock()
				changes = append(changes, len(h.reg.Contacts(a)))
				mu.Unlock()
			})
			runSipp(t, "register.xml", tr, addrOf(t, h.e, tr).String(), "-s", "bob", "-au", "bob", "-ap", "correct horse battery")
			mu.Lock()
			defer mu.Unlock()
			// Registered (one contact), then removed.
			if fmt.Sprint(changes) != "[1 0]" {
				t.Fatalf("binding changes %v, want [1 0]", changes)
			}
			if h.reg.Live() != 0 {
				t.Fatalf("%d bindings left", h.reg.Live())
			}
		})
	}
}

func TestSippWrongPasswordIsRefused(t *testing.T) {
	sippPath(t)
	h := startHardEdge(t, FloodConfig{})
	h.reg.SetAccounts([]Account{{Agent: "bob", Username: "bob", Password: "correct horse battery"}})
	sipp := sippPath(t)
	cmd := exec.CommandContext(t.Context(), sipp, addrOf(t, h.e, "udp").String(), "-sf", "testdata/sipp/register.xml", "-m", "1",
		"-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-nostdin", "-timeout", "30s", "-timeout_error",
		"-s", "bob", "-au", "bob", "-ap", "wrong", "-max_recv_loops", "1000")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("sipp registered with a wrong password:\n%s", tail(out, 2000))
	}
	if h.drops.Count(DropAuthFailed) == 0 || h.reg.Live() != 0 {
		t.Fatalf("failures %d, bindings %d", h.drops.Count(DropAuthFailed), h.reg.Live())
	}
}

func TestSippMalformedMessages(t *testing.T) {
	sippPath(t)
	for _, tr := range transports {
		t.Run("over "+tr, func(t *testing.T) {
			h := startHardEdge(t, FloodConfig{})
			runSipp(t, "malformed.xml", tr, addrOf(t, h.e, tr).String())
			if n := h.drops.Count(DropInvalid); n != 5 {
				t.Fatalf("%d refusals counted, want 5", n)
			}
		})
	}
}
