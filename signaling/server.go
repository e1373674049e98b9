package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Canned is a canned message an agent can insert.
type Canned struct {
	Shortcut string `json:"shortcut"`
	Text     string `json:"text"`
}

// DefaultInvitation is the invitation template; %name% is the agent's
// display name.
const DefaultInvitation = "Hello! I'm %name%. If you have any questions or requests I'm ready to help you."

// Config holds the settings of the edges.
type Config struct {
	// AllowedOrigins are the origins (scheme://host[:port]) of the sites
	// that embed the widget. The server's own origin is always allowed.
	AllowedOrigins []string
	SessionTTL     time.Duration // staff login, default 12 h
	VisitorTTL     time.Duration // visitor token, default 24 h
	// VisitorGrace: a visitor gone this long has left, and an agent whose
	// desk stays closed this long is set offline. Default 60 s.
	VisitorGrace time.Duration
	Canned       []Canned
	Invitation   string
	Queues       []routing.QueueConfig
	// Command rate limits per connection and per address (commands a
	// second, burst); defaults 20/40 and 200/400.
	ConnRate, ConnBurst float64
	IPRate, IPBurst     float64
	// Widget sessions per client address: at most SessionsPerAddress
	// waiting in queues at once, and SessionRate new ones a minute (also
	// the burst). Defaults DefaultSessionsPerAddress and DefaultSessionRate.
	SessionsPerAddress int
	SessionRate        float64
	// Commands, when set, keeps the ids and first results of accept,
	// take, transfer, transfer_complete and end across restarts.
	Commands CommandLog
	// Security: origins, login limits, socket bounds (security.go).
	Security
}

func (c Config) withDefaults() Config {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.VisitorTTL <= 0 {
		c.VisitorTTL = 24 * time.Hour
	}
	if c.VisitorGrace <= 0 {
		c.VisitorGrace = 60 * time.Second
	}
	if c.Invitation == "" {
		c.Invitation = DefaultInvitation
	}
	if c.ConnRate <= 0 {
		c.ConnRate, c.ConnBurst = 20, 40
	}
	if c.IPRate <= 0 {
		c.IPRate, c.IPBurst = 200, 400
	}
	if c.SessionsPerAddress <= 0 {
		c.SessionsPerAddress = DefaultSessionsPerAddress
	}
	if c.SessionRate <= 0 {
		c.SessionRate = DefaultSessionRate
	}
	c.Security = c.Security.withDefaults()
	return c
}

// Store is what the edges read and write directly.
type Store interface {
	GetAgent(ctx context.Context, id routing.AgentID) (store.Agent, error)
	ListAgents(ctx context.Context) ([]store.Agent, error)
	CreateSession(ctx context.Context, s store.Session) error
	GetSession(ctx context.Context, tokenHash string, now time.Time) (store.Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	CreateLeftMessage(ctx context.Context, m store.LeftMessage) error
	ListLeftMessages(ctx context.Context, f store.LeftMessageFilter, limit int) ([]store.LeftMessage, error)
	MarkLeftMessageHandled(ctx context.Context, id string, by routing.AgentID, at time.Time) error
	GetLeftMessage(ctx context.Context, id string) (store.LeftMessage, error)
	ListOpenConversations(ctx context.Context) ([]store.Conversation, error)
}

// Chat is what the edges use of the chat service.
type Chat interface {
	Send(ctx context.Context, id store.ConversationID, who chat.Sender, clientID, kind, text string) (store.Message, bool, error)
	Hold(ctx context.Context, id store.ConversationID, agent routing.AgentID, on bool) (store.Message, error)
	HistoryPage(ctx context.Context, id store.ConversationID, who chat.Sender, after int64, limit int) (msgs []store.Message, upTo int64, full bool, err error)
	RoleOf(ctx context.Context, id store.ConversationID, who chat.Sender) (chat.Role, bool, error)
	Info(ctx context.Context, id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error)
	CallEvent(ctx context.Context, id store.ConversationID, who chat.Sender, ev string, data map[string]string) (store.Message, error)
	Held(ctx context.Context, id store.ConversationID) (bool, error)
}

// Coordinator is what the edges use of the chat coordinator: the
// hand-offs between a conversation and routing.
type Coordinator interface {
	StartVisitor(ctx context.Context, queue routing.QueueID, channel routing.Channel, name string, attrs map[string]string) (store.Conversation, error)
	EndByVisitor(ctx context.Context, id store.ConversationID) (store.Message, error)
	EndByAgent(ctx context.Context, id store.ConversationID, agent routing.AgentID) (store.Message, error)
	EndBySystem(ctx context.Context, id store.ConversationID, reason string) error
	OperatorRoom(ctx context.Context, a, b routing.AgentID) (store.ConversationID, error)
	VisitorLeft(ctx context.Context, id store.ConversationID) error
}

var (
	_ Chat        = (*chat.Service)(nil)
	_ Coordinator = (*chat.Coordinator)(nil)
)

// Server serves /ws and /api.
type Server struct {
	cfg    Config
	log    *slog.Logger
	st     Store
	chat   Chat
	coord  Coordinator
	router chat.Router
	signer *auth.Signer
	hub    *hub
	calls  *calls
	now    func() time.Time

	loginLimits *ipLimits
	cmdLimits   *ipLimits
	sessLimits  *ipLimits      // widget sessions made per address
	waiting     *waitingLimits // widget sessions waiting per address
	sec         *guard
	wg          sync.WaitGroup
	baseCtx     context.Context
}

// New returns the server. ctx bounds the life of its connections.
func New(ctx context.Context, cfg Config, log *slog.Logger, st Store, cs Chat, coord Coordinator, r chat.Router, signer *auth.Signer) *Server {
	s := &Server{
		cfg: cfg.withDefaults(), log: log, st: st, chat: cs, coord: coord, router: r, signer: signer, now: time.Now,
		loginLimits: newIPLimits(10.0/60, 10), baseCtx: ctx,
	}
	s.cmdLimits = newIPLimits(s.cfg.IPRate, s.cfg.IPBurst)
	s.sessLimits = newIPLimits(s.cfg.SessionRate/60, s.cfg.SessionRate)
	s.waiting = newWaitingLimits(s.cfg.SessionsPerAddress)
	s.sec = newGuard(s.cfg, log)
	s.hub = newHub(s)
	s.calls = newCalls(s)
	return s
}

// EnableVoice turns voice calls on: browser legs from v.Legs, the ICE
// servers handed to browsers. Call it before serving.
func (s *Server) EnableVoice(v Voice) { s.calls.voice = v.withDefaults() }

// CloseCalls ends every call in progress (the server stops).
func (s *Server) CloseCalls() { s.calls.closeAll("server_stopped") }

// ActiveCalls is the number of calls in progress.
func (s *Server) ActiveCalls() int { return s.calls.active() }

// Deliver passes a committed chat message to the connections that see it.
// It is the chat service's delivery function.
func (s *Server) Deliver(m store.Message) {
	s.hub.message(m)
	if m.Kind == store.MsgEvent && s.calls.enabled() {
		switch m.Event {
		case chat.EvHold, chat.EvResume, chat.EvJoined, chat.EvLeft, chat.EvHandedOver, chat.EvEnded:
			// Not on the committer's goroutine: a call that ends stores an
			// event of its own.
			go s.calls.onEvent(m)
		}
	}
}

// Effect passes a routing effect, after its chat side, to the connections
// concerned. It is the coordinator's onEffect.
func (s *Server) Effect(f routing.Effect) { s.hub.effect(f) }

// Wait waits for the connections' goroutines after ctx ended.
func (s *Server) Wait() { s.wg.Wait() }

// --- helpers ---

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// readBody decodes a JSON body of at most 64 KiB into v.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "too_long", "the body is larger than 64 KiB")
		return false
	}
	if !validText(body) {
		fail(w, http.StatusBadRequest, CodeInvalidText, "the body is not valid UTF-8 text (or escapes half of a surrogate pair)")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "the body is not the JSON expected: "+err.Error())
		return false
	}
	return true
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// addressOf is the key of r's client in the per-address limits: the IPv4
// address, or the /64 an IPv6 address is in (one subscriber holds a whole
// /64: keyed by /128, one machine would have 2^64 budgets).
func addressOf(r *http.Request) string { return addressKey(clientIP(r)) }

func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// originAllowed says whether the request's Origin is the server itself or
// an allowed embedding site (origins compared with their scheme). A
// request without Origin (not from a browser) is allowed; browsers always
// send it on WebSocket and CORS. Staff calls use staffOrigin instead.
func (s *Server) originAllowed(r *http.Request) bool { return s.sec.widget.Allowed(r) }

// staffOrigin says whether a staff call that changes something (log in,
// log out, the desk's socket) comes from an allowed page: the server's own
// origin or staff_origins, never the widget's embedding sites. A browser
// always sends Origin with a POST and a WebSocket, so a request without
// one is refused, not waved through.
func (s *Server) staffOrigin(r *http.Request) bool { return s.sec.staff.Allowed(r) }

// --- staff sessions ---

const sessionCookie = "cc_session"

func (s *Server) session(r *http.Request) (store.Agent, string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > 256 {
		return store.Agent{}, "", false
	}
	hash := auth.HashToken(c.Value)
	sess, err := s.st.GetSession(r.Context(), hash, s.now())
	if err != nil {
		return store.Agent{}, "", false
	}
	a, err := s.st.GetAgent(r.Context(), sess.Agent)
	if err != nil {
		return store.Agent{}, "", false
	}
	return a, hash, true
}

type account struct {
	ID          routing.AgentID `json:"id"`
	DisplayName string          `json:"displayName"`
	Roles       []store.Role    `json:"roles"`
}

func accountOf(a store.Agent) account {
	return account{ID: a.ID, DisplayName: a.DisplayName, Roles: a.Roles}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ caller) {
	if !s.staffOrigin(r) {
		fail(w, http.StatusForbidden, "forbidden", "origin not allowed")
		return
	}
	if !s.loginLimits.allow(addressOf(r), s.now()) {
		fail(w, http.StatusTooManyRequests, "rate_limited", "too many login attempts; wait a minute")
		return
	}
	var req struct {
		ID       string `json:"id"`
		Password string `json:"password"`
	}
	if !readBody(w, r, &req) {
		return
	}
	a, ok := s.checkLogin(w, r, req.ID, req.Password)
	if !ok {
		return
	}
	tok, err := auth.NewToken(32)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "could not create a session")
		return
	}
	now := s.now()
	if err := s.st.CreateSession(r.Context(), store.Session{TokenHash: auth.HashToken(tok), Agent: a.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}); err != nil {
		s.log.Error("storing a session", "err", err)
		fail(w, http.StatusServiceUnavailable, "unavailable", "could not store the session; try again")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.sec.secure(r), Expires: now.Add(s.cfg.SessionTTL)})
	writeJSON(w, http.StatusOK, accountOf(a))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, who caller) {
	if !s.staffOrigin(r) {
		fail(w, http.StatusForbidden, "forbidden", "origin not allowed")
		return
	}
	if who.session != "" {
		s.st.DeleteSession(r.Context(), who.session)
		s.CloseAccount(who.account.ID, "logged out")
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1,
		Secure: s.sec.secure(r)})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, who caller) {
	writeJSON(w, http.StatusOK, accountOf(who.account))
}

func (s *Server) deskConfig(w http.ResponseWriter, r *http.Request, who caller) {
	a := who.account
	type q struct {
		ID   routing.QueueID `json:"id"`
		Name string          `json:"name"`
	}
	var qs []q
	for _, c := range s.cfg.Queues {
		qs = append(qs, q{c.ID, c.WithDefaults().Name})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"queues": qs, "canned": s.cfg.Canned,
		"invitation": strings.ReplaceAll(s.cfg.Invitation, "%name%", a.DisplayName),
		"voice":      s.calls.enabled(), "iceServers": s.iceServers(),
		// Click-to-call (dial.go): whether call_phone works here, and
		// whether this account may type a number.
		"dial": map[string]bool{"on": s.calls.enabled() && s.calls.voice.Dialer != nil, "canType": s.calls.mayDial(who.roles)},
	})
}

// leftMessages lists the messages left for the queues the agent serves;
// one left for a queue that is not configured (any more) is for every
// agent, so that it is not lost.
// Bounds of the left messages listing.
const (
	leftOpenShown    = 500 // open ones, newest first
	leftHandledShown = 50  // recently handled ones
)

// leftFilter is what an account sees of the left messages: those of the
// queues it serves, and of queues no longer configured.
func (s *Server) leftFilter(a store.Agent) store.LeftMessageFilter {
	f := store.LeftMessageFilter{Queues: []routing.QueueID{}, Known: []routing.QueueID{}}
	for _, q := range s.cfg.Queues {
		f.Known = append(f.Known, q.ID)
		if serves(a, q) {
			f.Queues = append(f.Queues, q.ID)
		}
	}
	return f
}

// leftMessages lists the caller's open left messages (up to
// leftOpenShown) and the most recently handled ones (leftHandledShown),
// newest first: filtered in the store, so that handled messages or other
// queues' never crowd open ones out.
func (s *Server) leftMessages(w http.ResponseWriter, r *http.Request, who caller) {
	f := s.leftFilter(who.account)
	f.OnlyOpen = true
	open, err := s.st.ListLeftMessages(r.Context(), f, leftOpenShown)
	if err == nil {
		f.OnlyOpen, f.OnlyHandled = false, true
		var handled []store.LeftMessage
		handled, err = s.st.ListLeftMessages(r.Context(), f, leftHandledShown)
		open = append(open, handled...)
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", "could not read the messages")
		return
	}
	slices.SortStableFunc(open, func(a, b store.LeftMessage) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	writeJSON(w, http.StatusOK, map[string]any{"items": append([]store.LeftMessage{}, open...)})
}

// markLeftMessageHandled marks a left message the caller sees as handled
// by the caller (again: the last mark stands).
func (s *Server) markLeftMessageHandled(w http.ResponseWriter, r *http.Request, who caller) {
	id := r.PathValue("id")
	f := s.leftFilter(who.account)
	f.ID = id
	ms, err := s.st.ListLeftMessages(r.Context(), f, 1)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", "could not read the message")
		return
	}
	if len(ms) == 0 {
		fail(w, http.StatusNotFound, CodeNotFound, "no left message "+strconv.Quote(id)+" of your queues")
		return
	}
	m := ms[0]
	m.HandledBy, m.HandledAt = who.account.ID, s.now().UTC()
	if err := s.st.MarkLeftMessageHandled(r.Context(), id, m.HandledBy, m.HandledAt); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fail(w, http.StatusNotFound, CodeNotFound, "no left message "+strconv.Quote(id))
			return
		}
		fail(w, http.StatusServiceUnavailable, "unavailable", "could not mark the message")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// --- visitors ---

// cors answers for an allowed embedding origin.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if !s.originAllowed(r) {
		fail(w, http.StatusForbidden, "forbidden", "this site may not embed the widget")
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Vary", "Origin")
	}
	return true
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request, _ caller) {
	if !s.cors(w, r) {
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// Limits of visitor-supplied fields.
const (
	maxAttrs      = 20
	maxAttrKey    = 64
	maxAttrValue  = 512
	maxName       = 100
	maxLeftText   = 8 << 10
	maxEmailBytes = 254
)

func checkAttrs(attrs map[string]string) error {
	if len(attrs) > maxAttrs {
		return fmt.Errorf("at most %d attributes", maxAttrs)
	}
	for k, v := range attrs {
		if k == "" || len(k) > maxAttrKey || len(v) > maxAttrValue || !utf8.ValidString(k+v) || strings.ContainsRune(k+v, 0) {
			return fmt.Errorf("attribute %q: keys up to %d bytes, values up to %d, UTF-8 text", k, maxAttrKey, maxAttrValue)
		}
	}
	return nil
}

func checkField(name, v string, max int) error {
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return fmt.Errorf("%s: at most %d bytes of UTF-8 text", name, max)
	}
	return nil
}

// visitorCall checks a visitor's HTTP call (origin, rate) and reads its
// body into v; false means the answer was written.
func (s *Server) visitorCall(w http.ResponseWriter, r *http.Request, v any) bool {
	if !s.cors(w, r) {
		return false
	}
	if !s.cmdLimits.allow(addressOf(r), s.now()) {
		fail(w, http.StatusTooManyRequests, "rate_limited", "slow down")
		return false
	}
	return readBody(w, r, v)
}

func (s *Server) widgetSession(w http.ResponseWriter, r *http.Request, _ caller) {
	var req struct {
		Queue      string            `json:"queue"`
		Name       string            `json:"name"`
		Channel    string            `json:"channel"`
		Attributes map[string]string `json:"attributes"`
		// SignedContext is context signed by the embedding site (context.go).
		SignedContext string `json:"signedContext"`
	}
	if !s.visitorCall(w, r, &req) {
		return
	}
	channel := routing.ChannelChat
	switch req.Channel {
	case "", string(routing.ChannelChat):
	case string(routing.ChannelVoice):
		if !s.calls.enabled() {
			fail(w, http.StatusBadRequest, "bad_request", "voice is not available on this server; choose chat")
			return
		}
		channel = routing.ChannelVoice
	default:
		fail(w, http.StatusBadRequest, "bad_request", "channel is chat or voice")
		return
	}
	if err := errors.Join(checkField("name", req.Name, maxName), checkAttrs(req.Attributes)); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	// "channel" is the server's to set: it says the visitor chose Voice.
	attrs := maps.Clone(req.Attributes)
	delete(attrs, "channel")
	attrs = s.visitorContext(attrs, req.SignedContext)
	if err := checkAttrs(attrs); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if channel == routing.ChannelVoice {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["channel"] = string(routing.ChannelVoice)
	}
	ip := addressOf(r)
	if !s.sessLimits.allow(ip, s.now()) {
		fail(w, http.StatusTooManyRequests, "rate_limited", "too many new chats from this address; try again in a minute")
		return
	}
	if s.waiting.sweepDue(s.now()) {
		s.wg.Go(func() { s.waiting.sweep(s.baseCtx, s.stillQueued) })
	}
	if !s.waiting.reserve(r.Context(), ip, s.stillQueued) {
		fail(w, http.StatusTooManyRequests, "rate_limited", "too many chats waiting from this address; try again later")
		return
	}
	rec, err := s.coord.StartVisitor(r.Context(), routing.QueueID(req.Queue), channel, strings.TrimSpace(req.Name), attrs)
	if err != nil {
		s.waiting.cancel(ip)
		code, msg := codeOf(err)
		status := http.StatusBadRequest
		switch code {
		case "draining", "unavailable", "internal":
			status = http.StatusServiceUnavailable
		}
		fail(w, status, code, msg)
		return
	}
	s.waiting.done(ip, rec.ID)
	s.hub.expectVisitor(string(rec.ID)) // one who never connects leaves after the grace
	exp := s.now().Add(s.cfg.VisitorTTL)
	tok, err := s.signer.Sign(string(rec.ID), exp)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "could not sign the session")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"conversation": rec.ID, "token": tok, "expires": exp.UTC().Format(time.RFC3339),
		"channel": channel, "iceServers": s.iceServers()})
}

// widgetConfig tells the widget what the server offers: voice or not, and
// the ICE servers for calls.
func (s *Server) widgetConfig(w http.ResponseWriter, r *http.Request, _ caller) {
	if !s.cors(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"voice": s.calls.enabled(), "iceServers": s.iceServers()})
}

func (s *Server) leaveMessage(w http.ResponseWriter, r *http.Request, _ caller) {
	var req struct {
		Queue        string            `json:"queue"`
		Name         string            `json:"name"`
		Email        string            `json:"email"`
		Text         string            `json:"text"`
		Conversation string            `json:"conversation"`
		Attributes   map[string]string `json:"attributes"`
	}
	if !s.visitorCall(w, r, &req) {
		return
	}
	err := errors.Join(checkField("name", req.Name, maxName), checkField("email", req.Email, maxEmailBytes),
		checkField("text", req.Text, maxLeftText), checkField("queue", req.Queue, 64), checkAttrs(req.Attributes))
	if err == nil && (strings.TrimSpace(req.Text) == "" || !strings.Contains(req.Email, "@")) {
		err = errors.New("a message needs some text and an e-mail address to answer")
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if !slices.ContainsFunc(s.cfg.Queues, func(q routing.QueueConfig) bool { return string(q.ID) == req.Queue }) {
		fail(w, http.StatusBadRequest, CodeNotFound, "unknown queue "+strconv.Quote(req.Queue))
		return
	}
	m := store.LeftMessage{ID: chat.NewID("m_"), Queue: routing.QueueID(req.Queue), Name: req.Name, Email: req.Email, Text: req.Text,
		Attributes: req.Attributes, Conversation: store.ConversationID(req.Conversation), CreatedAt: s.now().UTC()}
	if err := s.st.CreateLeftMessage(r.Context(), m); err != nil {
		s.log.Error("storing a left message", "err", err)
		fail(w, http.StatusServiceUnavailable, "unavailable", "could not store the message; try again")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": m.ID})
}

// --- WebSocket ---

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, who caller) {
	var agent store.Agent
	var conversation string
	if tok := r.URL.Query().Get("token"); tok != "" {
		if !s.originAllowed(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		sub, err := s.signer.Verify(tok, s.now())
		if err != nil {
			http.Error(w, "invalid or expired visitor token", http.StatusUnauthorized)
			return
		}
		conversation = sub
	} else {
		// The desk: the server's own origin and staff_origins only, never
		// the widget's embedding sites.
		if !s.staffOrigin(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		switch {
		case who.roles == 0:
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		case !who.roles.has(anyStaff):
			http.Error(w, "this account holds no staff role", http.StatusForbidden)
			return
		}
		agent = who.account
	}
	release, ok := s.sec.admitSocket(addressOf(r), conversation)
	if !ok {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many connections", http.StatusTooManyRequests)
		return
	}
	// Count the connection before Accept hijacks it: once hijacked,
	// http.Server.Shutdown no longer waits for this handler, and an Add
	// from zero after Shutdown returned would race with Wait (and could
	// let Wait return before this connection's goroutine started).
	s.wg.Add(1)
	up := &upgrade{ResponseWriter: w}
	ws, err := websocket.Accept(up, r, &websocket.AcceptOptions{Subprotocols: []string{"cc.v1"}, InsecureSkipVerify: true})
	if err != nil {
		s.wg.Done()
		release()
		return // Accept wrote the answer
	}
	ip := clientIP(r)
	var log *slog.Logger
	if conversation != "" {
		log = s.log.With("ip", ip, "conversation", conversation)
	} else {
		log = s.log.With("ip", ip, "agent", agent.ID)
	}
	c := newConn(s.baseCtx, ws, up.cork, log, addressOf(r), s.cfg.ConnRate, s.cfg.ConnBurst)
	c.conversation, c.agent = conversation, string(agent.ID)
	c.roles = roleVisitor
	if c.agent != "" {
		c.roles = rolesOf(agent)
	}
	context.AfterFunc(c.ctx, func() { ws.CloseNow() })
	s.hub.add(c, agent)
	s.calls.snapshot(c)
	// The handler returns and net/http lets go of the request, its buffers
	// and this goroutine's stack (grown by the request's handling); the
	// connection goes on with a fresh, shallow reader.
	go func() { // counted by the s.wg.Add above
		defer s.wg.Done()
		defer release()
		defer s.hub.remove(c)
		defer c.ping.Stop()
		s.readLoop(c)
	}()
}

// readLoop reads commands until the connection ends. They run on the
// connection's command goroutine, one at a time in the order they came: a
// command may go deep (the store, JSON), and the stack it grows goes with
// that goroutine once the connection idles, instead of staying with a
// reader that then waits for minutes.
func (s *Server) readLoop(c *conn) {
	for {
		// Not c.ctx: a context that can end costs the library a callback
		// for every read; serveWS closes the socket when c.ctx ends.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.close(websocket.StatusNormalClosure, "", err)
			return
		}
		if typ != websocket.MessageText {
			c.send(errorReply("", "bad_request", "send JSON text messages"))
			continue
		}
		now := s.now()
		if !c.limit.allow(now) || !s.cmdLimits.allow(c.ip, now) {
			c.send(errorReply(peekID(data), "rate_limited", "too many commands; slow down"))
			continue
		}
		c.exec(func() { s.handle(c, data) })
	}
}
