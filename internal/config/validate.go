package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Validate reports everything wrong with c at once (joined with
// errors.Join), each problem with what to write instead. Load calls it; call
// it again after changing a Config.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := checkAddr(c.HTTPAddr); err != nil {
		add("http_addr %q: want host:port such as \":8080\" or \"127.0.0.1:8080\" (%v)", c.HTTPAddr, err)
	}
	if c.DataDir == "" {
		add("data_dir is empty: want a directory such as \"./data\"")
	}
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		add("database_url: %v", err)
	}
	if c.DrainTimeout < 0 {
		add("drain_timeout %s: want zero or more, such as 30s", c.DrainTimeout)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		add("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if !slices.Contains([]string{"text", "json"}, strings.ToLower(c.LogFormat)) {
		add("log_format %q: want text or json", c.LogFormat)
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			add("allowed_origins %q: want scheme://host[:port] such as https://shop.example.com", o)
		}
	}
	c.Security.validate(add)
	c.SIP.validate(add)
	c.SIPSecurity.validate(add)
	validateSIPAgents(c.Agents, add)
	if c.VisitorGrace <= 0 {
		add("visitor_grace %s: want more than zero, such as 60s", c.VisitorGrace)
	}
	if c.WidgetSessionsPerAddress <= 0 {
		add("widget_sessions_per_address %d: want 1 or more, such as %d", c.WidgetSessionsPerAddress, DefaultWidgetSessionsPerAddress)
	}
	if c.WidgetSessionRate <= 0 {
		add("widget_session_rate %d: want 1 or more a minute, such as %d", c.WidgetSessionRate, DefaultWidgetSessionRate)
	}
	if c.VoiceOn() {
		if _, _, err := net.SplitHostPort(c.MediaAddr); err != nil {
			add("media_addr %q: want host:port such as :40000 (or off)", c.MediaAddr)
		}
		if c.MediaTimeout < time.Second {
			add("media_timeout %s: want 1s or more, such as 20s", c.MediaTimeout)
		}
		if c.MediaCodec != "PCMU" && c.MediaCodec != "PCMA" {
			add("media_codec %q: want PCMU or PCMA", c.MediaCodec)
		}
		for _, ip := range c.MediaPublicIPs {
			if net.ParseIP(ip) == nil {
				add("media_public_ips %q: want an IP address such as 203.0.113.7", ip)
			}
		}
		for i, s := range c.ICEServers {
			if len(s.URLs) == 0 {
				add("ice_servers[%d]: want urls such as [stun:stun.example.com:3478]", i)
			}
			for _, u := range s.URLs {
				if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
					add("ice_servers[%d]: url %q: want stun:, turn: or turns:", i, u)
				}
			}
		}
	}
	for i, m := range c.Canned {
		if strings.TrimSpace(m.Text) == "" || len(m.Text) > 4096 || len(m.Shortcut) > 32 {
			add("canned[%d]: want a text of 1 to 4096 bytes and a shortcut of at most 32", i)
		}
	}
	if c.Routing.MaxMissedOffers < 0 {
		add("routing.max_missed_offers %d: want 0 (never set Away) or more", c.Routing.MaxMissedOffers)
	}

	queues := make(map[routing.QueueID]int, len(c.Queues)) // id -> index
	for i, q := range c.Queues {
		if err := q.Validate(); err != nil {
			add("queues[%d]: %w", i, err)
		}
		if j, dup := queues[q.ID]; dup && q.ID != "" {
			add("queues[%d]: queue id %q is already used by queues[%d]: want each id once", i, q.ID, j)
			continue
		}
		queues[q.ID] = i
	}
	for _, q := range c.Queues {
		for k, s := range q.Steps {
			if _, ok := queues[s.Fallback]; s.Fallback != "" && !ok {
				add("queue %s: step %d: fallback %q is not a queue in the config: want one of %s", q.ID, k+1, s.Fallback, queueList(c.Queues))
			}
		}
	}

	agents := make(map[routing.AgentID]int, len(c.Agents))
	// Checking a hash computes it (tens of milliseconds): each distinct hash
	// is checked once, so the many agents of a load test that share one
	// cost one check.
	hashes := map[string]error{}
	for i, a := range c.Agents {
		if err := a.AgentConfig().Validate(); err != nil {
			add("agents[%d]: %w", i, err)
		}
		if j, dup := agents[a.ID]; dup && a.ID != "" {
			add("agents[%d]: agent id %q is already used by agents[%d]: want each id once", i, a.ID, j)
		} else {
			agents[a.ID] = i
		}
		for _, r := range a.Roles {
			switch r {
			case store.RoleAgent, store.RoleSupervisor, store.RoleAdmin:
			default:
				add("agent %s: role %q: want agent, supervisor or admin", a.ID, r)
			}
		}
		if a.PasswordHash != "" {
			err, seen := hashes[a.PasswordHash]
			if !seen {
				err = CheckPasswordHash(a.PasswordHash)
				hashes[a.PasswordHash] = err
			}
			if err != nil {
				add("agent %s: password_hash: %v (or leave password_hash out to have a password generated)", a.ID, err)
			}
		}
	}
	return errors.Join(errs...)
}

// CheckPasswordHash says whether hash is an argon2id hash that
// auth.VerifyPassword can check. The error never repeats the hash. It costs
// one hash computation.
func CheckPasswordHash(hash string) error {
	if _, err := auth.VerifyPassword(hash, ""); errors.Is(err, auth.ErrMalformedHash) {
		return err
	}
	return nil
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// checkDatabaseURL accepts empty, a postgres:// or postgresql:// URL, or a
// key=value connection string. Its messages never repeat a password.
func checkDatabaseURL(s string) error {
	if s == "" {
		return nil
	}
	const want = "want postgres://user:password@host:5432/dbname, or empty for the embedded store"
	if !strings.Contains(s, "://") {
		if strings.Contains(s, "=") { // host=... dbname=... form
			return nil
		}
		return errors.New(want)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a valid URL: %s", want)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q is not supported: %s", u.Scheme, want)
	}
	return nil
}

func queueList(qs []routing.QueueConfig) string {
	if len(qs) == 0 {
		return "(no queues defined)"
	}
	var ids []string
	for _, q := range qs {
		if !slices.Contains(ids, string(q.ID)) {
			ids = append(ids, string(q.ID))
		}
	}
	return strings.Join(ids, ", ")
}
