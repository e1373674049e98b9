package sip

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 3261 digest is MD5; RFC 8760's SHA-256 is optional.
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Digest authentication (RFC 3261 §22, RFC 2617 with qop=auth, MD5).
//
// Nonces are stateless: base64url(timestamp | random | HMAC-SHA256(secret,
// timestamp|random)[:16]). A nonce whose MAC checks but whose timestamp is
// older than the nonce lifetime is stale: the answer is a new challenge with
// stale=true when the response was otherwise right, so the phone retries
// without asking its user. The only state is the highest nonce-count seen per
// nonce (replay protection), bounded and swept with the nonce lifetime.
//
// An unknown user and a wrong password cost the same work (a response is
// computed against a dummy password) and get the same answer (401 with a
// fresh challenge), so neither the reply nor its timing tells which it was.

// DigestResult is the outcome of checking a request's credentials.
type DigestResult int

// The outcomes of Digest.Check.
const (
	// DigestMissing: no credentials for our realm; challenge.
	DigestMissing DigestResult = iota
	// DigestOK: the credentials are right; the user is authenticated.
	DigestOK
	// DigestStale: right credentials on an expired nonce; challenge with
	// stale=true.
	DigestStale
	// DigestFailed: wrong or unknown user, wrong password, bad or replayed
	// nonce, malformed credentials; challenge again and count a failure.
	DigestFailed
)

func (r DigestResult) String() string {
	switch r {
	case DigestMissing:
		return "missing"
	case DigestOK:
		return "ok"
	case DigestStale:
		return "stale"
	default:
		return "failed"
	}
}

// DefaultNonceLifetime is how long a nonce is accepted.
const DefaultNonceLifetime = 5 * time.Minute

// maxNonceCounts bounds the nonce-count table; past it the oldest half is
// forgotten (a forgotten nonce is then refused as a replay would be).
const maxNonceCounts = 100_000

// Digest issues challenges and checks credentials for one realm.
type Digest struct {
	realm    string
	secret   []byte
	lifetime time.Duration
	now      func() time.Time

	mu     sync.Mutex
	counts map[string]nonceCount // nonce -> highest nc seen
}

type nonceCount struct {
	nc      uint32
	expires time.Time
}

// NewDigest returns a digest authenticator for realm. secret keys the nonce
// MAC (32 random bytes are made when it is empty; nonces then do not
// survive a restart, which only costs phones one extra round trip).
func NewDigest(realm string, secret []byte, lifetime time.Duration, now func() time.Time) *Digest {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			panic("sip: no randomness for the nonce secret: " + err.Error())
		}
	}
	if lifetime <= 0 {
		lifetime = DefaultNonceLifetime
	}
	if now == nil {
		now = time.Now
	}
	return &Digest{realm: realm, secret: secret, lifetime: lifetime, now: now, counts: map[string]nonceCount{}}
}

// Realm is the realm of the challenges.
func (d *Digest) Realm() string { return d.realm }

const nonceRawLen = 8 + 8 + 16

// Nonce returns a fresh nonce.
func (d *Digest) Nonce() string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(d.now().UnixNano()))
	if _, err := rand.Read(raw[8:16]); err != nil {
		panic("sip: no randomness for a nonce: " + err.Error())
	}
	copy(raw[16:], d.mac(raw[:16]))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func (d *Digest) mac(b []byte) []byte {
	m := hmac.New(sha256.New, d.secret)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// nonceTime checks a nonce's MAC and returns when it was made.
func (d *Digest) nonceTime(nonce string) (time.Time, bool) {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nonceRawLen) {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != nonceRawLen {
		return time.Time{}, false
	}
	if !hmac.Equal(raw[16:], d.mac(raw[:16])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8]))), true
}

// Challenge returns the value of a WWW-Authenticate header with a fresh
// nonce; stale marks the previous nonce as merely expired.
func (d *Digest) Challenge(stale bool) string {
	v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, quoteEscape(d.realm), d.Nonce())
	if stale {
		v += ", stale=true"
	}
	return v
}

// Credentials are the parameters of an Authorization header (Digest).
type Credentials struct {
	Username, Realm, Nonce, URI, Response, Algorithm, CNonce, QOP, NC, Opaque string
}

// ParseCredentials parses the value of an Authorization header. ok is false
// when the scheme is not Digest or the value does not parse.
func ParseCredentials(v string) (c Credentials, ok bool) {
	v = strings.TrimSpace(v)
	scheme, rest, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "Digest") {
		return c, false
	}
	params, ok := parseAuthParams(rest)
	if !ok {
		return c, false
	}
	c = Credentials{
		Username: params["username"], Realm: params["realm"], Nonce: params["nonce"], URI: params["uri"],
		Response: params["response"], Algorithm: params["algorithm"], CNonce: params["cnonce"],
		QOP: params["qop"], NC: params["nc"], Opaque: params["opaque"],
	}
	return c, true
}

// parseAuthParams parses `name=value, name="quoted \" value", ...`.
func parseAuthParams(s string) (map[string]string, bool) {
	out := map[string]string{}
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return out, true
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		name := strings.ToLower(s[start:i])
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) || s[i] != '=' || name == "" {
			return nil, false
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				val.WriteByte(c)
				i++
			}
			if !closed {
				return nil, false
			}
		} else {
			start := i
			for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			val.WriteString(s[start:i])
		}
		if _, dup := out[name]; dup {
			return nil, false
		}
		if len(out) > 32 {
			return nil, false
		}
		out[name] = val.String()
	}
}

// dummyPassword is what an unknown user's response is checked against, so
// the work done does not depend on whether the user exists.
const dummyPassword = "\x00contactd-no-such-user\x00"

// Check verifies credentials c for a request with method. password is the
// user's password and known whether the user exists. The digest-uri is
// hashed as the client sent it; the caller checks it names us.
func (d *Digest) Check(c Credentials, method, password string, known bool) DigestResult {
	if !known {
		password = dummyPassword
	}
	formatOK := strings.EqualFold(c.Realm, d.realm) && c.Username != "" && c.URI != "" &&
		(c.Algorithm == "" || strings.EqualFold(c.Algorithm, "MD5")) &&
		strings.EqualFold(c.QOP, "auth") && len(c.NC) == 8 && c.CNonce != "" && len(c.Response) == 32
	nc, err := strconv.ParseUint(c.NC, 16, 32)
	if err != nil {
		formatOK = false
	}
	made, nonceOK := d.nonceTime(c.Nonce)

	ha1 := md5hex(c.Username + ":" + d.realm + ":" + password)
	ha2 := md5hex(method + ":" + c.URI)
	want := md5hex(ha1 + ":" + c.Nonce + ":" + c.NC + ":" + c.CNonce + ":auth:" + ha2)
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) == 1

	if !known || !formatOK || !nonceOK || !match {
		return DigestFailed
	}
	now := d.now()
	if now.Sub(made) > d.lifetime || made.After(now.Add(time.Minute)) {
		return DigestStale
	}
	if !d.useCount(c.Nonce, uint32(nc), made.Add(d.lifetime), now) {
		return DigestFailed
	}
	return DigestOK
}

// useCount records nc for nonce; false when it is not above the last seen.
func (d *Digest) useCount(nonce string, nc uint32, expires, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.counts[nonce]; ok && nc <= last.nc {
		return false
	}
	if len(d.counts) >= maxNonceCounts {
		d.sweepLocked(now)
		if len(d.counts) >= maxNonceCounts {
			// Still full of live nonces: forget an arbitrary half.
			n := 0
			for k := range d.counts {
				delete(d.counts, k)
				if n++; n >= maxNonceCounts/2 {
					break
				}
			}
		}
	}
	d.counts[nonce] = nonceCount{nc: nc, expires: expires}
	return true
}

// Sweep forgets the counts of expired nonces.
func (d *Digest) Sweep(now time.Time) {
	d.mu.Lock()
	d.sweepLocked(now)
	d.mu.Unlock()
}

func (d *Digest) sweepLocked(now time.Time) {
	for k, v := range d.counts {
		if now.After(v.expires) {
			delete(d.counts, k)
		}
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}

// DigestResponse computes the response a client sends (for tests and for
// a UAC answering a challenge).
func DigestResponse(username, realm, password, method, uri, nonce, nc, cnonce string) string {
	ha1 := md5hex(username + ":" + realm + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
}
