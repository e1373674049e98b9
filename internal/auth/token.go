package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token errors.
var (
	ErrTokenInvalid = errors.New("auth: the token is invalid")
	ErrTokenExpired = errors.New("auth: the token has expired")
)

// MinKeyBytes is the least key length a Signer accepts.
const MinKeyBytes = 32

// Signer makes and checks signed tokens: a subject (such as a
// conversation id) and an expiry, with an HMAC-SHA256 over both. Visitors
// keep one in the browser to prove which conversation is theirs; it
// cannot be forged or altered without the key, and every node that shares
// the key can check it.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer with key (at least MinKeyBytes random bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("auth: a signing key of %d bytes is too short: want %d or more", len(key), MinKeyBytes)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Sign returns a token for subject valid until expires. The subject must
// not contain '.'.
func (s *Signer) Sign(subject string, expires time.Time) (string, error) {
	if subject == "" || strings.Contains(subject, ".") {
		return "", fmt.Errorf("auth: subject %q cannot be signed", subject)
	}
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(expires.Unix()))
	body := base64.RawURLEncoding.EncodeToString([]byte(subject)) + "." + base64.RawURLEncoding.EncodeToString(exp[:])
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body)), nil
}

// Verify checks token at time now and returns its subject.
func (s *Signer) Verify(token string, now time.Time) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > 1024 {
		return "", ErrTokenInvalid
	}
	body := parts[0] + "." + parts[1]
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.mac(body)) {
		return "", ErrTokenInvalid
	}
	subject, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	exp, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || len(exp) != 8 || len(subject) == 0 {
		return "", ErrTokenInvalid
	}
	if now.Unix() >= int64(binary.BigEndian.Uint64(exp)) {
		return "", ErrTokenExpired
	}
	return string(subject), nil
}

func (s *Signer) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// HashToken is what is stored for a session token: its SHA-256, in hex. A
// stolen database then holds no usable session.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
