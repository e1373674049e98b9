package sip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestParseCredentials(t *testing.T) {
	c, ok := ParseCredentials(`Digest username="bob", realm="contactd", nonce="n", uri="sip:a", response="0123456789abcdef0123456789abcdef", qop=auth, nc=00000001, cnonce="x\"y", algorithm=MD5`)
	if !ok || c.Username != "bob" || c.CNonce != `x"y` || c.NC != "00000001" || c.QOP != "auth" {
		t.Fatalf("%+v %v", c, ok)
	}
	for _, bad := range []string{
		`Basic Ym9iOnNlY3JldA==`,
		`Digest username="bob`,
		`Digest username="a", username="b"`,
		`Digest =x`,
		`Digest ` + strings.Repeat(`a=b, `, 40),
		`Digest`,
	} {
		if _, ok := ParseCredentials(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDigestCheckRefusesWhatItDidNotOffer(t *testing.T) {
	clock := newClock()
	d := NewDigest("contactd", []byte("k"), 0, clock.Now)
	nonce := d.Nonce()
	good := Credentials{Username: "bob", Realm: "contactd", Nonce: nonce, URI: "sip:h", QOP: "auth", NC: "00000001", CNonce: "c",
		Response: DigestResponse("bob", "contactd", "pw", "REGISTER", "sip:h", nonce, "00000001", "c")}
	if r := d.Check(good, "REGISTER", "pw", true); r != DigestOK {
		t.Fatalf("good: %v", r)
	}
	for name, mod := range map[string]func(*Credentials){
		"no qop":        func(c *Credentials) { c.QOP = "" },
		"auth-int":      func(c *Credentials) { c.QOP = "auth-int" },
		"SHA-256":       func(c *Credentials) { c.Algorithm = "SHA-256" },
		"other realm":   func(c *Credentials) { c.Realm = "evil" },
		"short nc":      func(c *Credentials) { c.NC = "1" },
		"other method":  func(c *Credentials) {},
		"another key":   func(c *Credentials) {},
		"unknown user":  func(c *Credentials) {},
		"empty cnonce":  func(c *Credentials) { c.CNonce = "" },
		"upper-case ok": func(c *Credentials) { c.Response = strings.ToUpper(c.Response) },
	} {
		c := good
		c.NC = "00000002"
		c.Response = DigestResponse("bob", "contactd", "pw", "REGISTER", "sip:h", nonce, "00000002", "c")
		mod(&c)
		method, dd, known := "REGISTER", d, true
		switch name {
		case "other method":
			method = "INVITE"
		case "another key":
			dd = NewDigest("contactd", []byte("other"), 0, clock.Now)
		case "unknown user":
			known = false
		}
		r := dd.Check(c, method, "pw", known)
		if name == "upper-case ok" {
			if r != DigestOK {
				t.Errorf("%s: %v", name, r)
			}
			continue
		}
		if r != DigestFailed {
			t.Errorf("%s: %v, want failed", name, r)
		}
	}
}

// FuzzValidate: whatever sipgo parses, validation and the registrar
// neither panic nor answer with a header holding CR or LF.
func FuzzValidate(f *testing.F) {
	for _, name := range []string{"wsinv.dat", "multi01.dat", "insuf.dat", "regaut01.dat", "cparam01.dat", "escnull.dat"} {
		f.Add(string(readVector(f, "testdata/rfc4475/"+name)))
	}
	clock := newClock()
	reg := newTestRegistrar(clock, nil, nil)
	v := &Validator{Allow: "INVITE, ACK"}
	f.Fuzz(func(t *testing.T, data string) {
		msg, err := sip.ParseMessage([]byte(data))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("192.0.2.1:5060")
		req.SetTransport("UDP")
		res, drop := v.Check(req)
		if res == nil && !drop && req.Method == sip.REGISTER {
			res = reg.Handle(req)
		}
		if res != nil {
			for _, h := range res.Headers() {
				if strings.ContainsAny(h.Value(), "\r\n") {
					t.Fatalf("header %s: %q", h.Name(), h.Value())
				}
			}
		}
		reg.Lookup(netip.MustParseAddrPort("192.0.2.1:5060"))
	})
}
