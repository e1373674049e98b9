package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignedTokensProveTheirSubjectUntilTheyExpire(t *testing.T) {
	s, err := NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	tok, err := s.Sign("conv-123", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := s.Verify(tok, now); err != nil || sub != "conv-123" {
		t.Fatalf("verify: %q %v", sub, err)
	}
	if _, err := s.Verify(tok, now.Add(time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	other, _ := NewSigner(bytes.Repeat([]byte{8}, 32))
	forged, _ := other.Sign("conv-123", now.Add(time.Hour))
	later, _ := s.Sign("conv-123", now.Add(24*time.Hour))
	extended := strings.Join([]string{strings.Split(tok, ".")[0], strings.Split(later, ".")[1], strings.Split(tok, ".")[2]}, ".")
	tests := []struct{ name, token string }{
		{"a token signed with another key", forged},
		{"another subject under a valid signature", strings.Replace(tok, strings.Split(tok, ".")[0], "Y29udi05OTk", 1)},
		{"an expiry pushed back under the old signature", extended},
		{"an empty token", ""},
		{"garbage", "not.a.token!"},
		{"too many parts", tok + ".x"},
		{"an oversized token", strings.Repeat("a", 2000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Verify(tc.token, now); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("got %v, want ErrTokenInvalid", err)
			}
		})
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := s.Sign("a.b", now); err == nil {
		t.Fatal("a subject with a dot was signed")
	}
}

func TestHashTokenIsStableAndHidesTheToken(t *testing.T) {
	h := HashToken("secret-token")
	if h != HashToken("secret-token") || h == HashToken("secret-tokem") || strings.Contains(h, "secret") || len(h) != 64 {
		t.Fatalf("hash %q", h)
	}
}
