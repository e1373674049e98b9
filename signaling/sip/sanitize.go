package sip

import (
	"strings"
	"unicode/utf8"
)

// The header sanitizer: everything that puts user input (a display name,
// a caller's number, visitor context) into a SIP header goes through one of
// these, so no CR, LF, NUL or other control character from a user ever
// reaches the wire, and no value grows without bound.

// Length caps (bytes) of sanitized values.
const (
	MaxDisplayName = 64
	MaxHeaderValue = 256
	MaxURIUser     = 64
)

// CleanHeaderValue returns s fit for a header value: invalid UTF-8 and
// control characters (C0, DEL, C1, and the Unicode line and paragraph
// separators) become spaces, runs of white space collapse to one, the ends
// are trimmed, and the result is cut (at a rune boundary) to max bytes
// (MaxHeaderValue when max <= 0).
func CleanHeaderValue(s string, max int) string {
	if max <= 0 {
		max = MaxHeaderValue
	}
	var b strings.Builder
	b.Grow(min(len(s), max))
	space := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				r = ' '
			}
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == 0xfeff {
			r = ' '
		}
		if r == ' ' {
			if b.Len() == 0 {
				continue
			}
			space = true
			continue
		}
		n := utf8.RuneLen(r)
		extra := 0
		if space {
			extra = 1
		}
		if b.Len()+extra+n > max {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// QuotedDisplayName returns s as a quoted-string for a display name
// (`"Jane \"JJ\" Doe"`): cleaned, capped at MaxDisplayName bytes, with
// backslash and double quote escaped. Empty input gives "".
func QuotedDisplayName(s string) string {
	s = CleanHeaderValue(s, MaxDisplayName)
	if s == "" {
		return ""
	}
	return `"` + quoteEscape(s) + `"`
}

// quoteEscape escapes backslash and double quote for a quoted-string and
// drops control characters (a quoted-pair may not carry CR or LF).
func quoteEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CleanNumber keeps what a telephone number may hold in a SIP URI user part:
// digits, a leading +, and * # (for feature codes); visual separators
// (space - . ( )) are dropped, anything else makes it invalid (ok false).
// The result is capped at MaxURIUser.
func CleanNumber(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	out := b.String()
	if out == "" || out == "+" || len(out) > MaxURIUser {
		return "", false
	}
	return out, true
}

// EscapeURIUser percent-escapes s for a SIP URI user part (RFC 3261 25.1:
// unreserved and user-unreserved characters stay), after cleaning and
// capping it at MaxURIUser bytes.
func EscapeURIUser(s string) string {
	s = CleanHeaderValue(s, MaxURIUser)
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// SafeHeaderValue reports whether v may go into a header as it is: no CR,
// LF, NUL or other control character except tab. Code that builds headers
// from anything not made by CleanHeaderValue checks it with this.
func SafeHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(v)
}
