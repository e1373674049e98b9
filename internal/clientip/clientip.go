// Package clientip finds who sent a request: the peer's address, or, when
// the peer is a trusted reverse proxy, the address it forwarded in
// X-Forwarded-For, and whether the client used https
// (X-Forwarded-Proto). Every per-address limit reads the address it finds.
package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver knows the trusted proxies. The zero Resolver trusts none: the
// peer's address is the client's, and forwarding headers are ignored.
type Resolver struct {
	trusted []netip.Prefix
}

// New parses the trusted proxies: CIDRs (10.0.0.0/8) or single addresses.
func New(trusted []string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range trusted {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// ParsePrefix parses a CIDR or a single address (taken as /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.10", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusted says whether addr is a trusted proxy.
func (r *Resolver) Trusted(addr netip.Addr) bool {
	if r == nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range r.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func peer(remoteAddr string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(remoteAddr)
	return a.Unmap(), err == nil
}

// Resolve returns the client's address and whether it reached the server
// over https. Only a trusted peer's forwarding headers count: the address
// is the right-most one in X-Forwarded-For that is not a trusted proxy
// (the left-most when all are), so a client cannot choose its address by
// sending the header itself.
func (r *Resolver) Resolve(req *http.Request) (netip.Addr, bool) {
	https := req.TLS != nil
	addr, ok := peer(req.RemoteAddr)
	if !ok || !r.Trusted(addr) {
		return addr, https
	}
	if protos := req.Header.Values("X-Forwarded-Proto"); len(protos) > 0 {
		// The right-most value is the one the trusted proxy next to us
		// set; a proxy that appends leaves the client's own value first.
		last := protos[len(protos)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		https = strings.EqualFold(strings.TrimSpace(last), "https")
	}
	var hops []string
	for _, h := range req.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address we could trust
		}
		addr = a.Unmap()
		if !r.Trusted(addr) {
			break
		}
	}
	return addr, https
}

type httpsKey struct{}

// Middleware rewrites each request's RemoteAddr to the client's address
// (port 0 when it came through a proxy) and records whether the client
// used https, for HTTPS.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		addr, https := r.Resolve(req)
		if https {
			req = req.WithContext(context.WithValue(req.Context(), httpsKey{}, true))
		}
		if p, ok := peer(req.RemoteAddr); ok && addr.IsValid() && p != addr {
			if !https {
				req = req.WithContext(req.Context()) // a copy
			}
			req.RemoteAddr = net.JoinHostPort(addr.String(), "0")
		}
		next.ServeHTTP(w, req)
	})
}

// HTTPS says whether the client used https: the connection is TLS, or a
// trusted proxy said so (the request went through Middleware).
func HTTPS(req *http.Request) bool {
	if req.TLS != nil {
		return true
	}
	v, _ := req.Context().Value(httpsKey{}).(bool)
	return v
}
