package sip

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
)

func naughtyStrings(t *testing.T) []string {
	t.Helper()
	var list []string
	if err := json.Unmarshal(readVector(t, "testdata/blns/blns.json"), &list); err != nil {
		t.Fatal(err)
	}
	return append(list, "Eve\r\nVia: SIP/2.0/UDP evil", "a\x00b", "\u2028x\u2029", "\xff\xfe", `"quoted\"`, strings.Repeat("é", 500))
}

func TestSanitizedValuesNeverBreakAHeader(t *testing.T) {
	for _, s := range naughtyStrings(t) {
		for name, v := range map[string]string{
			"CleanHeaderValue":  CleanHeaderValue(s, 0),
			"QuotedDisplayName": QuotedDisplayName(s),
			"EscapeURIUser":     EscapeURIUser(s),
		} {
			if !SafeHeaderValue(v) || strings.ContainsAny(v, "\r\n\x00") || !utf8.ValidString(v) {
				t.Fatalf("%s(%q) = %q: unsafe", name, s, v)
			}
			if len(v) > MaxHeaderValue+2 {
				t.Fatalf("%s(%q): %d bytes", name, s, len(v))
			}
		}
		// The display name survives a round trip through a From header.
		if dn := QuotedDisplayName(s); dn != "" {
			raw := "INVITE sip:q@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: " + dn +
				" <sip:" + EscapeURIUser(s) + "@127.0.0.1>;tag=1\r\nTo: <sip:q@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
			msg, err := sip.ParseMessage([]byte(raw))
			if err != nil {
				t.Fatalf("%q: a header built from it does not parse: %v", s, err)
			}
			if n := len(msg.(*sip.Request).GetHeaders("Via")); n != 1 {
				t.Fatalf("%q: injected a header (%d Via)", s, n)
			}
		}
	}
}

func TestSanitizerCases(t *testing.T) {
	cases := []struct{ got, want string }{
		{CleanHeaderValue("  Jane\r\n\tDoe  ", 0), "Jane Doe"},
		{CleanHeaderValue("abcdef", 4), "abcd"},
		{CleanHeaderValue("ééé", 5), "éé"},
		{QuotedDisplayName(`Jane "JJ" \ Doe`), `"Jane \"JJ\" \\ Doe"`},
		{QuotedDisplayName("\r\n"), ""},
		{EscapeURIUser("+1 555 <x>"), "+1%20555%20%3Cx%3E"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
	for in, want := range map[string]string{"+1 (555) 123-4567": "+15551234567", "*21#": "*21#", "1.555.000": "1555000"} {
		if got, ok := CleanNumber(in); !ok || got != want {
			t.Errorf("CleanNumber(%q) = %q %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "+", "12a", "1+2", "1\r\n2", strings.Repeat("1", 65)} {
		if got, ok := CleanNumber(bad); ok {
			t.Errorf("CleanNumber(%q) = %q, want refused", bad, got)
		}
	}
}
