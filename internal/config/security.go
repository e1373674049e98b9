package config

import (
	"net/url"

	"github.com/contactd/contactd/internal/clientip"
	"github.com/contactd/contactd/internal/origin"
)

// validate reports what is wrong with the security settings through add.
func (s Security) validate(add func(format string, args ...any)) {
	if s.PublicURL != "" {
		u, err := url.Parse(s.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("public_url %q: want the address browsers use, such as https://contact.example.com", s.PublicURL)
		}
	}
	for _, o := range s.StaffOrigins {
		if _, err := origin.Normalize(o); err != nil {
			add("staff_origins %v", err)
		}
	}
	for _, p := range s.TrustedProxies {
		if _, err := clientip.ParsePrefix(p); err != nil {
			add("trusted_proxies %v", err)
		}
	}
	for name, d := range map[string]int64{"http_read_timeout": int64(s.ReadTimeout), "http_write_timeout": int64(s.WriteTimeout), "http_idle_timeout": int64(s.IdleTimeout)} {
		if d < 0 {
			add("%s: want zero (no limit) or more, such as 30s", name)
		}
	}
	for name, n := range map[string]int{"max_conns_per_address": s.MaxConnsPerAddress, "max_sockets_per_visitor": s.MaxSocketsPerVisitor, "login_concurrency": s.LoginConcurrency} {
		if n < 0 {
			add("%s %d: want 0 or more", name, n)
		}
	}
	if s.MetricsAddr != "" {
		if err := checkAddr(s.MetricsAddr); err != nil {
			add("metrics_addr %q: want host:port such as 127.0.0.1:9100 (%v)", s.MetricsAddr, err)
		}
	}
	for i, site := range s.Sites {
		if _, err := origin.Normalize(site.Origin); err != nil {
			add("sites[%d]: origin %v", i, err)
		}
		if len(site.Secret) < 32 {
			add("sites[%d]: secret: want at least 32 characters (such as the output of `openssl rand -hex 32`)", i)
		}
	}
}
