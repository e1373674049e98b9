package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	ctest "github.com/contactd/contactd/internal/testutil"
)

// startEdge starts an edge on UDP and TCP at 127.0.0.1:0.
func startEdge(t *testing.T, cfg Config, calls Calls, legs Legs, hooks Hooks) (*Edge, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	e, err := New(cfg, nil, calls, legs, m, hooks)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start([]Listen{{"udp", "127.0.0.1:0"}, {"tcp", "127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Close(ctx)
	})
	return e, m
}

// addrOf is the edge's address for a transport.
func addrOf(t *testing.T, e *Edge, transport string) netip.AddrPort {
	t.Helper()
	for _, l := range e.Addrs() {
		if l.Transport == transport {
			return netip.MustParseAddrPort(l.Addr)
		}
	}
	t.Fatalf("no %s listener", transport)
	return netip.AddrPort{}
}

// phone is a SIP user agent in the test: a sipgo client (and server, for
// requests the edge sends it).
type phone struct {
	ua  *sipgo.UserAgent
	cli *sipgo.Client
	srv *sipgo.Server
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-phone"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return &phone{ua: ua, cli: cli, srv: srv}
}

func (p *phone) do(t *testing.T, req *sip.Request) *sip.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

func request(method sip.RequestMethod, to netip.AddrPort, user, transport string) *sip.Request {
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: user, Host: to.Addr().String(), Port: int(to.Port())})
	req.SetTransport(strings.ToUpper(transport))
	return req
}

var transports = []string{"udp", "tcp"}

func TestOptionsToTheServerIsTheLivenessProbe(t *testing.T) {
	e, m := startEdge(t, Config{}, nil, nil, Hooks{})
	p := newPhone(t)
	for _, tr := range transports {
		t.Run("over "+tr, func(t *testing.T) {
			res := p.do(t, request(sip.OPTIONS, addrOf(t, e, tr), "", tr))
			if res.StatusCode != 200 {
				t.Fatalf("OPTIONS: %s", res.StartLine())
			}
			for _, h := range []string{"Allow", "Accept", "Supported"} {
				if res.GetHeader(h) == nil {
					t.Errorf("no %s header in %s", h, res)
				}
			}
			if a := res.GetHeader("Allow").Value(); !strings.Contains(a, "INVITE") || !strings.Contains(a, "BYE") {
				t.Errorf("Allow: %q", a)
			}
		})
	}
	counted(t, m, "OPTIONS", "2xx", 2)
}

func TestRegisterWithoutARegistrarIsForbidden(t *testing.T) {
	e, _ := startEdge(t, Config{}, nil, nil, Hooks{})
	p := newPhone(t)
	if res := p.do(t, request(sip.REGISTER, addrOf(t, e, "udp"), "", "udp")); res.StatusCode != 403 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
}

func TestTheHooksSeeEveryRequest(t *testing.T) {
	var wrappedUDP, wrappedTCP bool
	var registered int
	hooks := Hooks{
		WrapPacketConn: func(c net.PacketConn) net.PacketConn { wrappedUDP = true; return c },
		WrapListener:   func(l net.Listener) net.Listener { wrappedTCP = true; return l },
		Validate: func(req *sip.Request) int {
			if req.GetHeader("X-Bad") != nil {
				return 400
			}
			return 0
		},
		Register: func(req *sip.Request, tx sip.ServerTransaction) {
			registered++
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		},
	}
	e, m := startEdge(t, Config{}, nil, nil, hooks)
	if !wrappedUDP || !wrappedTCP {
		t.Fatalf("wrapped udp %v tcp %v", wrappedUDP, wrappedTCP)
	}
	p := newPhone(t)
	bad := request(sip.OPTIONS, addrOf(t, e, "udp"), "", "udp")
	bad.AppendHeader(sip.NewHeader("X-Bad", "1"))
	if res := p.do(t, bad); res.StatusCode != 400 {
		t.Fatalf("a request the hook refuses: %s", res.StartLine())
	}
	if res := p.do(t, request(sip.REGISTER, addrOf(t, e, "tcp"), "", "tcp")); res.StatusCode != 200 || registered != 1 {
		t.Fatalf("REGISTER through the hook: %s (%d)", res.StartLine(), registered)
	}
	counted(t, m, "REGISTER", "2xx", 1)
}

func TestAPanickingHandlerAnswers500AndTheEdgeLivesOn(t *testing.T) {
	e, m := startEdge(t, Config{}, nil, nil, Hooks{Register: func(*sip.Request, sip.ServerTransaction) { panic("boom") }})
	p := newPhone(t)
	if res := p.do(t, request(sip.REGISTER, addrOf(t, e, "udp"), "", "udp")); res.StatusCode != 500 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	if res := p.do(t, request(sip.OPTIONS, addrOf(t, e, "udp"), "", "udp")); res.StatusCode != 200 {
		t.Fatalf("OPTIONS after the panic: %s", res.StartLine())
	}
	counted(t, m, "REGISTER", "5xx", 1)
	if n := testutil.ToFloat64(m.Panics); n != 1 {
		t.Errorf("panics counted: %v", n)
	}
}

func TestAPortInUseIsAnErrorNamingTheSetting(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	e, err := New(Config{}, nil, nil, nil, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	err = e.Start([]Listen{{"tcp", "127.0.0.1:0"}, {"udp", pc.LocalAddr().String()}})
	if err == nil || !strings.Contains(err.Error(), "sip_listen udp://"+pc.LocalAddr().String()) {
		t.Fatalf("Start on a port in use: %v", err)
	}
}

func TestInvitesFromStrangersAndToUnknownNumbers(t *testing.T) {
	trunk := Trunk{Name: "p", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Numbers: []Number{{Number: "+15551230000", Queue: "sales"}}}
	stranger := Trunk{Name: "q", Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Numbers: trunk.Numbers}
	tests := []struct {
		name   string
		cfg    Config
		number string
		want   int
	}{
		{"an INVITE from an address that is no trunk is forbidden", Config{Trunks: []Trunk{stranger}}, "+15551230000", 403},
		{"an INVITE to a number the trunk does not deliver is not found", Config{Trunks: []Trunk{trunk}}, "+15559999999", 404},
	}
	for _, tt := range tests {
		for _, tr := range transports {
			t.Run(tt.name+" over "+tr, func(t *testing.T) {
				e, m := startEdge(t, tt.cfg, nil, nil, Hooks{})
				p := newPhone(t)
				req := request(sip.INVITE, addrOf(t, e, tr), tt.number, tr)
				req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
				req.SetBody([]byte(testOffer(4000)))
				if res := p.do(t, req); res.StatusCode != tt.want {
					t.Fatalf("INVITE: %s, want %d", res.StartLine(), tt.want)
				}
				counted(t, m, "INVITE", "4xx", 1)
				if e.Dialogs() != 0 {
					t.Errorf("%d dialogs after a refused INVITE", e.Dialogs())
				}
			})
		}
	}
}

func TestDropUnknownAnswersStrangersNothing(t *testing.T) {
	cfg := Config{DropUnknown: true, Trunks: []Trunk{{Name: "q", Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}}
	e, m := startEdge(t, cfg, nil, nil, Hooks{})
	p := newPhone(t)
	req := request(sip.INVITE, addrOf(t, e, "tcp"), "100", "tcp")
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(testOffer(4000)))
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	tx, err := p.cli.TransactionRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	ctest.Eventually(t, "the INVITE counted as dropped", func() bool {
		return testutil.ToFloat64(m.Requests.WithLabelValues("INVITE", "dropped")) == 1
	})
	select {
	case res := <-tx.Responses():
		if res.StatusCode != 100 {
			t.Fatalf("a dropped INVITE was answered: %s", res.StartLine())
		}
	default:
	}
	// The liveness probe still answers anyone.
	if res := p.do(t, request(sip.OPTIONS, addrOf(t, e, "udp"), "", "udp")); res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %s", res.StartLine())
	}
}

func TestCallerIDIsCleanedOfWhatCannotGoBackIntoAHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+1555", "+1555"},
		{"Eve\r\nX-Evil: 1", "EveX-Evil: 1"},
		{"\"quoted\" <a>", "quoted a"},
		{"nul\x00byte", "nulbyte"},
		{strings.Repeat("é", 40), strings.Repeat("é", 32)},
	}
	for _, tt := range tests {
		if got := clean(tt.in, 64); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// counted waits until cc_sip_requests_total{method,outcome} is n (the
// count is taken once the handler returns, after its answer left).
func counted(t *testing.T, m *Metrics, method, outcome string, n float64) {
	t.Helper()
	ctest.Eventually(t, fmt.Sprintf("cc_sip_requests_total{%s,%s} = %v", method, outcome, n), func() bool {
		return testutil.ToFloat64(m.Requests.WithLabelValues(method, outcome)) == n
	})
}

// testOffer is a minimal PCMU offer with RTP at 127.0.0.1:port.
func testOffer(port int) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
}
