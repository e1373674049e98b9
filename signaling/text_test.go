package signaling

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidTextRefusesWhatJSONWouldAlter(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		ok   bool
	}{
		{"plain text", `{"text":"hello"}`, true},
		{"UTF-8 of every width", `{"text":"é € 😀"}`, true},
		{"escapes", `{"text":"a\"b\\c\n\u00e9\u20ac"}`, true},
		{"a surrogate pair", `{"text":"\ud83d\ude00"}`, true},
		{"an escaped backslash before u", `{"text":"\\ud800"}`, true},
		{"an invalid byte", "{\"text\":\"bad \xff byte\"}", false},
		{"a truncated sequence", "{\"text\":\"\xe2\x82\"}", false},
		{"an encoded surrogate", "{\"text\":\"\xed\xa0\x80\"}", false},
		{"a lone high surrogate", `{"text":"\ud800"}`, false},
		{"a lone low surrogate", `{"text":"\udc00x"}`, false},
		{"a high surrogate before a letter", `{"text":"\ud800\u0041"}`, false},
		{"a high surrogate at the end", `{"text":"\ud83d`, false},
		{"two high surrogates", `{"text":"\ud83d\ud83d"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := validText([]byte(tc.doc)); got != tc.ok {
				t.Fatalf("validText(%q) = %v, want %v", tc.doc, got, tc.ok)
			}
			// What it accepts, encoding/json decodes unaltered.
			var v struct{ Text string }
			if tc.ok && json.Unmarshal([]byte(tc.doc), &v) == nil && (!utf8.ValidString(v.Text) || strings.ContainsRune(v.Text, utf8.RuneError)) {
				t.Fatalf("accepted, and decoded as %q", v.Text)
			}
		})
	}
}
