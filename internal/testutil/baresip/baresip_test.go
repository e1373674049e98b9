package baresip

import (
	"net"
	"testing"

	"github.com/contactd/contactd/internal/testutil"
)

// heardTone waits until p's recording holds hz in at least n blocks of
// 20 ms.
func heardTone(t *testing.T, p *Phone, what string, hz float64, n int) {
	t.Helper()
	testutil.Eventually(t, what, func() bool {
		hits, _ := testutil.ToneBlocks(p.Heard(), Rate, 160, hz, 0.6, 300)
		return hits >= n
	})
}

// The harness itself: one baresip calls another that answers by itself;
// each records the other's tone; the caller hangs up and the callee sees
// the call closed.
func TestTwoBaresipsHearEachOther(t *testing.T) {
	callee := Start(t, Options{User: "callee", AutoAnswer: true, ToneHz: 440})
	caller := Start(t, Options{User: "caller", ToneHz: 1000})
	caller.Dial("sip:callee@" + callee.Addr())
	callee.WaitEvent(0, "CALL_ESTABLISHED", nil)
	caller.WaitEvent(0, "CALL_ESTABLISHED", nil)
	heardTone(t, callee, "the callee hears the caller's 1000 Hz", 1000, 25)
	heardTone(t, caller, "the caller hears the callee's 440 Hz", 440, 25)
	if hits, _ := testutil.ToneBlocks(callee.Heard(), Rate, 160, 440, 0.3, 300); hits > 0 {
		t.Fatalf("the callee hears its own tone in %d blocks", hits)
	}
	caller.Hangup()
	callee.WaitEvent(0, "CALL_CLOSED", nil)
}

// A SIP port taken between choosing it and baresip binding it: the start
// is retried on another port.
func TestAPortTakenMeanwhileIsRetried(t *testing.T) {
	Available(t)
	held, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.LocalAddr().(*net.UDPAddr).Port
	tries := 0
	pickPort = func(ip string) (int, error) {
		tries++
		if tries == 1 {
			return taken, nil
		}
		return freePortPair(ip)
	}
	t.Cleanup(func() { pickPort = freePortPair })
	p := Start(t, Options{})
	if tries != 2 || p.Addr() == held.LocalAddr().String() {
		t.Fatalf("%d tries, baresip at %s (the held port is %d)", tries, p.Addr(), taken)
	}
	if out := p.Do("reginfo", ""); out == "" {
		t.Fatal("no answer to reginfo")
	}
}
