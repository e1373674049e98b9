package app

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/contactd/contactd/internal/clientip"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/limit"
	"github.com/contactd/contactd/signaling"
)

// securityConfig is the edges' part of the security settings.
func securityConfig(c config.Config) signaling.Security {
	sites := make([]signaling.SiteSecret, len(c.Sites))
	for i, s := range c.Sites {
		sites[i] = signaling.SiteSecret{Origin: s.Origin, Secret: s.Secret}
	}
	perAddr := c.MaxConnsPerAddress
	if perAddr == 0 {
		perAddr = -1 // config: 0 is no bound
	}
	perVisitor := c.MaxSocketsPerVisitor
	if perVisitor == 0 {
		perVisitor = -1
	}
	return signaling.Security{PublicURL: c.PublicURL, StaffOrigins: c.StaffOrigins, HashConcurrency: c.LoginConcurrency,
		MaxConnsPerAddress: perAddr, MaxSocketsPerVisitor: perVisitor, ContextSecrets: sites}
}

// publicHTTPS says whether the public URL is https: then HSTS is sent.
func publicHTTPS(c config.Config) bool {
	u, err := url.Parse(c.PublicURL)
	return err == nil && u.Scheme == "https"
}

// metricsHandler serves the registry, behind the bearer token when one is
// set.
func (a *App) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg})
	token := a.cfg.MetricsToken
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <metrics_token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// MetricsAddr is where /metrics is served when metrics_addr is set (else
// empty: on Addr).
func (a *App) MetricsAddr() string {
	if a.metricsLn == nil {
		return ""
	}
	return a.metricsLn.Addr().String()
}

// capListener closes, at once, a connection from an address that has max
// open already; trusted proxies are not counted (their clients are, by
// the WebSocket bound on the forwarded address).
type capListener struct {
	net.Listener
	counts  *limit.Counter
	proxies *clientip.Resolver
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil || l.proxies.Trusted(ap.Addr()) {
			return c, nil
		}
		key := ap.Addr().Unmap().String()
		if !l.counts.Acquire(key) {
			c.Close()
			continue
		}
		release := sync.OnceFunc(func() { l.counts.Release(key) })
		if tc, ok := c.(*net.TCPConn); ok {
			return &countedTCP{TCPConn: tc, release: release}, nil
		}
		return &counted{Conn: c, release: release}, nil
	}
}

// countedTCP keeps *net.TCPConn's methods (SetWriteBuffer, ReadFrom for
// sendfile) and counts the connection until it closes.
type countedTCP struct {
	*net.TCPConn
	release func()
}

func (c *countedTCP) Close() error {
	c.release()
	return c.TCPConn.Close()
}

type counted struct {
	net.Conn
	release func()
}

func (c *counted) Close() error {
	c.release()
	return c.Conn.Close()
}
