package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
)

// SiteSecret is an embedding site's key for signing visitor context.
type SiteSecret struct {
	Origin string // the site, for the logs
	Secret string
}

// VerifiedAttr is the attribute, set by the server only, that lists (comma
// separated) the context fields an embedding site signed. The desk shows
// those as verified and every other field as unverified.
const VerifiedAttr = "_verified"

// maxSignedContext bounds a signed context token.
const maxSignedContext = 16 << 10

var (
	errContextFormat  = errors.New("signed context: want base64url(JSON).base64url(HMAC-SHA256)")
	errContextSig     = errors.New("signed context: the signature matches no site's secret")
	errContextExpired = errors.New("signed context: expired or without exp")
)

// verifyContext checks a signed context token (docs/INTEGRATION.md):
// base64url(payload) "." base64url(HMAC-SHA256(secret, first part)), the
// payload a JSON object of strings with exp, a number of Unix seconds.
// It returns the fields (without exp) and the site whose secret signed it.
func verifyContext(token string, secrets []SiteSecret, now time.Time) (map[string]string, string, error) {
	if len(token) > maxSignedContext {
		return nil, "", errContextFormat
	}
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, "", errContextFormat
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, "", errContextFormat
	}
	site := -1
	for i, s := range secrets {
		h := hmac.New(sha256.New, []byte(s.Secret))
		h.Write([]byte(body))
		if hmac.Equal(h.Sum(nil), mac) {
			site = i
			break
		}
	}
	if site < 0 {
		return nil, "", errContextSig
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, "", errContextFormat
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, "", errContextFormat
	}
	exp, ok := fields["exp"].(float64)
	if !ok || now.After(time.Unix(int64(exp), 0)) {
		return nil, "", errContextExpired
	}
	delete(fields, "exp")
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		s, ok := v.(string)
		if !ok {
			return nil, "", errContextFormat
		}
		out[k] = s
	}
	return out, secrets[site].Origin, nil
}

// visitorContext returns the attributes of a new conversation: those the
// page sent, with the fields of a valid signed context over them and
// VerifiedAttr listing those. A signed context that does not verify is
// left out (the page's fields stay, unverified): the visitor still gets
// through.
func (s *Server) visitorContext(attrs map[string]string, signed string) map[string]string {
	delete(attrs, VerifiedAttr)
	if signed == "" {
		return attrs
	}
	fields, site, err := verifyContext(signed, s.cfg.ContextSecrets, s.now())
	if err != nil {
		s.log.Info("a visitor's signed context is left out", "err", err)
		return attrs
	}
	delete(fields, VerifiedAttr)
	delete(fields, "channel")
	if len(fields) == 0 {
		return attrs
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	maps.Copy(attrs, fields)
	attrs[VerifiedAttr] = strings.Join(slices.Sorted(maps.Keys(fields)), ",")
	s.log.Debug("a visitor's context is signed", "site", site, "fields", attrs[VerifiedAttr])
	return attrs
}
