package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// regMsg builds a REGISTER as a phone would send it.
type regMsg struct {
	user, toUser string
	cseq         int
	callID       string
	contacts     []string // full Contact header values
	expires      string   // Expires header value, "" for none
	auth         string   // Authorization header value, "" for none
	src          string
	transport    string
}

func (m regMsg) request(t *testing.T) *sip.Request {
	t.Helper()
	if m.toUser == "" {
		m.toUser = m.user
	}
	if m.callID == "" {
		m.callID = "call-1@phone"
	}
	if m.src == "" {
		m.src = "192.0.2.10:5062"
	}
	if m.transport == "" {
		m.transport = "UDP"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:pbx.example.com SIP/2.0\r\n")
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK-%d\r\n", m.transport, m.src, m.cseq)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@pbx.example.com>;tag=ft1\r\n", m.user)
	fmt.Fprintf(&b, "To: <sip:%s@pbx.example.com>\r\n", m.toUser)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", m.callID)
	fmt.Fprintf(&b, "CSeq: %d REGISTER\r\n", m.cseq)
	for _, c := range m.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if m.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", m.expires)
	}
	if m.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", m.auth)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	msg, err := sip.ParseMessage([]byte(b.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b.String())
	}
	req := msg.(*sip.Request)
	req.SetSource(m.src)
	req.SetTransport(m.transport)
	return req
}

func challengeOf(t *testing.T, res *sip.Response) map[string]string {
	t.Helper()
	if res == nil || res.StatusCode != 401 {
		t.Fatalf("want 401, got %v", res)
	}
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatal("401 without WWW-Authenticate")
	}
	v := h.Value()
	_, rest, _ := strings.Cut(v, " ")
	p, ok := parseAuthParams(rest)
	if !ok {
		t.Fatalf("challenge does not parse: %q", v)
	}
	return p
}

func authFor(user, password, realm, nonce, nc string) string {
	uri := "sip:pbx.example.com"
	resp := DigestResponse(user, realm, password, "REGISTER", uri, nonce, nc, "cn0nce")
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="cn0nce"`,
		user, realm, nonce, uri, resp, nc)
}

func newTestRegistrar(clock *fakeClock, drops *Drops, mod func(*RegistrarConfig)) *Registrar {
	cfg := RegistrarConfig{Realm: "contactd", Now: clock.Now, Drops: drops, FailLimit: 3}
	if mod != nil {
		mod(&cfg)
	}
	return NewRegistrar(cfg, []Account{
		{Agent: "alice", Username: "alice-phone", Password: "s3cret"},
		{Agent: "bob", Username: "bob", Password: "hunter2"},
	})
}

// register runs the 401 then authenticated exchange and returns the answer.
func register(t *testing.T, r *Registrar, m regMsg, password string) *sip.Response {
	t.Helper()
	first := m
	first.auth = ""
	ch := challengeOf(t, r.Handle(first.request(t)))
	m.auth = authFor(m.user, password, ch["realm"], ch["nonce"], "00000001")
	m.cseq++
	return r.Handle(m.request(t))
}

func contactExpires(t *testing.T, res *sip.Response) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range res.GetHeaders("Contact") {
		ch := h.(*sip.ContactHeader)
		e, _ := ch.Params.Get("expires")
		out[ch.Address.Host+":"+fmt.Sprint(ch.Address.Port)] = e
	}
	return out
}

func TestRegistrarDigestAndBindings(t *testing.T) {
	clock := newClock()
	drops := NewDrops(nil)
	r := newTestRegistrar(clock, drops, nil)

	res := register(t, r, regMsg{user: "alice-phone", cseq: 1, contacts: []string{"<sip:alice@192.0.2.10:5062>"}, expires: "600"}, "s3cret")
	if res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	if got := contactExpires(t, res); got["192.0.2.10:5062"] != "600" {
		t.Fatalf("200 contacts: %v", got)
	}
	if bs := r.Contacts("alice"); len(bs) != 1 || bs[0].Contact.Host != "192.0.2.10" || bs[0].ExpiresIn(clock.Now()) != 600 {
		t.Fatalf("contacts: %+v", bs)
	}
	if b, ok := r.Lookup(netip.MustParseAddrPort("192.0.2.10:5062")); !ok || b.Agent != "alice" {
		t.Fatalf("lookup by source: %v %v", b, ok)
	}
	if _, ok := r.Lookup(netip.MustParseAddrPort("192.0.2.11:5062")); ok {
		t.Fatal("lookup of another address found a binding")
	}

	// A second phone, contact param expires overriding the header.
	res = register(t, r, regMsg{user: "alice-phone", cseq: 1, callID: "call-2@desk", src: "192.0.2.20:5060",
		contacts: []string{"<sip:alice@192.0.2.20>;expires=120"}, expires: "3600"}, "s3cret")
	if res.StatusCode != 200 {
		t.Fatalf("second phone: %d", res.StatusCode)
	}
	got := contactExpires(t, res)
	if len(got) != 2 || got["192.0.2.20:0"] != "120" || got["192.0.2.10:5062"] != "600" {
		t.Fatalf("200 lists current contacts: %v", got)
	}
	if r.Count() != 2 {
		t.Fatalf("count %d", r.Count())
	}

	// Refresh of the first; a CSeq not above the last on the same Call-ID
	// is refused.
	res = register(t, r, regMsg{user: "alice-phone", cseq: 5, contacts: []string{"<sip:alice@192.0.2.10:5062>"}, expires: "900"}, "s3cret")
	if res.StatusCode != 200 || contactExpires(t, res)["192.0.2.10:5062"] != "900" {
		t.Fatalf("refresh: %d %v", res.StatusCode, contactExpires(t, res))
	}
	res = register(t, r, regMsg{user: "alice-phone", cseq: 2, contacts: []string{"<sip:alice@192.0.2.10:5062>"}, expires: "900"}, "s3cret")
	if res.StatusCode != 500 {
		t.Fatalf("old CSeq: %d", res.StatusCode)
	}

	// Expiry: the second phone's binding lapses and is swept.
	clock.Advance(121 * time.Second)
	if bs := r.Contacts("alice"); len(bs) != 1 {
		t.Fatalf("after expiry: %+v", bs)
	}
	r.Sweep()
	if r.Count() != 1 {
		t.Fatalf("after sweep count %d", r.Count())
	}

	// Expires: 0 removes one; "*" with Expires: 0 removes all.
	register(t, r, regMsg{user: "alice-phone", cseq: 1, callID: "c3", src: "192.0.2.30:5060", contacts: []string{"<sip:alice@192.0.2.30>"}}, "s3cret")
	res = register(t, r, regMsg{user: "alice-phone", cseq: 9, callID: "c3", src: "192.0.2.30:5060", contacts: []string{"<sip:alice@192.0.2.30>"}, expires: "0"}, "s3cret")
	if res.StatusCode != 200 || len(r.Contacts("alice")) != 1 {
		t.Fatalf("expires 0: %d %+v", res.StatusCode, r.Contacts("alice"))
	}
	res = register(t, r, regMsg{user: "alice-phone", cseq: 20, contacts: []string{"*"}, expires: "3600"}, "s3cret")
	if res.StatusCode != 400 {
		t.Fatalf("* without Expires 0: %d", res.StatusCode)
	}
	res = register(t, r, regMsg{user: "alice-phone", cseq: 21, callID: "other", contacts: []string{"*"}, expires: "0"}, "s3cret")
	if res.StatusCode != 200 || len(r.Contacts("alice")) != 0 || r.Count() != 0 {
		t.Fatalf("* Expires 0: %d %+v", res.StatusCode, r.Contacts("alice"))
	}
	if len(res.GetHeaders("Contact")) != 0 {
		t.Fatal("200 after removing all lists contacts")
	}
}

func TestRegistrarExpiryBounds(t *testing.T) {
	clock := newClock()
	r := newTestRegistrar(clock, nil, nil)
	res := register(t, r, regMsg{user: "bob", cseq: 1, contacts: []string{"<sip:bob@192.0.2.10>"}, expires: "30"}, "hunter2")
	if res.StatusCode != 423 {
		t.Fatalf("too brief: %d", res.StatusCode)
	}
	if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
		t.Fatalf("Min-Expires: %v", h)
	}
	res = register(t, r, regMsg{user: "bob", cseq: 1, contacts: []string{"<sip:bob@192.0.2.10>"}, expires: "99999"}, "hunter2")
	if res.StatusCode != 200 || contactExpires(t, res)["192.0.2.10:0"] != "3600" {
		t.Fatalf("capped at max: %d %v", res.StatusCode, contactExpires(t, res))
	}
	// Overlarge Expires (past 2^32-1) is taken as the default (RFC 4475 3.1.2.4).
	res = register(t, r, regMsg{user: "bob", cseq: 5, contacts: []string{"<sip:bob@192.0.2.10>"}, expires: "36893488147419103232"}, "hunter2")
	if res.StatusCode != 200 || contactExpires(t, res)["192.0.2.10:0"] != "3600" {
		t.Fatalf("overlarge: %d %v", res.StatusCode, contactExpires(t, res))
	}
	res = register(t, r, regMsg{user: "bob", cseq: 7, contacts: []string{"<sip:bob@192.0.2.10>"}, expires: "soon"}, "hunter2")
	if res.StatusCode != 400 {
		t.Fatalf("non-numeric Expires: %d", res.StatusCode)
	}
}

func TestRegistrarContactCap(t *testing.T) {
	clock := newClock()
	r := newTestRegistrar(clock, nil, func(c *RegistrarConfig) { c.MaxContacts = 2 })
	for i := range 3 {
		res := register(t, r, regMsg{user: "bob", cseq: 1, callID: fmt.Sprint("c", i), src: fmt.Sprintf("192.0.2.%d:5060", 10+i),
			contacts: []string{fmt.Sprintf("<sip:bob@192.0.2.%d>", 10+i)}, expires: fmt.Sprint(600 + i)}, "hunter2")
		if res.StatusCode != 200 {
			t.Fatalf("phone %d: %d", i, res.StatusCode)
		}
		clock.Advance(time.Second)
	}
	bs := r.Contacts("bob")
	if len(bs) != 2 || bs[0].Contact.Host != "192.0.2.12" || bs[1].Contact.Host != "192.0.2.11" {
		t.Fatalf("cap keeps the latest two, newest first: %+v", bs)
	}
	res := register(t, r, regMsg{user: "bob", cseq: 1, callID: "many", contacts: []string{"<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>", "<sip:c@192.0.2.3>"}}, "hunter2")
	if res.StatusCode != 403 {
		t.Fatalf("more contacts than the cap in one request: %d", res.StatusCode)
	}
}

func TestRegistrarSameAnswerForUnknownUserAndWrongPassword(t *testing.T) {
	clock := newClock()
	drops := NewDrops(nil)
	r := newTestRegistrar(clock, drops, func(c *RegistrarConfig) { c.FailLimit = 100 })
	answer := func(user, password string) *sip.Response {
		m := regMsg{user: user, cseq: 1, src: "198.51.100.7:5060", contacts: []string{"<sip:x@198.51.100.7>"}}
		ch := challengeOf(t, r.Handle(m.request(t)))
		m.auth = authFor(user, password, ch["realm"], ch["nonce"], "00000001")
		m.cseq = 2
		return r.Handle(m.request(t))
	}
	shape := func(res *sip.Response) string {
		ch := challengeOf(t, res)
		delete(ch, "nonce")
		return fmt.Sprint(res.StatusCode, res.Reason, ch, len(res.Headers()))
	}
	wrong := answer("bob", "not-it")
	unknown := answer("mallory", "whatever")
	if shape(wrong) != shape(unknown) {
		t.Fatalf("answers differ:\n%s\n%s", shape(wrong), shape(unknown))
	}
	if drops.Count(DropAuthFailed) != 2 {
		t.Fatalf("failures counted: %d", drops.Count(DropAuthFailed))
	}
	// To names another user than the credentials: 403.
	m := regMsg{user: "bob", toUser: "alice-phone", cseq: 1, contacts: []string{"<sip:x@192.0.2.1>"}}
	ch := challengeOf(t, r.Handle(m.request(t)))
	m.auth = authFor("bob", "hunter2", ch["realm"], ch["nonce"], "00000001")
	if res := r.Handle(m.request(t)); res.StatusCode != 403 {
		t.Fatalf("other AOR: %d", res.StatusCode)
	}
}

func TestRegistrarStaleNonceAndReplay(t *testing.T) {
	clock := newClock()
	drops := NewDrops(nil)
	r := newTestRegistrar(clock, drops, func(c *RegistrarConfig) { c.FailLimit = 100 })
	m := regMsg{user: "bob", cseq: 1, contacts: []string{"<sip:bob@192.0.2.10>"}}
	ch := challengeOf(t, r.Handle(m.request(t)))
	if ch["qop"] != "auth" || ch["algorithm"] != "MD5" || ch["realm"] != "contactd" {
		t.Fatalf("challenge: %v", ch)
	}
	m.auth = authFor("bob", "hunter2", ch["realm"], ch["nonce"], "00000001")
	m.cseq = 2
	if res := r.Handle(m.request(t)); res.StatusCode != 200 {
		t.Fatalf("first use: %d", res.StatusCode)
	}
	// The same nonce-count again is a replay.
	m.cseq = 3
	if res := r.Handle(m.request(t)); res.StatusCode != 401 || challengeOf(t, res)["stale"] != "" {
		t.Fatalf("replay: %v", res)
	}
	// The next count is fine.
	m.auth = authFor("bob", "hunter2", ch["realm"], ch["nonce"], "00000002")
	m.cseq = 4
	if res := r.Handle(m.request(t)); res.StatusCode != 200 {
		t.Fatalf("nc 2: %d", res.StatusCode)
	}
	// Past its lifetime, right credentials on the nonce: stale=true.
	clock.Advance(DefaultNonceLifetime + time.Second)
	m.auth = authFor("bob", "hunter2", ch["realm"], ch["nonce"], "00000003")
	m.cseq = 5
	if got := challengeOf(t, r.Handle(m.request(t))); got["stale"] != "true" {
		t.Fatalf("stale nonce: %v", got)
	}
	// A wrong password on the expired nonce is a plain failure.
	m.auth = authFor("bob", "nope", ch["realm"], ch["nonce"], "00000004")
	m.cseq = 6
	if got := challengeOf(t, r.Handle(m.request(t))); got["stale"] != "" {
		t.Fatalf("stale on a wrong password: %v", got)
	}
	// A forged nonce fails.
	m.auth = authFor("bob", "hunter2", ch["realm"], strings.Repeat("A", len(ch["nonce"])), "00000001")
	m.cseq = 7
	if got := challengeOf(t, r.Handle(m.request(t))); got["stale"] != "" {
		t.Fatalf("forged nonce: %v", got)
	}
}

func TestRegistrarBlocksSourceAfterFailures(t *testing.T) {
	clock := newClock()
	drops := NewDrops(nil)
	r := newTestRegistrar(clock, drops, nil) // FailLimit 3
	n := 0
	try := func(src, password string) *sip.Response {
		n++
		m := regMsg{user: "bob", cseq: 1, callID: fmt.Sprint("try", n), src: src, contacts: []string{"<sip:bob@192.0.2.10>"}}
		res := r.Handle(m.request(t))
		if res == nil || res.StatusCode != 401 {
			return res
		}
		ch := challengeOf(t, res)
		m.auth = authFor("bob", password, ch["realm"], ch["nonce"], "00000001")
		m.cseq = 2
		return r.Handle(m.request(t))
	}
	for i := range 4 {
		if res := try("203.0.113.5:5060", "guess"); res.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, res.StatusCode)
		}
	}
	// Blocked now, even with the right password, from any port.
	if res := try("203.0.113.5:6000", "hunter2"); res == nil || res.StatusCode != 403 {
		t.Fatalf("blocked source: %v", res)
	}
	if drops.Count(DropAuthBlocked) == 0 {
		t.Fatal("blocked request not counted")
	}
	// Another source is not affected.
	if res := try("203.0.113.6:5060", "hunter2"); res.StatusCode != 200 {
		t.Fatalf("other source: %d", res.StatusCode)
	}
	// The block lapses.
	clock.Advance(DefaultAuthBlockFor + time.Second)
	if res := try("203.0.113.5:5060", "hunter2"); res.StatusCode != 200 {
		t.Fatalf("after the block: %d", res.StatusCode)
	}

	// With DropBlocked, a blocked source gets no answer at all.
	r2 := newTestRegistrar(clock, drops, func(c *RegistrarConfig) { c.DropBlocked = true })
	r = r2
	for range 4 {
		try("[2001:db8:1:2::5]:5060", "guess")
	}
	// The whole /64 is blocked.
	if res := try("[2001:db8:1:2::99]:5060", "hunter2"); res != nil {
		t.Fatalf("blocked /64 answered: %v", res)
	}
}

func TestRegistrarRefusesNonSIPAOR(t *testing.T) {
	r := newTestRegistrar(newClock(), nil, nil)
	b := readVector(t, "testdata/rfc4475/unksm2.dat")
	msg, err := sip.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.1:5060")
	if res := r.Handle(req); res.StatusCode != 400 {
		t.Fatalf("unksm2: %d", res.StatusCode)
	}
	// regaut01: an unknown scheme in Authorization is a challenge, not 416.
	msg, _ = sip.ParseMessage(readVector(t, "testdata/rfc4475/regaut01.dat"))
	req = msg.(*sip.Request)
	req.SetSource("192.0.2.1:5060")
	if res := r.Handle(req); res.StatusCode != 401 {
		t.Fatalf("regaut01: %d", res.StatusCode)
	}
}

func TestRegistrarTrimsUDPResponse(t *testing.T) {
	clock := newClock()
	drops := NewDrops(nil)
	r := newTestRegistrar(clock, drops, func(c *RegistrarConfig) { c.MaxContacts = 10 })
	long := strings.Repeat("x", 200)
	for i := range 8 {
		res := register(t, r, regMsg{user: "bob", cseq: 1, callID: fmt.Sprint("c", i), transport: "TCP",
			contacts: []string{fmt.Sprintf("<sip:%s@192.0.2.%d;transport=tcp>", long, 10+i)}}, "hunter2")
		if res.StatusCode != 200 {
			t.Fatalf("phone %d: %d", i, res.StatusCode)
		}
	}
	res := register(t, r, regMsg{user: "bob", cseq: 1, callID: "udp", contacts: []string{"<sip:bob@192.0.2.99>"}}, "hunter2")
	if res.StatusCode != 200 {
		t.Fatalf("udp: %d", res.StatusCode)
	}
	if size(res) > MaxUDPMessage {
		t.Fatalf("UDP response of %d bytes", size(res))
	}
	got := contactExpires(t, res)
	if _, ok := got["192.0.2.99:0"]; !ok || drops.Count(DropUDPTrimmed) != 1 {
		t.Fatalf("trimmed response keeps this request's contact: %v (trimmed %d)", got, drops.Count(DropUDPTrimmed))
	}
	// Over TCP the full list goes out.
	res = register(t, r, regMsg{user: "bob", cseq: 1, callID: "tcp", transport: "TCP", contacts: []string{"<sip:bob@192.0.2.98;transport=tcp>"}}, "hunter2")
	if n := len(res.GetHeaders("Contact")); n != 10 {
		t.Fatalf("TCP lists %d contacts", n)
	}
}
