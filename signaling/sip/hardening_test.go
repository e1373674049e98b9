package sip

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	ctest "github.com/contactd/contactd/internal/testutil"
)

// hardEdge is an edge with the registrar, flood guard and validator
// plugged in as the app does it.
type hardEdge struct {
	e     *Edge
	reg   *Registrar
	guard *FloodGuard
	drops *Drops
	sent  chan rawResponse // every response the edge sent over UDP
}

// recordingPacketConn records what the edge sends: over UDP an answer goes
// to the top Via's sent-by (RFC 3261 18.2.2), which in the RFC 4475
// messages is an address nobody here listens on.
type recordingPacketConn struct {
	net.PacketConn
	sent chan<- rawResponse
}

func (c *recordingPacketConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if r, ok := parseRaw(b); ok {
		select {
		case c.sent <- r:
		default:
		}
	}
	return c.PacketConn.WriteTo(b, to)
}

func startHardEdge(t *testing.T, fc FloodConfig) *hardEdge {
	t.Helper()
	drops := NewDrops(nil)
	fc.Drops = drops
	guard := NewFloodGuard(fc)
	reg := NewRegistrar(RegistrarConfig{Realm: "contactd", Drops: drops}, []Account{{Agent: "bob", Username: "bob", Password: "hunter2"}})
	v := &Validator{Allow: allow + ", REGISTER", Drops: drops}
	sent := make(chan rawResponse, 1024)
	e, _ := startEdge(t, Config{}, nil, nil, Hooks{
		WrapPacketConn: func(pc net.PacketConn) net.PacketConn {
			return &recordingPacketConn{PacketConn: guard.PacketConn(pc), sent: sent}
		},
		WrapListener: guard.Listener,
		Check:        v.Check,
		Register:     reg.Serve,
		Devices:      reg,
	})
	return &hardEdge{e: e, reg: reg, guard: guard, drops: drops, sent: sent}
}

var callIDRe = regexp.MustCompile(`(?mi)^(?:call-id|i)[ \t]*:[ \t]*(\S+)`)

// rawResponse is a response read off the wire: its status code and
// Call-ID.
type rawResponse struct {
	code   int
	callID string
	raw    string
}

func parseRaw(b []byte) (rawResponse, bool) {
	if !bytes.HasPrefix(b, []byte("SIP/2.0 ")) || len(b) < 11 {
		return rawResponse{}, false
	}
	code, err := strconv.Atoi(string(b[8:11]))
	if err != nil {
		return rawResponse{}, false
	}
	r := rawResponse{code: code, raw: string(b)}
	if m := callIDRe.FindSubmatch(b); m != nil {
		r.callID = string(m[1])
	}
	return r, true
}

func probe(callID string, local net.Addr, transport string) []byte {
	return fmt.Appendf(nil, "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		transport, local, callID, callID)
}

// drain empties the record of sent responses.
func (h *hardEdge) drain() {
	for {
		select {
		case <-h.sent:
		default:
			return
		}
	}
}

// awaitSent waits for the edge to send a response with callID.
func (h *hardEdge) awaitSent(t *testing.T, callID string) rawResponse {
	t.Helper()
	timeout := time.After(10 * time.Second) // a bound on failure, not a wait
	for {
		select {
		case r := <-h.sent:
			if callKey(r.callID) == callKey(callID) {
				return r
			}
		case <-timeout:
			t.Fatalf("no answer with Call-ID %q", callID)
		}
	}
}

// sentSoFar returns the responses with callID sent so far.
func (h *hardEdge) sentSoFar(callID string) []rawResponse {
	var out []rawResponse
	for {
		select {
		case r := <-h.sent:
			if callKey(r.callID) == callKey(callID) {
				out = append(out, r)
			}
		default:
			return out
		}
	}
}

// callKey is what identifies a torture message's answer: its Call-ID up
// to the first dot (multi01 has two Call-IDs; either may be copied).
func callKey(id string) string {
	k, _, _ := strings.Cut(id, ".")
	return k
}

func callIDOf(msg []byte) string {
	if m := callIDRe.FindSubmatch(msg); m != nil {
		return string(m[1])
	}
	return ""
}

// udpExchange sends msg from a fresh socket, then the liveness probe, and
// fails unless the probe is answered 200.
func udpExchange(t *testing.T, edge netip.AddrPort, msg []byte) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(edge)
	if msg != nil {
		if _, err := c.WriteTo(msg, to); err != nil {
			t.Fatal(err)
		}
	}
	probeID := fmt.Sprintf("probe-%d@test", time.Now().UnixNano())
	if _, err := c.WriteTo(probe(probeID, c.LocalAddr(), "UDP"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on failure, not a wait
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer to the liveness probe: %v", err)
		}
		if r, ok := parseRaw(buf[:n]); ok && r.callID == probeID {
			if r.code != 200 {
				t.Fatalf("liveness probe answered %d", r.code)
			}
			return
		}
	}
}

// tcpExchange sends msg then the liveness probe on a fresh connection and
// reads until the probe is answered and, when want is not 0, msg is too;
// or until the edge closes the connection.
func tcpExchange(t *testing.T, edge netip.AddrPort, msg []byte, want int) (answers []rawResponse, probed, closed bool) {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(edge))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	probeID := fmt.Sprintf("probe-%d@test", time.Now().UnixNano())
	c.Write(append(append([]byte(nil), msg...), probe(probeID, c.LocalAddr(), "TCP")...))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	id := callIDOf(msg)
	for {
		r, err := readStreamResponse(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return answers, probed, true
			}
			t.Fatalf("reading: %v (answers %v)", err, answers)
		}
		if r.callID == probeID {
			probed = r.code == 200
		} else if callKey(r.callID) == callKey(id) {
			answers = append(answers, r)
		}
		if probed && (want == 0 || slices.ContainsFunc(answers, func(r rawResponse) bool { return r.code == want })) {
			return answers, probed, false
		}
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

func readStreamResponse(br *bufio.Reader) (rawResponse, error) {
	var head bytes.Buffer
	cl := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return rawResponse{}, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(k), "Content-Length") || strings.TrimSpace(k) == "l") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if cl > 0 {
		if _, err := io.CopyN(&head, br, int64(cl)); err != nil {
			return rawResponse{}, err
		}
	}
	r, ok := parseRaw(head.Bytes())
	if !ok {
		return rawResponse{}, fmt.Errorf("not a response: %q", head.String())
	}
	return r, nil
}

// tcpProbe checks the edge answers OPTIONS over a new TCP connection.
func tcpProbe(t *testing.T, edge netip.AddrPort) {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(edge))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := fmt.Sprintf("probe-%d@test", time.Now().UnixNano())
	c.Write(probe(id, c.LocalAddr(), "TCP"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := readStreamResponse(bufio.NewReader(c))
	if err != nil || r.code != 200 || r.callID != id {
		t.Fatalf("TCP liveness probe: %v %+v", err, r)
	}
}

var _ = sip.StatusOK

// A response larger than a UDP MTU goes out (sipgo alone refuses anything
// over 1300 bytes and the sender would retransmit in vain): an OPTIONS with
// a long Via chain gets its 200, which copies the chain, on the socket.
func TestLargeUDPResponseIsSent(t *testing.T) {
	h := startHardEdge(t, FloodConfig{})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var vias strings.Builder
	for i := range 30 {
		fmt.Fprintf(&vias, "Via: SIP/2.0/UDP proxy%d.example.com;branch=z9hG4bK-hop-%d-%s\r\n", i, i, strings.Repeat("x", 40))
	}
	msg := fmt.Appendf(nil, "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;rport;branch=z9hG4bK-big\r\n%sMax-Forwards: 70\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: big-response@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		c.LocalAddr(), vias.String())
	sendUDP(t, c, addrOf(t, h.e, "udp"), msg)
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on failure, not a wait
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	r, ok := parseRaw(buf[:n])
	if !ok || r.code != 200 || r.callID != "big-response@test" || n <= MaxUDPMessage {
		t.Fatalf("answer of %d bytes: %+v", n, r)
	}
}

// sipgo's own log of a message it cannot parse goes through the safe
// handler: counted as unparseable, the wire bytes escaped.
func TestUnparseableMessagesAreCountedAndLoggedSafely(t *testing.T) {
	var buf syncBuffer
	drops := NewDrops(nil)
	InstallSipgoLogger(slog.NewTextHandler(&buf, nil), drops)
	t.Cleanup(func() { InstallSipgoLogger(slog.Default().Handler(), nil) })
	h := startHardEdge(t, FloodConfig{})
	udpExchange(t, addrOf(t, h.e, "udp"), readVector(t, "testdata/rfc4475/lwsstart.dat"))
	ctest.Eventually(t, "unparseable counted", func() bool { return drops.Count(DropUnparseable) == 1 })
	out := buf.String()
	if !strings.Contains(out, `SIP/2.0\\r\\nMax-Forwards`) || strings.Contains(out, "\r") || strings.Count(out, "\n") != strings.Count(out, "level=") {
		t.Fatalf("log not escaped to one line a record:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
