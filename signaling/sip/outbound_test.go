package sip

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"strings"
	"testing"
)

func TestDialRefusesBeforeAnyLegOrInvite(t *testing.T) {
	cfg := Config{Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", OutboundProxy: "127.0.0.1:9", DialAllow: []string{"+1555"}}}}
	e, m := startEdge(t, cfg, nil, nil, Hooks{})
	for _, c := range []struct {
		name string
		d    Dial
		want error
	}{
		{"not E.164", Dial{Number: "5557654321", CallerID: "+15550100"}, ErrBadNumber},
		{"CR LF in the number", Dial{Number: "+1555765\r\n4321", CallerID: "+15550100"}, ErrBadNumber},
		{"outside the allowlist", Dial{Number: "+442079460000", CallerID: "+15550100"}, ErrNotAllowed},
		{"CR LF in the caller ID", Dial{Number: "+15557654321", CallerID: "+1555\r\nX-Evil: 1"}, nil},
		{"an unknown trunk", Dial{Trunk: "other", Number: "+15557654321", CallerID: "+15550100"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := e.Dial(t.Context(), c.d)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("Dial: %v, want %v", err, c.want)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("the error carries CR or LF: %q", err)
			}
		})
	}
	if n := testutil.CollectAndCount(m.RequestsSent); n != 0 {
		t.Fatalf("%d requests sent for refused calls", n)
	}
	if v := testutil.ToFloat64(m.CallsActive.WithLabelValues("outbound")); v != 0 {
		t.Fatalf("cc_sip_calls_active{outbound} = %v", v)
	}
}

func TestTheInviteCarriesOnlySanitizedCallerID(t *testing.T) {
	e, _ := startEdge(t, Config{}, nil, nil, Hooks{})
	tr := &Trunk{Name: "carrier", Host: "sip.carrier.test", Transport: "tcp"}
	o := &outbound{e: e, trunk: tr, dial: Dial{Number: "+15557654321", CallerID: "+15550100",
		CallerName: strings.NewReplacer(`"`, "", `\`, "").Replace(CleanHeaderValue("Acme\r\nX-Evil: 1 \"Support\"", MaxDisplayName))}}
	req, err := o.invite("v=0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	raw := req.String()
	head := raw[:strings.Index(raw, "\r\n\r\n")]
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, "X-Evil") {
			t.Fatalf("a header was injected: %q", head)
		}
	}
	if req.Recipient.User != "+15557654321" || req.Recipient.Host != "sip.carrier.test" || req.Destination() != "sip.carrier.test:5060" {
		t.Errorf("INVITE %s to %s", req.Recipient.String(), req.Destination())
	}
	if req.Transport() != "tcp" && req.Transport() != "TCP" {
		t.Errorf("transport %s", req.Transport())
	}
	if pai := req.GetHeader("P-Asserted-Identity").Value(); pai != `"Acme X-Evil: 1 Support" <sip:+15550100@sip.carrier.test>` {
		t.Errorf("P-Asserted-Identity: %q", pai)
	}
}

func TestTheOutboundProxyIsAPreloadedRoute(t *testing.T) {
	e, _ := startEdge(t, Config{}, nil, nil, Hooks{})
	o := &outbound{e: e, trunk: &Trunk{Name: "carrier", Host: "sip.carrier.test", OutboundProxy: "192.0.2.10:5070"},
		dial: Dial{Number: "+15557654321", CallerID: "+15550100"}}
	req, err := o.invite("v=0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	// The Request-URI names the provider; the INVITE, and the CANCEL that
	// copies its Route, go to the proxy.
	if r := req.GetHeader("Route"); r == nil || r.Value() != "<sip:192.0.2.10:5070;lr>" {
		t.Fatalf("Route: %v", r)
	}
	if req.Recipient.Host != "sip.carrier.test" || req.Destination() != "192.0.2.10:5070" {
		t.Errorf("INVITE %s to %s", req.Recipient.String(), req.Destination())
	}
}
