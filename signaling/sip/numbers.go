package sip

import (
	"errors"
	"fmt"
	"strings"
)

// Numbers we call (click-to-call): a number typed by an agent or taken
// from a visitor's context is normalised to E.164 (NormalizeNumber), then
// checked against the destination prefixes the trunk may call
// (CheckDestination). Both run before any INVITE is sent.

// ErrBadNumber: the text is not a telephone number.
var ErrBadNumber = errors.New("not a telephone number")

// ErrNotAllowed: the number is outside the allowed destinations.
var ErrNotAllowed = errors.New("destination not allowed")

// NormalizeNumber returns raw as an E.164 number (+ and 8 to 15 digits,
// the first not 0). Visual separators (space - . ( ) and /) are dropped.
// 00 is the international prefix (0044... is +44...). A national number
// (one leading 0) takes countryCode (digits, such as 44: 020 7946 0000 is
// +442079460000); without a countryCode it is refused. Anything else
// (letters, control characters, * or #, a + in the middle) is refused
// with ErrBadNumber and a reason an agent can act on.
func NormalizeNumber(raw, countryCode string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: the number is empty", ErrBadNumber)
	}
	if len(s) > 40 {
		return "", fmt.Errorf("%w: too long", ErrBadNumber)
	}
	var b strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", fmt.Errorf("%w: only digits, spaces and a leading + are allowed", ErrBadNumber)
		}
	}
	d := b.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case strings.HasPrefix(d, "0"):
		if countryCode == "" {
			return "", fmt.Errorf("%w: write the number with its country code (+44 20 ...): no dial_country_code is set for national numbers", ErrBadNumber)
		}
		d = countryCode + d[1:]
	default:
		return "", fmt.Errorf("%w: write the number with its country code, starting with +", ErrBadNumber)
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", fmt.Errorf("%w: an international number has 8 to 15 digits after the +", ErrBadNumber)
	}
	return "+" + d, nil
}

// PremiumPrefixes are destinations refused even when an allowed prefix
// covers them, unless an allowed prefix names them (is as long as one of
// these and starts with it): premium-rate, shared-cost, personal-number
// and satellite or international-network ranges, where a call costs the
// caller (or pays a fraudster). The list is conservative, not complete:
// allow the narrowest prefixes you need.
var PremiumPrefixes = []string{
	"+1900", "+1976", // NANP premium
	"+4487", "+4470", "+449", "+4484", // UK: shared cost, personal numbers, premium
	"+3389",                     // France: premium (08 9x)
	"+49900", "+49137", "+4919", // Germany: premium, televoting, 019x
	"+3989", "+39144", "+39166", // Italy: premium
	"+34803", "+34806", "+34807", "+34905", // Spain: premium, televoting
	"+61190",                                       // Australia: premium
	"+870", "+881", "+882", "+883", "+979", "+808", // satellite, international networks, premium, shared cost
}

// CheckDestination refuses a number (E.164) that no prefix of allow
// covers (an empty allow list refuses every number: dialling is off), or
// that is a premium-rate prefix not named by allow. "+" allows every
// number but the premium ones.
func CheckDestination(number string, allow []string) error {
	if len(allow) == 0 {
		return fmt.Errorf("%w: dialling is off (no dial_allow prefixes are set)", ErrNotAllowed)
	}
	best := ""
	for _, p := range allow {
		if strings.HasPrefix(number, p) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return fmt.Errorf("%w: %s is not in the allowed destinations (dial_allow)", ErrNotAllowed, number)
	}
	for _, p := range PremiumPrefixes {
		if strings.HasPrefix(number, p) && !(strings.HasPrefix(best, p)) {
			return fmt.Errorf("%w: %s looks like a premium-rate or special number (prefix %s); allow that prefix explicitly to call it", ErrNotAllowed, number, p)
		}
	}
	return nil
}

// ValidPrefix says whether p may be a dial_allow entry: + and up to 15
// digits.
func ValidPrefix(p string) bool {
	if !strings.HasPrefix(p, "+") || len(p) > 16 {
		return false
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
