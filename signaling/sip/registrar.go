package sip

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/routing"
)

// The registrar (RFC 3261 §10.3): agents' phones REGISTER with digest
// credentials (sip_username, sip_password in the agent's config), and the
// rest of the edge asks it where an agent's phones are (Contacts) and
// whether a request comes from a registered phone (Lookup).

// Account is one agent's SIP credentials.
type Account struct {
	Agent    routing.AgentID
	Username string
	Password string
}

// Binding is one registered contact of an agent.
type Binding struct {
	Agent routing.AgentID
	// Contact is the contact URI as registered (kept as is, parameters
	// included, RFC 4475 3.3.13/3.3.14).
	Contact sip.Uri
	// Params are the Contact header's parameters (q, +sip.instance, ...)
	// without expires.
	Params sip.HeaderParams
	// Source is where the REGISTER came from and Transport how: a phone
	// behind NAT is reached there, not at a private Contact address.
	Source    netip.AddrPort
	Transport string
	Expires   time.Time
	CallID    string
	CSeq      uint32
	// Registered is when the binding was made (refreshes keep it).
	Registered time.Time
}

// ExpiresIn is the whole seconds left at now (0 when expired).
func (b Binding) ExpiresIn(now time.Time) int {
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// RegistrarConfig holds the registrar's settings; zero fields take the
// defaults below.
type RegistrarConfig struct {
	// Realm of the digest challenges (sip_domain, or "contactd").
	Realm string
	// Domains the registrar answers for; empty: any host (an IP literal is
	// always accepted). A REGISTER for another domain gets 404.
	Domains        []string
	MinExpires     time.Duration
	MaxExpires     time.Duration
	DefaultExpires time.Duration
	// MaxContacts per agent; a new contact past it replaces the binding
	// that expires first.
	MaxContacts int
	// Failures from one source (IPv6: its /64) within FailWindow past
	// FailLimit block that source for BlockFor.
	FailLimit  int
	FailWindow time.Duration
	BlockFor   time.Duration
	// DropBlocked: a blocked source's requests get no answer (instead of
	// 403).
	DropBlocked bool
	// NonceSecret keys the nonces (random when empty).
	NonceSecret   []byte
	NonceLifetime time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Drops counts refused messages (may be nil).
	Drops *Drops
}

// Registrar defaults.
const (
	DefaultMinExpires     = 60 * time.Second
	DefaultMaxExpires     = 3600 * time.Second
	DefaultRegExpires     = 3600 * time.Second
	DefaultMaxContacts    = 5
	DefaultAuthFailLimit  = 10
	DefaultAuthFailWindow = 5 * time.Minute
	DefaultAuthBlockFor   = 15 * time.Minute
)

func (c RegistrarConfig) withDefaults() RegistrarConfig {
	if c.Realm == "" {
		c.Realm = "contactd"
	}
	if c.MinExpires <= 0 {
		c.MinExpires = DefaultMinExpires
	}
	if c.MaxExpires <= 0 {
		c.MaxExpires = DefaultMaxExpires
	}
	if c.MaxExpires < c.MinExpires {
		c.MaxExpires = c.MinExpires
	}
	if c.DefaultExpires <= 0 {
		c.DefaultExpires = DefaultRegExpires
	}
	c.DefaultExpires = min(max(c.DefaultExpires, c.MinExpires), c.MaxExpires)
	if c.MaxContacts <= 0 {
		c.MaxContacts = DefaultMaxContacts
	}
	if c.FailLimit <= 0 {
		c.FailLimit = DefaultAuthFailLimit
	}
	if c.FailWindow <= 0 {
		c.FailWindow = DefaultAuthFailWindow
	}
	if c.BlockFor <= 0 {
		c.BlockFor = DefaultAuthBlockFor
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Registrar holds the agents' accounts and their phones' bindings.
type Registrar struct {
	cfg    RegistrarConfig
	digest *Digest
	fails  *failures

	mu        sync.Mutex
	byUser    map[string]Account // sip username -> account
	byAgent   map[routing.AgentID][]*Binding
	bySource  map[netip.AddrPort]*Binding
	bindings  int
	onChange  func(agent routing.AgentID)
	lastSweep time.Time
}

// NewRegistrar returns a registrar with accounts.
func NewRegistrar(cfg RegistrarConfig, accounts []Account) *Registrar {
	cfg = cfg.withDefaults()
	r := &Registrar{
		cfg:       cfg,
		digest:    NewDigest(cfg.Realm, cfg.NonceSecret, cfg.NonceLifetime, cfg.Now),
		fails:     newFailures(cfg.FailLimit, cfg.FailWindow, cfg.BlockFor),
		byAgent:   map[routing.AgentID][]*Binding{},
		lastSweep: cfg.Now(),
		bySource:  map[netip.AddrPort]*Binding{},
	}
	r.SetAccounts(accounts)
	return r
}

// Digest is the registrar's authenticator (the edge challenges other
// requests from phones with it).
func (r *Registrar) Digest() *Digest { return r.digest }

// SetAccounts replaces the accounts; bindings of agents that lost their
// account are removed.
func (r *Registrar) SetAccounts(accounts []Account) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byUser = make(map[string]Account, len(accounts))
	agents := map[routing.AgentID]bool{}
	for _, a := range accounts {
		if a.Username == "" || a.Password == "" {
			continue
		}
		r.byUser[a.Username] = a
		agents[a.Agent] = true
	}
	for agent := range r.byAgent {
		if !agents[agent] {
			r.removeAgentLocked(agent)
		}
	}
}

// OnChange sets a function called (outside the lock) with the agent whose
// bindings changed.
func (r *Registrar) OnChange(f func(agent routing.AgentID)) {
	r.mu.Lock()
	r.onChange = f
	r.mu.Unlock()
}

// Contacts returns the agent's live bindings, the latest registered first.
func (r *Registrar) Contacts(agent routing.AgentID) []Binding {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Binding, 0, len(r.byAgent[agent]))
	for _, b := range r.byAgent[agent] {
		if b.Expires.After(now) {
			out = append(out, *b)
		}
	}
	slices.SortStableFunc(out, func(a, b Binding) int { return b.Registered.Compare(a.Registered) })
	return out
}

// Lookup tells whether a request from src comes from a registered phone:
// src is the address a binding was registered from, or the host:port of a
// binding's contact with the same IP as its source.
func (r *Registrar) Lookup(src netip.AddrPort) (Binding, bool) {
	now := r.cfg.Now()
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.bySource[src]; ok && b.Expires.After(now) {
		return *b, true
	}
	for _, bs := range r.byAgent {
		for _, b := range bs {
			if !b.Expires.After(now) || b.Source.Addr() != src.Addr() {
				continue
			}
			port := b.Contact.Port
			if port == 0 {
				port = 5060
			}
			if ip, err := netip.ParseAddr(strings.Trim(b.Contact.Host, "[]")); err == nil && ip.Unmap() == src.Addr() && port == int(src.Port()) {
				return *b, true
			}
		}
	}
	return Binding{}, false
}

// DeviceAt is Lookup for the edge's INVITE admission (Hooks.Devices).
func (r *Registrar) DeviceAt(src netip.AddrPort) (routing.AgentID, bool) {
	b, ok := r.Lookup(src)
	return b.Agent, ok
}

// Live is the number of bindings not expired (cc_sip_registrations).
func (r *Registrar) Live() int {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, bs := range r.byAgent {
		for _, b := range bs {
			if b.Expires.After(now) {
				n++
			}
		}
	}
	return n
}

// Count is the number of bindings (live or not yet swept).
func (r *Registrar) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bindings
}

// Run sweeps every interval until ctx ends.
func (r *Registrar) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Sweep()
		}
	}
}

// Sweep removes expired bindings and forgets old failures and nonce counts.
func (r *Registrar) Sweep() {
	now := r.cfg.Now()
	var changed []routing.AgentID
	r.mu.Lock()
	for agent, bs := range r.byAgent {
		n := len(bs)
		for _, b := range bs {
			if !b.Expires.After(now) {
				r.removeLocked(agent, b)
			}
		}
		if len(r.byAgent[agent]) != n {
			changed = append(changed, agent)
		}
	}
	f := r.onChange
	r.mu.Unlock()
	r.fails.sweep(now)
	r.digest.Sweep(now)
	if f != nil {
		for _, a := range changed {
			f(a)
		}
	}
}

func (r *Registrar) removeLocked(agent routing.AgentID, b *Binding) {
	bs := r.byAgent[agent]
	i := slices.Index(bs, b)
	if i < 0 {
		return
	}
	bs = slices.Delete(bs, i, i+1)
	if len(bs) == 0 {
		delete(r.byAgent, agent)
	} else {
		r.byAgent[agent] = bs
	}
	if r.bySource[b.Source] == b {
		delete(r.bySource, b.Source)
	}
	r.bindings--
}

func (r *Registrar) removeAgentLocked(agent routing.AgentID) {
	for _, b := range slices.Clone(r.byAgent[agent]) {
		r.removeLocked(agent, b)
	}
}

// Serve answers a REGISTER on its server transaction (nil answer: none).
func (r *Registrar) Serve(req *sip.Request, tx sip.ServerTransaction) {
	res := r.Handle(req)
	if res == nil {
		return
	}
	if err := tx.Respond(res); err != nil && r.cfg.Drops != nil {
		r.cfg.Drops.Add(DropRespondFailed)
	}
}

// sweepEvery: Handle sweeps expired bindings, failures and nonce counts
// this often (no goroutine of its own).
const sweepEvery = time.Minute

// Handle processes a REGISTER and returns the answer, nil when the source is
// blocked and DropBlocked is set.
func (r *Registrar) Handle(req *sip.Request) *sip.Response {
	now := r.cfg.Now()
	r.mu.Lock()
	sweep := now.Sub(r.lastSweep) >= sweepEvery
	if sweep {
		r.lastSweep = now
	}
	r.mu.Unlock()
	if sweep {
		r.Sweep()
	}
	src, _ := netip.ParseAddrPort(req.Source())
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if r.fails.blocked(src.Addr(), now) {
		r.cfg.Drops.Add(DropAuthBlocked)
		if r.cfg.DropBlocked {
			return nil
		}
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}

	// The AOR must be a SIP URI (RFC 3261 10.3 step 5; RFC 4475 3.3.4).
	to := req.To()
	if to == nil || (to.Address.Scheme != "sip" && to.Address.Scheme != "sips") || to.Address.User == "" {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request: To must be a SIP address of record", nil)
	}
	if !r.ourDomain(req.Recipient.Host) {
		return sip.NewResponseFromRequest(req, sip.StatusNotFound, "Not Found", nil)
	}

	// Authentication (RFC 3261 22.3): credentials for our realm, if any.
	var creds Credentials
	found := false
	for _, h := range req.GetHeaders("Authorization") {
		c, ok := ParseCredentials(h.Value())
		if ok && strings.EqualFold(c.Realm, r.cfg.Realm) {
			creds, found = c, true
			break
		}
	}
	if !found {
		return r.challenge(req, false)
	}
	r.mu.Lock()
	acct, known := r.byUser[creds.Username]
	r.mu.Unlock()
	result := r.digest.Check(creds, string(req.Method), acct.Password, known)
	if result == DigestOK && !r.uriNamesUs(creds.URI, req) {
		result = DigestFailed
	}
	switch result {
	case DigestStale:
		return r.challenge(req, true)
	case DigestOK:
	default:
		r.fails.fail(src.Addr(), now)
		r.cfg.Drops.Add(DropAuthFailed)
		return r.challenge(req, false)
	}
	// The authenticated user may register only its own AOR.
	if to.Address.User != creds.Username {
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}

	res, agent, changed := r.update(req, acct, src, now)
	if changed {
		r.mu.Lock()
		f := r.onChange
		r.mu.Unlock()
		if f != nil {
			f(agent)
		}
	}
	return res
}

func (r *Registrar) challenge(req *sip.Request, stale bool) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", r.digest.Challenge(stale)))
	return res
}

func (r *Registrar) ourDomain(host string) bool {
	if len(r.cfg.Domains) == 0 {
		return true
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return true
	}
	for _, d := range r.cfg.Domains {
		if strings.EqualFold(d, host) {
			return true
		}
	}
	return false
}

// uriNamesUs checks the digest-uri names the same host as the
// Request-URI (RFC 2617 3.2.2.5).
func (r *Registrar) uriNamesUs(uri string, req *sip.Request) bool {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.Host, req.Recipient.Host)
}

// expiresValue parses an Expires value: ok false when it is not a number;
// values past 2^32-1 are taken as the default (RFC 4475 3.1.2.4).
func expiresValue(v string, def time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return def, true
	}
	return time.Duration(n) * time.Second, true
}

func contactKey(u sip.Uri) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(u.Scheme))
	b.WriteByte(':')
	b.WriteString(u.User)
	b.WriteByte('@')
	b.WriteString(strings.ToLower(u.Host))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(u.Port))
	if t, ok := u.UriParams.Get("transport"); ok {
		b.WriteString(";transport=")
		b.WriteString(strings.ToLower(t))
	}
	return b.String()
}

type contactReq struct {
	h       *sip.ContactHeader
	expires time.Duration
}

// update applies the REGISTER's contacts for the authenticated account.
func (r *Registrar) update(req *sip.Request, acct Account, src netip.AddrPort, now time.Time) (res *sip.Response, agent routing.AgentID, changed bool) {
	agent = acct.Agent
	bad := func(reason string) (*sip.Response, routing.AgentID, bool) {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, reason, nil), agent, false
	}
	def := r.cfg.DefaultExpires
	if hs := req.GetHeaders("Expires"); len(hs) > 1 {
		return bad("Bad Request: several Expires")
	} else if len(hs) == 1 {
		d, ok := expiresValue(hs[0].Value(), r.cfg.DefaultExpires)
		if !ok {
			return bad("Bad Request: Expires")
		}
		def = d
	}
	cseq := req.CSeq()
	callID := req.CallID()
	if cseq == nil || callID == nil {
		return bad("Bad Request")
	}

	var contacts []contactReq
	star := false
	for _, h := range req.GetHeaders("Contact") {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return bad("Bad Request: Contact")
		}
		if ch.Address.Wildcard {
			star = true
			continue
		}
		if ch.Address.Scheme != "sip" && ch.Address.Scheme != "sips" {
			return bad("Bad Request: Contact must be a SIP URI")
		}
		exp := def
		if v, ok := ch.Params.Get("expires"); ok {
			d, ok := expiresValue(v, r.cfg.DefaultExpires)
			if !ok {
				return bad("Bad Request: expires")
			}
			exp = d
		}
		if exp > 0 && exp < r.cfg.MinExpires {
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second))))
			return res, agent, false
		}
		exp = min(exp, r.cfg.MaxExpires)
		contacts = append(contacts, contactReq{h: ch, expires: exp})
	}
	if star {
		// RFC 3261 10.3 step 6: "*" only alone and with Expires: 0.
		if len(contacts) > 0 || def != 0 || len(req.GetHeaders("Expires")) != 1 {
			return bad("Bad Request: wildcard Contact")
		}
	}
	if len(contacts) > r.cfg.MaxContacts {
		res := sip.NewResponseFromRequest(req, sip.StatusForbidden, "Too Many Contacts", nil)
		return res, agent, false
	}

	r.mu.Lock()
	if star {
		for _, b := range r.byAgent[agent] {
			if b.CallID == callID.Value() && b.CSeq >= cseq.SeqNo {
				r.mu.Unlock()
				return sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Out of Order", nil), agent, false
			}
		}
		changed = len(r.byAgent[agent]) > 0
		r.removeAgentLocked(agent)
	}
	// Check every contact before changing any (RFC 3261 10.3 step 7 fails
	// the whole request).
	for _, c := range contacts {
		if b := r.findLocked(agent, c.h.Address); b != nil && b.CallID == callID.Value() && b.CSeq >= cseq.SeqNo {
			r.mu.Unlock()
			return sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Out of Order", nil), agent, false
		}
	}
	for _, c := range contacts {
		b := r.findLocked(agent, c.h.Address)
		if c.expires == 0 {
			if b != nil {
				r.removeLocked(agent, b)
				changed = true
			}
			continue
		}
		params := c.h.Params.Clone()
		params.Remove("expires")
		if b == nil {
			if len(r.byAgent[agent]) >= r.cfg.MaxContacts {
				r.removeLocked(agent, slices.MinFunc(r.byAgent[agent], func(a, b *Binding) int { return a.Expires.Compare(b.Expires) }))
			}
			b = &Binding{Agent: agent, Registered: now}
			r.byAgent[agent] = append(r.byAgent[agent], b)
			r.bindings++
		} else if r.bySource[b.Source] == b {
			delete(r.bySource, b.Source)
		}
		b.Contact = *c.h.Address.Clone()
		b.Params = params
		b.Source = src
		b.Transport = req.Transport()
		b.Expires = now.Add(c.expires)
		b.CallID = callID.Value()
		b.CSeq = cseq.SeqNo
		r.bySource[src] = b
		changed = true
	}
	current := make([]Binding, 0, len(r.byAgent[agent]))
	for _, b := range r.byAgent[agent] {
		if b.Expires.After(now) {
			current = append(current, *b)
		}
	}
	r.mu.Unlock()

	res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	for _, b := range current {
		res.AppendHeader(bindingHeader(b, now))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	if strings.EqualFold(req.Transport(), "UDP") {
		res = fitUDP(res, contacts, r.cfg.Drops)
	}
	return res, agent, changed
}

func (r *Registrar) findLocked(agent routing.AgentID, u sip.Uri) *Binding {
	key := contactKey(u)
	for _, b := range r.byAgent[agent] {
		if contactKey(b.Contact) == key {
			return b
		}
	}
	return nil
}

func bindingHeader(b Binding, now time.Time) *sip.ContactHeader {
	params := b.Params.Clone()
	params.Add("expires", strconv.Itoa(b.ExpiresIn(now)))
	return &sip.ContactHeader{Address: *b.Contact.Clone(), Params: params}
}

// MaxUDPMessage is the largest message sent over UDP (RFC 3261 18.1.1:
// 200 bytes under a 1500-byte MTU). sipgo refuses to send a larger one
// (sip.ErrUDPMTUCongestion), so a response is trimmed to fit instead.
const MaxUDPMessage = 1300

// fitUDP trims a REGISTER's 200 OK that would not fit a datagram: the other
// contacts are left out and only those of this request listed (the phone
// learns the rest on its next refresh; it needs its own expiry most).
func fitUDP(res *sip.Response, mine []contactReq, drops *Drops) *sip.Response {
	if size(res) <= MaxUDPMessage {
		return res
	}
	drops.Add(DropUDPTrimmed)
	keep := map[string]bool{}
	for _, c := range mine {
		keep[contactKey(c.h.Address)] = true
	}
	for _, h := range res.GetHeaders("Contact") {
		if ch, ok := h.(*sip.ContactHeader); ok && !keep[contactKey(ch.Address)] {
			removeHeader(res, h)
		}
	}
	for size(res) > MaxUDPMessage {
		hs := res.GetHeaders("Contact")
		if len(hs) == 0 {
			break
		}
		removeHeader(res, hs[len(hs)-1])
		if len(res.GetHeaders("Contact")) >= len(hs) {
			break // cannot happen; never loop forever
		}
	}
	return res
}

func size(m sip.Message) int {
	var b bytes.Buffer
	m.StringWrite(&b)
	return b.Len()
}

// removeHeader removes exactly h (sipgo removes by name, the first only).
func removeHeader(m *sip.Response, h sip.Header) {
	all := m.GetHeaders(h.Name())
	for m.RemoveHeader(h.Name()) {
	}
	for _, o := range all {
		if o != h {
			m.AppendHeader(o)
		}
	}
}

// failures counts failed authentications per source (IPv6 by /64) and
// blocks a source past the limit.
type failures struct {
	limit  int
	window time.Duration
	block  time.Duration

	mu sync.Mutex
	m  map[netip.Prefix]*failState
}

type failState struct {
	start        time.Time
	n            int
	blockedUntil time.Time
}

// maxFailSources bounds the table; a full table sweeps, then forgets the
// oldest windows.
const maxFailSources = 65536

func newFailures(limit int, window, block time.Duration) *failures {
	return &failures{limit: limit, window: window, block: block, m: map[netip.Prefix]*failState{}}
}

func (f *failures) blocked(a netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[SourceKey(a)]
	return ok && now.Before(s.blockedUntil)
}

func (f *failures) fail(a netip.Addr, now time.Time) {
	k := SourceKey(a)
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[k]
	if !ok {
		if len(f.m) >= maxFailSources {
			f.sweepLocked(now)
			for k2 := range f.m {
				if len(f.m) < maxFailSources {
					break
				}
				delete(f.m, k2)
			}
		}
		s = &failState{start: now}
		f.m[k] = s
	}
	if now.Sub(s.start) > f.window {
		s.start, s.n = now, 0
	}
	s.n++
	if s.n > f.limit {
		s.blockedUntil = now.Add(f.block)
	}
}

func (f *failures) sweep(now time.Time) {
	f.mu.Lock()
	f.sweepLocked(now)
	f.mu.Unlock()
}

func (f *failures) sweepLocked(now time.Time) {
	for k, s := range f.m {
		if now.Sub(s.start) > f.window && !now.Before(s.blockedUntil) {
			delete(f.m, k)
		}
	}
}
