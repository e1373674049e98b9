package app

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
)

// sippPath finds sipp (Debian sip-tester): the test skips without it,
// and fails when REQUIRE_SIPP=1.
func sippPath(t *testing.T) string {
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

// freeUDPPort is a UDP port free a moment ago (sipp wants a number).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// A real SIP client nobody here wrote: sipp calls through the trunk with
// a PCMU offer and echoes the audio it gets (-rtp_echo); the agent in
// the browser accepts, hears their own audio come back through the phone
// unchanged, and ends the call: sipp gets our BYE and exits cleanly.
func TestASippCallerReachesAnAgentInTheBrowser(t *testing.T) {
	sipp := sippPath(t)
	for _, number := range []string{numAnswer, numEarly} {
		t.Run("number "+number, func(t *testing.T) {
			a, _, alice := sipWorld(t, sipConfig(t))
			to := sipAddr(t, a, "udp")
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, sipp, to.String(),
				"-sf", filepath.Join("testdata", "sipp", "uac_queue.xml"), "-s", number,
				"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDPPort(t)),
				"-rtp_echo", "-m", "1", "-l", "1", "-nostdin", "-timeout", "80s", "-timeout_error")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			conv, agent := acceptCall(t, alice, "+15557000000")
			alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
			agent.hears("the agent hears their own audio echoed by sipp, unchanged", 0xB2, 25)
			alice.must("end", map[string]any{"conversation": conv})
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("sipp: %v\n%s", err, out.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("sipp did not finish after the agent ended\n%s", out.String())
			}
			waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
			waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
		})
	}
}
