package app

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/config"
)

// An agent's phone registers with the account from the config file (digest,
// through sipgo's own client), shows in cc_sip_registrations, is a known
// device for INVITE admission, and unregisters.
func TestAnAgentsPhoneRegistersWithTheConfigAccount(t *testing.T) {
	cfg := sipConfig(t)
	cfg.Agents = append(cfg.Agents, config.AgentSpec{ID: "desk", SIPUsername: "desk-1", SIPPassword: "a long phone secret", VoiceDevice: config.VoiceBrowser})
	a, base := startSIPOnly(t, cfg)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run("over "+tr, func(t *testing.T) {
			ua, err := sipgo.NewUA(sipgo.WithUserAgent("desk-phone"), sipgo.WithUserAgentHostname("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			defer ua.Close()
			cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			to := sipAddr(t, a, tr)
			register := func(password string, expires int) *sip.Response {
				t.Helper()
				req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(to.Port())})
				req.SetTransport(strings.ToUpper(tr))
				aor := sip.Uri{Scheme: "sip", User: "desk-1", Host: "127.0.0.1"}
				req.AppendHeader(&sip.ToHeader{Address: aor})
				from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
				from.Params.Add("tag", "t1")
				req.AppendHeader(from)
				req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "desk-1", Host: "127.0.0.1", Port: 5999}})
				req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				res, err := cli.Do(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode == 401 {
					res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "desk-1", Password: password})
					if err != nil {
						t.Fatal(err)
					}
				}
				return res
			}
			if res := register("wrong password", 600); res.StatusCode != 401 {
				t.Fatalf("wrong password: %s", res.StartLine())
			}
			res := register("a long phone secret", 600)
			if res.StatusCode != 200 {
				t.Fatalf("register: %s", res.StartLine())
			}
			if bs := a.sipReg.Contacts("desk"); len(bs) != 1 || bs[0].Contact.Port != 5999 {
				t.Fatalf("contacts: %+v", bs)
			}
			if _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, "cc_sip_registrations 1") ||
				!strings.Contains(metrics, `cc_sip_dropped_total{reason="auth_failed"}`) {
				t.Fatalf("metrics lack cc_sip_registrations 1 or cc_sip_dropped_total")
			}
			if agent, ok := a.sipReg.DeviceAt(netip.MustParseAddrPort("127.0.0.1:5999")); !ok || agent != "desk" {
				t.Fatalf("device at the contact: %q %v", agent, ok)
			}
			if res := register("a long phone secret", 0); res.StatusCode != 200 || len(a.sipReg.Contacts("desk")) != 0 {
				t.Fatalf("unregister: %s, %d left", res.StartLine(), len(a.sipReg.Contacts("desk")))
			}
		})
	}
}
