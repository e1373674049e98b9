// Package origin decides which web origins may call an endpoint. An
// origin is compared whole: scheme, host and port (https://a.example and
// http://a.example are different sites).
package origin

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/contactd/contactd/internal/clientip"
)

// Normalize returns s as scheme://host[:port], lower case, without the
// scheme's default port, or an error when s is not an http(s) origin.
func Normalize(s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(s), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%q: want scheme://host[:port] such as https://shop.example.com", s)
	}
	return join(u.Scheme, u.Host), nil
}

func join(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}

// Policy is who may call: the server's own origin and a list of others.
type Policy struct {
	// Self is the server's public origin (from its public URL). Empty: the
	// origin the request was made to (its Host, with https when the
	// connection or a trusted proxy says so).
	Self string
	// Others are further allowed origins, normalized by New.
	Others []string
	// RequireHeader refuses requests without an Origin header. Browsers
	// send it on every WebSocket handshake and every POST from script.
	RequireHeader bool
}

// New returns a policy allowing self (the public URL, or empty) and
// others; it fails on an entry that is not an origin.
func New(self string, others []string, requireHeader bool) (Policy, error) {
	p := Policy{RequireHeader: requireHeader}
	if self != "" {
		u, err := url.Parse(self)
		if err != nil || u.Host == "" {
			return Policy{}, fmt.Errorf("public URL %q: want https://host[:port]", self)
		}
		p.Self = join(u.Scheme, u.Host)
	}
	for _, o := range others {
		n, err := Normalize(o)
		if err != nil {
			return Policy{}, err
		}
		p.Others = append(p.Others, n)
	}
	return p, nil
}

// SelfOf is the server's own origin as seen by r.
func (p Policy) SelfOf(r *http.Request) string {
	if p.Self != "" {
		return p.Self
	}
	scheme := "http"
	if clientip.HTTPS(r) {
		scheme = "https"
	}
	return join(scheme, r.Host)
}

// Allowed says whether r's Origin header is allowed.
func (p Policy) Allowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return !p.RequireHeader
	}
	n, err := Normalize(o)
	if err != nil {
		return false
	}
	return n == p.SelfOf(r) || slices.Contains(p.Others, n)
}

// Require refuses, with 403 and a JSON error {code, message}, the requests
// whose origin the policy does not allow.
func (p Policy) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.Allowed(r) {
			Refuse(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Refuse answers 403 forbidden for a refused origin.
func Refuse(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	json.NewEncoder(w).Encode(map[string]string{"code": "forbidden", "message": "origin not allowed"})
}
