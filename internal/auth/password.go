// Package auth holds the credential primitives: argon2id password hashes,
// generated passwords and random tokens.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash is returned (wrapped) by VerifyPassword when the stored
// hash is not an argon2id PHC string it can check.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// params are argon2id's cost parameters.
type params struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8
	saltLen int // bytes
	keyLen  int // bytes
}

// defaultParams are OWASP's first recommended argon2id configuration
// (19 MiB, 2 passes, 1 lane), with a 16-byte salt and a 32-byte hash.
func defaultParams() params {
	return params{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}
}

// Bounds on parameters read from a stored hash, so a corrupt one cannot make
// VerifyPassword allocate gigabytes or spin for minutes.
const (
	maxMemory = 1 << 20 // KiB (1 GiB)
	maxTime   = 64
)

// HashPassword returns an argon2id hash of pw in PHC format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and hash in unpadded
// standard base64.
func HashPassword(pw string) (string, error) {
	return hashPassword(pw, defaultParams())
}

func hashPassword(pw string, p params) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches hash, a string made by
// HashPassword (with any parameters). The comparison takes constant time.
// A hash it cannot read gives false and an error wrapping ErrMalformedHash;
// the error never repeats the hash.
func VerifyPassword(hash, pw string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
}

// parseHash reads $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parseHash(hash string) (params, []byte, []byte, error) {
	const form = "want $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>"
	fields := strings.Split(hash, "$")
	if len(fields) != 6 || fields[0] != "" {
		return params{}, nil, nil, malformed("%d fields: %s", len(fields)-1, form)
	}
	if fields[1] != "argon2id" {
		return params{}, nil, nil, malformed("algorithm %q is not argon2id", fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return params{}, nil, nil, malformed("version %q: want v=%d", fields[2], argon2.Version)
	}
	var p params
	for i, kv := range strings.Split(fields[3], ",") {
		name, val, _ := strings.Cut(kv, "=")
		want := []string{"m", "t", "p"}
		if i >= len(want) || name != want[i] {
			return params{}, nil, nil, malformed("parameters %q: %s", fields[3], form)
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return params{}, nil, nil, malformed("parameter %s=%q is not a number", name, val)
		}
		switch name {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return params{}, nil, nil, malformed("parallelism %d is above 255", n)
			}
			p.threads = uint8(n)
		}
	}
	switch {
	case p.threads < 1:
		return params{}, nil, nil, malformed("parameters %q: %s", fields[3], form)
	case p.time < 1 || p.time > maxTime:
		return params{}, nil, nil, malformed("t=%d is outside 1..%d", p.time, maxTime)
	case p.memory < 8*uint32(p.threads) || p.memory > maxMemory:
		return params{}, nil, nil, malformed("m=%d is outside %d..%d", p.memory, 8*uint32(p.threads), maxMemory)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(fields[4])
	if err != nil || len(salt) < 8 {
		return params{}, nil, nil, malformed("salt is not unpadded base64 of 8 bytes or more")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(fields[5])
	if err != nil || len(key) < 16 {
		return params{}, nil, nil, malformed("hash is not unpadded base64 of 16 bytes or more")
	}
	return p, salt, key, nil
}

// passwordAlphabet leaves out characters easily confused: 0 O 1 l I.
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratedPasswordLen is the length of GeneratePassword's passwords: about
// 116 bits.
const GeneratedPasswordLen = 20

// GeneratePassword returns a random password of GeneratedPasswordLen
// characters from an alphabet without 0, O, 1, l or I.
func GeneratePassword() (string, error) {
	size := big.NewInt(int64(len(passwordAlphabet)))
	b := make([]byte, GeneratedPasswordLen)
	for i := range b {
		n, err := rand.Int(rand.Reader, size)
		if err != nil {
			return "", fmt.Errorf("auth: generating a password: %w", err)
		}
		b[i] = passwordAlphabet[n.Int64()]
	}
	return string(b), nil
}

// MinTokenBytes is the least randomness NewToken accepts.
const MinTokenBytes = 16

// NewToken returns n random bytes (at least MinTokenBytes) as unpadded
// URL-safe base64, for session ids and visitor tokens.
func NewToken(n int) (string, error) {
	if n < MinTokenBytes {
		return "", fmt.Errorf("auth: a token of %d bytes is too short: want %d or more", n, MinTokenBytes)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
