package sip

import (
	"errors"
	"testing"
)

func TestNumbersAreNormalisedToE164OrRefused(t *testing.T) {
	for _, c := range []struct{ in, cc, want string }{
		{"+44 20 7946 0000", "", "+442079460000"},
		{"+1 (555) 765-4321", "", "+15557654321"},
		{"0044 20 7946 0000", "", "+442079460000"},
		{"020 7946 0000", "44", "+442079460000"},
		{"06.12.34.56.78", "33", "+33612345678"},
		{" +15557654321 ", "", "+15557654321"},
	} {
		got, err := NormalizeNumber(c.in, c.cc)
		if err != nil || got != c.want {
			t.Errorf("NormalizeNumber(%q, %q) = %q, %v; want %q", c.in, c.cc, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, cc string }{
		{"", ""}, {"call me", ""}, {"+1555\r\nX-Evil: 1", ""}, {"+1555\n", ""}, {"+15557654321\x00", ""},
		{"020 7946 0000", ""}, // national without a country code
		{"2079460000", "44"},  // neither + nor 0
		{"+0123456789", ""}, {"+1234567", ""}, {"+1234567890123456", ""},
		{"+1555*21#", ""}, {"1+5557654321", ""}, {"+44 20 7946 0000 ext 12", ""},
		{"+١٢٣٤٥٦٧٨٩", ""}, // digits, but not ASCII
	} {
		if got, err := NormalizeNumber(c.in, c.cc); !errors.Is(err, ErrBadNumber) {
			t.Errorf("NormalizeNumber(%q, %q) = %q, %v; want ErrBadNumber", c.in, c.cc, got, err)
		}
	}
}

func TestTheAllowlistAndPremiumRatePrefixes(t *testing.T) {
	for _, c := range []struct {
		number string
		allow  []string
		ok     bool
	}{
		{"+15557654321", nil, false}, // no allowlist: no dialling
		{"+15557654321", []string{"+1555"}, true},
		{"+442079460000", []string{"+1555"}, false},
		{"+442079460000", []string{"+44"}, true},
		{"+19005551234", []string{"+1"}, false},    // premium under a wide prefix
		{"+19005551234", []string{"+1900"}, true},  // named explicitly
		{"+449091234567", []string{"+44"}, false},  // UK premium 09
		{"+448712345678", []string{"+"}, false},    // "+" allows all but premium
		{"+33612345678", []string{"+"}, true},      // a mobile
		{"+8819123456789", []string{"+"}, false},   // satellite
		{"+4917612345678", []string{"+49"}, true},  // a German mobile
		{"+4990012345678", []string{"+49"}, false}, // German premium
	} {
		err := CheckDestination(c.number, c.allow)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrNotAllowed)) {
			t.Errorf("CheckDestination(%s, %v) = %v, want ok %v", c.number, c.allow, err, c.ok)
		}
	}
}
