package sip

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// vectorWant is what the edge does with a torture message: the status it
// answers (0: no answer) over UDP and TCP, and whether it closes the TCP
// connection (a framing error leaves no boundary to go on from; RFC 4475
// 3.1.2.2, 3.1.2.3, 3.3.9).
type vectorWant struct {
	udp, tcp int
	closes   bool
	why      string
	// tcpMaybe: over TCP the answer races the close (either is right).
	tcpMaybe bool
}

// The answers to the RFC 4475 and RFC 5118 messages. The INVITEs come
// from an address that is neither a trunk nor a registered phone, so an
// INVITE that passes validation is answered 403 by admission; a REGISTER
// that passes is challenged (401).
var vectorWants = map[string]vectorWant{
	// 3.1.1: valid, must be accepted.
	"rfc4475/wsinv.dat":      {400, 400, false, "valid, but sipgo answers 400 itself: its branch has no magic cookie and sipgo does not find the From tag written with LWS around = (known gap)", false},
	"rfc4475/intmeth.dat":    {501, 501, false, "unknown method: 501", false},
	"rfc4475/esc01.dat":      {403, 403, false, "valid INVITE", false},
	"rfc4475/escnull.dat":    {401, 401, false, "valid REGISTER: challenged", false},
	"rfc4475/esc02.dat":      {501, 501, false, "RE%47IST%45R is an unknown method: 501", false},
	"rfc4475/lwsdisp.dat":    {200, 200, false, "valid OPTIONS", false},
	"rfc4475/longreq.dat":    {403, 403, false, "valid INVITE, long values", false},
	"rfc4475/dblreq.dat":     {401, 401, true, "UDP: trailing octets ignored (RFC 3261 18.3); TCP: the INVITE after it is a second message (answered 403) and the probe after that is its body: the connection closes on the read timeout", true},
	"rfc4475/semiuri.dat":    {200, 200, false, "valid OPTIONS", false},
	"rfc4475/transports.dat": {200, 200, false, "valid OPTIONS", false},
	"rfc4475/mpart01.dat":    {405, 405, false, "valid MESSAGE, a method we do not handle", false},
	"rfc4475/unreason.dat":   {0, 0, false, "a response: discarded", false},
	"rfc4475/noreason.dat":   {0, 0, false, "a response: discarded", false},
	// 3.1.2: invalid. sipgo cannot parse most: dropped unanswered (see
	// validate.go), the TCP connection closed.
	"rfc4475/badinv01.dat":   {0, 0, true, "unparseable Via", false},
	"rfc4475/clerr.dat":      {0, 0, true, "Content-Length past the end: UDP dropped; TCP waits, then closes", false},
	"rfc4475/ncl.dat":        {0, 0, true, "negative Content-Length", false},
	"rfc4475/scalar02.dat":   {0, 0, true, "CSeq past 2^32-1", false},
	"rfc4475/scalarlg.dat":   {0, 0, true, "a response with overlarge values", false},
	"rfc4475/quotbal.dat":    {0, 0, true, "unterminated quoted string", false},
	"rfc4475/ltgtruri.dat":   {0, 0, true, "<> around the Request-URI", false},
	"rfc4475/lwsruri.dat":    {0, 0, true, "LWS in the Request-URI", false},
	"rfc4475/lwsstart.dat":   {0, 0, true, "several SP in the request line", false},
	"rfc4475/trws.dat":       {0, 0, true, "trailing SP in the request line", false},
	"rfc4475/escruri.dat":    {400, 400, false, "escaped headers in the Request-URI", false},
	"rfc4475/baddate.dat":    {403, 403, false, "a bad Date is ignored", false},
	"rfc4475/regbadct.dat":   {401, 401, false, "REGISTER: challenged first", false},
	"rfc4475/badaspec.dat":   {0, 0, true, "spaces in an addr-spec", false},
	"rfc4475/baddn.dat":      {0, 0, true, "unterminated header section", false},
	"rfc4475/badvers.dat":    {505, 505, false, "SIP/7.0", false},
	"rfc4475/mismatch01.dat": {400, 400, false, "CSeq method is not the request's", false},
	"rfc4475/mismatch02.dat": {501, 501, false, "unknown method (and CSeq mismatch): 501", false},
	"rfc4475/bigcode.dat":    {0, 0, true, "a response with code 4294967301", false},
	// 3.2, 3.3, 3.4
	"rfc4475/badbranch.dat": {400, 400, false, "branch is the bare magic cookie", false},
	"rfc4475/insuf.dat":     {400, 400, false, "no Call-ID, From, To", false},
	"rfc4475/unkscm.dat":    {416, 416, false, "unknown Request-URI scheme", false},
	"rfc4475/novelsc.dat":   {0, 0, true, "soap.beep: sipgo cannot parse it (RFC: 416)", false},
	"rfc4475/unksm2.dat":    {400, 400, false, "registrar: To must be a SIP AOR", false},
	"rfc4475/bext01.dat":    {420, 420, false, "Require of an unknown extension", false},
	"rfc4475/invut.dat":     {415, 415, false, "unknown Content-Type", false},
	"rfc4475/regaut01.dat":  {401, 401, false, "unknown Authorization scheme: challenged", false},
	"rfc4475/multi01.dat":   {400, 400, false, "several Call-ID, To, From, Max-Forwards, CSeq", false},
	"rfc4475/mcl01.dat":     {400, 400, true, "several Content-Length; over TCP framing is lost: closed, the 400 may not make it", true},
	"rfc4475/bcast.dat":     {0, 0, false, "a response: discarded", false},
	"rfc4475/zeromf.dat":    {200, 200, false, "Max-Forwards 0 to an endpoint: processed", false},
	"rfc4475/cparam01.dat":  {401, 401, false, "valid REGISTER", false},
	"rfc4475/cparam02.dat":  {401, 401, false, "valid REGISTER", false},
	"rfc4475/regescrt.dat":  {401, 401, false, "valid REGISTER", false},
	"rfc4475/sdp01.dat":     {406, 406, false, "Accept without application/sdp", false},
	"rfc4475/inv2543.dat":   {400, 0, true, "RFC 2543 INVITE (no Max-Forwards): refused; over TCP no Content-Length breaks framing", false},
	"rfc4475/test.dat":      {0, 0, true, "no SIP version", false},
	// RFC 5118
	"rfc5118/ipv6-good":                     {401, 401, false, "valid REGISTER", false},
	"rfc5118/ipv6-bad":                      {0, 0, true, "unparseable IPv6 reference", false},
	"rfc5118/port-ambiguous":                {401, 401, false, "valid REGISTER", false},
	"rfc5118/port-unambiguous":              {401, 401, false, "valid REGISTER", false},
	"rfc5118/via-received-param-with-delim": {481, 481, false, "valid BYE, no such dialog", false},
	"rfc5118/via-received-param-no-delim":   {200, 200, false, "valid OPTIONS", false},
	"rfc5118/mult-ip-in-header":             {481, 481, false, "valid BYE, no such dialog", false},
	"rfc5118/ipv4-mapped-ipv6":              {403, 403, false, "valid INVITE", false},
	"rfc5118/ipv6-in-sdp":                   {403, 403, false, "valid INVITE", false},
	"rfc5118/mult-ip-in-sdp":                {403, 403, false, "valid INVITE", false},
	"rfc5118/ipv6-bug-abnf-3-colons":        {200, 200, false, "accepted (RFC 5118 4.9)", false},
	"rfc5118/ipv6-correct-abnf-2-colons":    {200, 200, false, "valid OPTIONS", false},
}

func TestTortureVectorsOverUDPAndTCP(t *testing.T) {
	// A TCP connection waiting for octets that never come (clerr) closes
	// after the read timeout; high rates: the test sends ~400 messages.
	// A fresh edge per message: several messages share a branch and
	// sent-by, and would otherwise match each other's transactions.
	files, _ := filepath.Glob("testdata/rfc4475/*.dat")
	more, _ := filepath.Glob("testdata/rfc5118/[a-z]*")
	files = append(files, more...)
	if len(files) != 62 {
		t.Fatalf("%d vectors, want 50 + 12", len(files))
	}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		want, ok := vectorWants[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		msg := readVector(t, f)
		id := callIDOf(msg)
		// One edge per transport too: the message over TCP would match
		// the transaction the same message made over UDP.
		h := startHardEdge(t, FloodConfig{TCPReadTimeout: 500 * time.Millisecond})
		ht := startHardEdge(t, FloodConfig{TCPReadTimeout: 500 * time.Millisecond})
		udp, tcp := addrOf(t, h.e, "udp"), addrOf(t, ht.e, "tcp")
		t.Run(name+"/udp", func(t *testing.T) {
			h.drain()
			udpExchange(t, udp, msg)
			if want.udp != 0 {
				if r := h.awaitSent(t, id); r.code != want.udp {
					t.Fatalf("answered %d, want %d (%s)\n%s", r.code, want.udp, want.why, r.raw)
				}
			} else if got := h.sentSoFar(id); len(got) != 0 {
				t.Fatalf("answered %d, want no answer (%s)", got[0].code, want.why)
			}
			if validatorRefuses(name, want.udp) && h.drops.Count(DropInvalid) == 0 {
				t.Errorf("refusal not counted")
			}
		})
		t.Run(name+"/tcp", func(t *testing.T) {
			answers, probed, closed := tcpExchange(t, tcp, msg, want.tcp)
			switch {
			case want.tcpMaybe && len(answers) == 0 && closed:
			case want.tcp != 0 && !slices.ContainsFunc(answers, func(r rawResponse) bool { return r.code == want.tcp }):
				t.Fatalf("answers %v, want %d (%s)", answers, want.tcp, want.why)
			case want.tcp == 0 && len(answers) != 0:
				t.Fatalf("answered %d, want no answer (%s)", answers[0].code, want.why)
			case closed && !want.closes:
				t.Fatalf("connection closed (%s)", want.why)
			case !closed && !probed:
				t.Fatal("connection neither closed nor answering")
			}
			// Alive for the next connection in any case.
			tcpProbe(t, tcp)
		})
	}
}

// validatorRefuses: the answer is Validator's (counted as invalid).
func validatorRefuses(name string, code int) bool {
	switch code {
	case 400:
		return name != "rfc4475/wsinv.dat" && name != "rfc4475/unksm2.dat" && name != "rfc4475/inv2543.dat"
	case 406, 415, 416, 420, 501, 505:
		return true
	}
	return false
}
