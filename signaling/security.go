package signaling

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/clientip"
	"github.com/contactd/contactd/internal/limit"
	"github.com/contactd/contactd/internal/origin"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Security holds the edges' security settings; the zero value has working
// defaults.
type Security struct {
	// PublicURL is the server's address as browsers reach it
	// (https://contact.example.com). When it is https, session cookies are
	// Secure even behind a TLS-terminating proxy. It is the server's own
	// origin when set; empty: the origin each request was made to.
	PublicURL string
	// StaffOrigins may log staff in and open the desk's WebSocket besides
	// the server's own origin. The widget's AllowedOrigins never may.
	StaffOrigins []string
	// Password checks: at most HashConcurrency at once (default
	// GOMAXPROCS), HashQueue more waiting (default 16; negative: none) up
	// to HashWait (default 20 s, below the server's write timeout); past
	// that a login is answered 503 busy.
	HashConcurrency, HashQueue int
	HashWait                   time.Duration
	// VerifyPassword checks a password against its hash; default
	// auth.VerifyPassword.
	VerifyPassword func(hash, password string) (bool, error)
	// Per account, LoginFree failed logins cost nothing (default 5); each
	// one after doubles the wait before the next attempt, from LoginBackoff
	// (default 1 s) up to LoginBackoffMax (default 15 min). A success
	// forgets them. An attempt counts as failed from its start (a 503 busy
	// one too), so that concurrent guesses count one by one.
	LoginFree                     int
	LoginBackoff, LoginBackoffMax time.Duration
	// MaxConnsPerAddress bounds the WebSockets open from one client
	// address (default 256; negative: no bound); MaxSocketsPerVisitor
	// those of one visitor token (default 4).
	MaxConnsPerAddress, MaxSocketsPerVisitor int
	// ContextSecrets are the embedding sites' keys for signed visitor
	// context (see docs/INTEGRATION.md).
	ContextSecrets []SiteSecret
}

func (c Security) withDefaults() Security {
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if c.HashQueue == 0 {
		c.HashQueue = 16
	}
	if c.HashWait <= 0 {
		c.HashWait = 20 * time.Second
	}
	if c.VerifyPassword == nil {
		c.VerifyPassword = auth.VerifyPassword
	}
	if c.LoginFree <= 0 {
		c.LoginFree = 5
	}
	if c.LoginBackoff <= 0 {
		c.LoginBackoff = time.Second
	}
	if c.LoginBackoffMax <= 0 {
		c.LoginBackoffMax = 15 * time.Minute
	}
	if c.MaxConnsPerAddress == 0 {
		c.MaxConnsPerAddress = 256
	}
	if c.MaxSocketsPerVisitor == 0 {
		c.MaxSocketsPerVisitor = 4
	}
	return c
}

// guard is the server's security state.
type guard struct {
	staff, widget origin.Policy
	secureAlways  bool // the public URL is https
	hashes        *limit.Gate
	logins        *limit.Backoff
	perAddress    *limit.Counter
	perVisitor    *limit.Counter
	verify        func(hash, password string) (bool, error)
	dummy         func() string // a hash checked for unknown accounts
}

// newGuard builds the security state. Entries that are not origins (the
// config's validation refuses them) are left out and logged.
func newGuard(cfg Config, log *slog.Logger) *guard {
	sec := cfg.Security
	valid := func(what string, os []string) []string {
		var out []string
		for _, o := range os {
			if _, err := origin.Normalize(o); err != nil {
				log.Error("an origin left out", "setting", what, "err", err)
				continue
			}
			out = append(out, o)
		}
		return out
	}
	public := sec.PublicURL
	if _, err := origin.New(public, nil, false); err != nil {
		log.Error("the public URL is left out", "err", err)
		public = ""
	}
	staff, _ := origin.New(public, valid("staff_origins", sec.StaffOrigins), true)
	widget, _ := origin.New(public, valid("allowed_origins", cfg.AllowedOrigins), false)
	g := &guard{
		staff: staff, widget: widget,
		hashes:     limit.NewGate(sec.HashConcurrency, sec.HashQueue, sec.HashWait),
		logins:     &limit.Backoff{Free: sec.LoginFree, Base: sec.LoginBackoff, Max: sec.LoginBackoffMax},
		verify:     sec.VerifyPassword,
		dummy:      sync.OnceValue(dummyHash),
		perVisitor: limit.NewCounter(max(0, sec.MaxSocketsPerVisitor)),
	}
	if sec.MaxConnsPerAddress > 0 {
		g.perAddress = limit.NewCounter(sec.MaxConnsPerAddress)
	}
	if u, err := url.Parse(sec.PublicURL); err == nil && u.Scheme == "https" {
		g.secureAlways = true
	}
	return g
}

// dummyHash is the hash of a random password, checked when a login names
// an unknown account so that it costs what a known one costs.
func dummyHash() string {
	h, err := auth.HashPassword(rand.Text())
	if err != nil {
		panic(fmt.Sprintf("hashing a random password: %v", err))
	}
	return h
}

// secure says whether the session cookie set for r is Secure: the public
// URL is https, the connection is TLS, or a trusted proxy says the client
// used https.
func (g *guard) secure(r *http.Request) bool { return g.secureAlways || clientip.HTTPS(r) }

var errLoginBusy = errors.New("too many logins at once")

// checkPassword checks password against the account's hash, or a dummy
// hash when the account is unknown (found false), within the bound on
// concurrent hashes.
func (g *guard) checkPassword(ctx context.Context, hash string, found bool, password string) (bool, error) {
	if !found {
		hash = g.dummy()
	}
	if err := g.hashes.Acquire(ctx); err != nil {
		return false, errLoginBusy
	}
	defer g.hashes.Release()
	ok, err := g.verify(hash, password)
	return ok && found && err == nil, nil
}

// retryAfter sets the Retry-After header to d, in whole seconds (at least 1).
func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}

// CloseAccount closes every open WebSocket of the account (logout, a
// password change, a disabled account), with the policy-violation status
// and reason. It returns how many it closed.
func (s *Server) CloseAccount(id routing.AgentID, reason string) int {
	s.hub.mu.Lock()
	var cs []*conn
	for c := range s.hub.agents[string(id)] {
		cs = append(cs, c)
	}
	s.hub.mu.Unlock()
	for _, c := range cs {
		c.close(websocket.StatusPolicyViolation, reason, errors.New(reason))
	}
	return len(cs)
}

// admitSocket counts a new WebSocket against the per-address and
// per-visitor bounds; release undoes it. ok false: refuse it (429).
func (g *guard) admitSocket(ip, conversation string) (release func(), ok bool) {
	if !g.perAddress.Acquire(ip) {
		return nil, false
	}
	if conversation != "" && !g.perVisitor.Acquire(conversation) {
		g.perAddress.Release(ip)
		return nil, false
	}
	return func() {
		g.perAddress.Release(ip)
		if conversation != "" {
			g.perVisitor.Release(conversation)
		}
	}, true
}

// checkLogin checks a login's password, within the account's backoff and
// the bound on concurrent hashes; false means the answer was written. An
// unknown account costs one hash check like a known one.
func (s *Server) checkLogin(w http.ResponseWriter, r *http.Request, id, password string) (store.Agent, bool) {
	key := id
	if len(key) > 128 {
		key = key[:128]
	}
	// The attempt counts as failed from here (until it succeeds), so
	// that guesses sent at once are spaced out one by one.
	if d := s.sec.logins.Attempt(key, s.now()); d > 0 {
		retryAfter(w, d)
		fail(w, http.StatusTooManyRequests, "rate_limited", "too many failed logins for this account; wait before trying again")
		return store.Agent{}, false
	}
	a, err := s.st.GetAgent(r.Context(), routing.AgentID(id))
	found := err == nil
	ok, err := s.sec.checkPassword(r.Context(), a.PasswordHash, found, password)
	if err != nil {
		retryAfter(w, time.Second)
		fail(w, http.StatusServiceUnavailable, "busy", "too many logins at once; try again in a moment")
		return store.Agent{}, false
	}
	if !ok {
		if d := s.sec.logins.Wait(key, s.now()); d > 0 {
			retryAfter(w, d)
		}
		fail(w, http.StatusUnauthorized, "unauthorized", "wrong login or password")
		return store.Agent{}, false
	}
	s.sec.logins.Succeed(key)
	return a, true
}
