package signaling

import "unicode/utf8"

// validText says whether a JSON document is text as sent: valid UTF-8,
// with no \u escape that is half of a surrogate pair. encoding/json turns
// either into U+FFFD without a word, so a command carrying one would be
// stored altered; it is refused instead (invalid_text).
//
// A backslash only ever appears inside a JSON string, so the escapes are
// found without following the document's structure.
func validText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 >= len(data) {
			continue
		}
		if data[i+1] != 'u' {
			i++ // \" \\ \n ...: the escaped byte is not a backslash that starts one
			continue
		}
		r, ok := hex4(data, i+2)
		switch {
		case !ok:
			return true // malformed: json.Unmarshal says so
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low half alone
		case r >= 0xD800 && r <= 0xDBFF:
			if i+12 > len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
				return false
			}
			lo, ok := hex4(data, i+8)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 11
		default:
			i += 5
		}
	}
	return true
}

// hex4 reads four hex digits at data[at:].
func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
