package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheap are parameters that keep tests fast; VerifyPassword reads the
// parameters from the hash, so it checks these as it checks the defaults.
var cheap = params{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}

func mustHash(t *testing.T, pw string, p params) string {
	t.Helper()
	h, err := hashPassword(pw, p)
	if err != nil {
		t.Fatalf("hashPassword: %v", err)
	}
	return h
}

func TestHashPasswordWithTheDefaultsRoundTrips(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h) {
		t.Errorf("hash %q is not PHC argon2id with m=19456,t=2,p=1, a 16-byte salt and a 32-byte key", h)
	}
	ok, err := VerifyPassword(h, "correct horse battery staple")
	if err != nil || !ok {
		t.Errorf("VerifyPassword(right password) = %v, %v; want true, nil", ok, err)
	}
	ok, err = VerifyPassword(h, "correct horse battery stapler")
	if err != nil || ok {
		t.Errorf("VerifyPassword(wrong password) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyPassword(t *testing.T) {
	h := mustHash(t, "s3cret-Pässwörd", cheap)
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"the right password matches", "s3cret-Pässwörd", true},
		{"a wrong password does not match", "s3cret-Passwort", false},
		{"a password differing in case does not match", "S3CRET-PÄSSWÖRD", false},
		{"a prefix of the password does not match", "s3cret", false},
		{"the empty password does not match", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPassword(h, tt.pw)
			if err != nil || got != tt.want {
				t.Errorf("VerifyPassword = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}

// The stored key is argon2id of the password and the stored salt with the
// stored parameters, computed here independently of VerifyPassword.
func TestTheHashIsArgon2idOfItsSaltAndParameters(t *testing.T) {
	h := mustHash(t, "pw", params{memory: 128, time: 3, threads: 2, saltLen: 16, keyLen: 32})
	f := strings.Split(h, "$")
	if len(f) != 6 || f[3] != "m=128,t=3,p=2" {
		t.Fatalf("hash %q does not carry m=128,t=3,p=2", h)
	}
	salt, err := base64.RawStdEncoding.DecodeString(f[4])
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.RawStdEncoding.DecodeString(f[5])
	if err != nil {
		t.Fatal(err)
	}
	if want := argon2.IDKey([]byte("pw"), salt, 3, 128, 2, 32); !bytes.Equal(key, want) {
		t.Errorf("stored key %x, want %x", key, want)
	}
}

func TestHashingTwiceUsesFreshSalt(t *testing.T) {
	a, b := mustHash(t, "same", cheap), mustHash(t, "same", cheap)
	if a == b {
		t.Errorf("two hashes of one password are equal: %s", a)
	}
}

func TestVerifyPasswordRefusesMalformedHashes(t *testing.T) {
	good := mustHash(t, "pw", cheap)
	f := strings.Split(good, "$") // "", argon2id, v=19, m=64,t=1,p=1, salt, key
	join := func(fields ...string) string { return strings.Join(fields, "$") }
	tests := []struct {
		name string
		hash string
		want string
	}{
		{"an empty string is refused", "", "fields"},
		{"a bcrypt hash is refused", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "fields"},
		{"argon2i is refused", join(f[0], "argon2i", f[2], f[3], f[4], f[5]), `algorithm "argon2i"`},
		{"another version is refused", join(f[0], f[1], "v=16", f[3], f[4], f[5]), `version "v=16"`},
		{"parameters out of order are refused", join(f[0], f[1], f[2], "t=1,m=64,p=1", f[4], f[5]), "parameters"},
		{"a missing parameter is refused", join(f[0], f[1], f[2], "m=64,t=1", f[4], f[5]), "parameters"},
		{"an extra parameter is refused", join(f[0], f[1], f[2], "m=64,t=1,p=1,k=2", f[4], f[5]), "parameters"},
		{"a parameter that is no number is refused", join(f[0], f[1], f[2], "m=lots,t=1,p=1", f[4], f[5]), "not a number"},
		{"zero passes are refused", join(f[0], f[1], f[2], "m=64,t=0,p=1", f[4], f[5]), "t=0"},
		{"a huge memory cost is refused", join(f[0], f[1], f[2], "m=4194304,t=1,p=1", f[4], f[5]), "m=4194304"},
		{"a salt that is not base64 is refused", join(f[0], f[1], f[2], f[3], "!!!!", f[5]), "salt"},
		{"a padded salt is refused", join(f[0], f[1], f[2], f[3], f[4]+"==", f[5]), "salt"},
		{"a short key is refused", join(f[0], f[1], f[2], f[3], f[4], "AAAA"), "hash is not"},
		{"a trailing field is refused", good + "$x", "fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, "pw")
			if ok {
				t.Error("VerifyPassword returned true")
			}
			if !errors.Is(err, ErrMalformedHash) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrMalformedHash mentioning %q", err, tt.want)
			}
			if len(tt.hash) > 20 && strings.Contains(err.Error(), tt.hash) {
				t.Errorf("error %q repeats the hash", err)
			}
		})
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw, err := GeneratePassword()
		if err != nil {
			t.Fatalf("GeneratePassword: %v", err)
		}
		if len(pw) < 20 || len(pw) != GeneratedPasswordLen {
			t.Errorf("password %q has %d characters, want %d (at least 20)", pw, len(pw), GeneratedPasswordLen)
		}
		if strings.ContainsAny(pw, "0O1lI") {
			t.Errorf("password %q holds an ambiguous character", pw)
		}
		if strings.Trim(pw, passwordAlphabet) != "" {
			t.Errorf("password %q has characters outside the alphabet", pw)
		}
		if seen[pw] {
			t.Errorf("password %q was generated twice", pw)
		}
		seen[pw] = true
	}
	if strings.ContainsAny(passwordAlphabet, "0O1lI") || len(passwordAlphabet) != 57 {
		t.Errorf("alphabet %q should be the 57 letters and digits without 0, O, 1, l, I", passwordAlphabet)
	}
}

func TestGeneratedPasswordsUseTheWholeAlphabet(t *testing.T) {
	used := map[rune]bool{}
	for range 100 { // 2,000 draws from 57 symbols: missing one has odds near 1e-13
		pw, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pw {
			used[r] = true
		}
	}
	if len(used) != len(passwordAlphabet) {
		t.Errorf("used %d of the %d symbols", len(used), len(passwordAlphabet))
	}
}

func TestNewToken(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	tests := []struct {
		name    string
		n       int
		wantLen int
	}{
		{"16 bytes give 22 characters", 16, 22},
		{"32 bytes give 43 characters", 32, 43},
		{"33 bytes give 44 characters", 33, 44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewToken(tt.n)
			if err != nil {
				t.Fatalf("NewToken: %v", err)
			}
			b, err := NewToken(tt.n)
			if err != nil {
				t.Fatalf("NewToken: %v", err)
			}
			if len(a) != tt.wantLen || !urlSafe.MatchString(a) {
				t.Errorf("token %q: want %d URL-safe characters", a, tt.wantLen)
			}
			if a == b {
				t.Errorf("two tokens are equal: %s", a)
			}
		})
	}
	for _, n := range []int{-1, 0, 15} {
		if tok, err := NewToken(n); err == nil {
			t.Errorf("NewToken(%d) = %q, want an error: too short", n, tok)
		}
	}
}
