package signaling

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/contactd/contactd/internal/origin"
)

// SiteSecret is an embedding site's key for signing visitor context.
type SiteSecret struct {
	Origin string // the site: a signed context verifies with this secret only on its pages
	Secret string
}

// VerifiedAttr is the attribute, set by the server only, that lists (comma
// separated) the context fields an embedding site signed. The desk shows
// those as verified and every other field as unverified.
const VerifiedAttr = "_verified"

// maxSignedContext bounds a signed context token.
const maxSignedContext = 16 << 10

// MaxContextAhead is how far ahead of the server's clock a signed
// context's exp may be: a token that would stay valid longer (a leaked one
// usable for ever) is refused.
const MaxContextAhead = 24 * time.Hour

// PageURLAttr is the attribute in which the widget reports the address of
// the page that embeds it; its origin picks the site whose secret a signed
// context must verify with.
const PageURLAttr = "pageUrl"

var (
	errContextFormat  = errors.New("signed context: want base64url(JSON).base64url(HMAC-SHA256)")
	errContextSig     = errors.New("signed context: the signature does not match the secret of the embedding page's site")
	errContextSite    = errors.New("signed context: the embedding page's origin (pageUrl) is not a site with a secret")
	errContextExpired = errors.New("signed context: expired or without exp")
	errContextFuture  = errors.New("signed context: exp is more than 24 hours ahead")
	errContextFields  = errors.New("signed context: too many fields, or a name or value past its limit")
)

// verifyContext checks a signed context token (docs/INTEGRATION.md):
// base64url(payload) "." base64url(HMAC-SHA256(secret, first part)), the
// payload a JSON object of strings with exp, a number of Unix seconds, at
// most MaxContextAhead after now. The secret is that of the site whose
// origin is pageOrigin, the embedding page's as the widget reports it: a
// token signed for one site is refused on another. It returns the fields
// (without exp).
func verifyContext(token string, secrets []SiteSecret, pageOrigin string, now time.Time) (map[string]string, error) {
	if len(token) > maxSignedContext {
		return nil, errContextFormat
	}
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errContextFormat
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, errContextFormat
	}
	site, matched := false, false
	for _, s := range secrets {
		if o, err := origin.Normalize(s.Origin); err != nil || pageOrigin == "" || o != pageOrigin {
			continue
		}
		site = true
		h := hmac.New(sha256.New, []byte(s.Secret))
		h.Write([]byte(body))
		if hmac.Equal(h.Sum(nil), mac) {
			matched = true
			break
		}
	}
	switch {
	case !site:
		return nil, errContextSite
	case !matched:
		return nil, errContextSig
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errContextFormat
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, errContextFormat
	}
	exp, ok := fields["exp"].(float64)
	if !ok || now.After(time.Unix(int64(exp), 0)) {
		return nil, errContextExpired
	}
	if time.Unix(int64(exp), 0).After(now.Add(MaxContextAhead)) {
		return nil, errContextFuture
	}
	delete(fields, "exp")
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		s, ok := v.(string)
		if !ok {
			return nil, errContextFormat
		}
		out[k] = s
	}
	return out, nil
}

// pageOrigin is the origin of the page address the widget reported, or
// "" when there is none.
func pageOrigin(attrs map[string]string) string {
	u, err := url.Parse(attrs[PageURLAttr])
	if err != nil || u.Host == "" {
		return ""
	}
	o, err := origin.Normalize(u.Scheme + "://" + u.Host)
	if err != nil {
		return ""
	}
	return o
}

// visitorContext returns the attributes of a new conversation: those the
// page sent, with the fields of a valid signed context over them and
// VerifiedAttr listing those. A signed context that does not verify, or
// that has more fields than fit (maxAttrs with VerifiedAttr), is left out
// (the page's fields stay, unverified): the visitor still gets through.
// When the signed and the page's fields together are more than maxAttrs,
// the signed ones are kept and page fields dropped (pageUrl and pageTitle
// last, then in name order).
func (s *Server) visitorContext(attrs map[string]string, signed string) map[string]string {
	delete(attrs, VerifiedAttr)
	if signed == "" {
		return attrs
	}
	site := pageOrigin(attrs)
	fields, err := verifyContext(signed, s.cfg.ContextSecrets, site, s.now())
	if err == nil {
		delete(fields, VerifiedAttr)
		delete(fields, "channel")
		if len(fields) >= maxAttrs || checkAttrs(fields) != nil {
			err = errContextFields
		}
	}
	if err != nil {
		s.log.Info("a visitor's signed context is left out", "site", site, "err", err)
		return attrs
	}
	if len(fields) == 0 {
		return attrs
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	maps.Copy(attrs, fields)
	var page []string
	for k := range attrs {
		if _, ok := fields[k]; !ok {
			page = append(page, k)
		}
	}
	if room := maxAttrs - 1 - len(fields); len(page) > room {
		slices.SortFunc(page, func(a, b string) int {
			rank := func(k string) int {
				switch k {
				case PageURLAttr:
					return 0
				case "pageTitle":
					return 1
				}
				return 2
			}
			if c := cmp.Compare(rank(a), rank(b)); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		for _, k := range page[room:] {
			delete(attrs, k)
		}
		s.log.Info("page context fields dropped: with the signed ones they are more than the limit", "site", site, "dropped", len(page)-room)
	}
	attrs[VerifiedAttr] = strings.Join(slices.Sorted(maps.Keys(fields)), ",")
	s.log.Debug("a visitor's context is signed", "site", site, "fields", attrs[VerifiedAttr])
	return attrs
}
