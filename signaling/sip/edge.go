package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Drop, returned by Hooks.Validate, stops a request without an answer.
const Drop = -1

// Hooks are the seams where the registrar, flood control and message
// validation plug in (see the package doc). Every field is optional.
type Hooks struct {
	// WrapPacketConn wraps each UDP socket before sipgo reads it.
	WrapPacketConn func(net.PacketConn) net.PacketConn
	// WrapListener wraps each TCP listener before sipgo accepts on it.
	WrapListener func(net.Listener) net.Listener
	// Validate checks a parsed request before dispatch: 0 goes on, a SIP
	// status answers it and stops, Drop stops silently.
	Validate func(req *sip.Request) int
	// Check, when set, runs before Validate and may answer with a whole
	// response (one with headers such as Unsupported or Allow): a non-nil
	// res answers and stops, drop stops silently.
	Check func(req *sip.Request) (res *sip.Response, drop bool)
	// Register handles REGISTER; nil answers 403.
	Register func(req *sip.Request, tx sip.ServerTransaction)
	// Devices says whether a source address is a registered device.
	Devices Devices
	// DTMF receives the digits callers press (RFC 4733), with their
	// conversation (DTMF menus plug in here). It must not block.
	DTMF func(conv store.ConversationID, digit rune)
}

// Devices answers for the INVITE admission whether src (the address a
// request came from) is a registered device, and whose.
type Devices interface {
	DeviceAt(src netip.AddrPort) (agent routing.AgentID, ok bool)
}

// Edge is the SIP edge: its transports, dialogs and calls.
type Edge struct {
	cfg   Config
	log   *slog.Logger
	hooks Hooks
	calls Calls
	legs  Legs
	m     *Metrics

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client

	dialogs *registry

	// ctx bounds every call; Close cancels it after the BYEs.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the serving goroutines
	bg     sync.WaitGroup // hang-ups and reports under way (go)

	mu       sync.Mutex
	bound    []Listen
	closers  []func() error
	contacts map[string]sip.Uri // transport -> our contact URI
	closing  bool
	bgDone   bool
	byConv   map[store.ConversationID]*inboundCall // calls with a conversation

	outOnce sync.Once // outbound.go: the client of the calls we place
	outCli  *sipgo.Client

	ph phones // agents' phones (agentphone.go)
}

// New makes the edge; Start opens its transports. calls and legs may be
// nil: INVITEs are then answered 503.
func New(cfg Config, log *slog.Logger, calls Calls, legs Legs, m *Metrics, hooks Hooks) (*Edge, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	log = log.With("edge", "sip")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent))
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(log))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Edge{cfg: cfg, log: log, hooks: hooks, calls: calls, legs: legs, m: m, ua: ua, srv: srv, cli: cli,
		dialogs: newRegistry(), ctx: ctx, cancel: cancel, contacts: map[string]sip.Uri{},
		byConv: map[store.ConversationID]*inboundCall{}}
	e.ph.byKey, e.ph.byDlg = map[string]*agentCall{}, map[string]*agentCall{}
	srv.OnInvite(e.handle(sip.INVITE, e.onInvite))
	srv.OnAck(e.handle(sip.ACK, e.onAck))
	srv.OnBye(e.handle(sip.BYE, e.onBye))
	srv.OnCancel(e.handle(sip.CANCEL, e.onCancel))
	srv.OnOptions(e.handle(sip.OPTIONS, e.onOptions))
	srv.OnRegister(e.handle(sip.REGISTER, e.onRegister))
	srv.OnRefer(e.handle(sip.REFER, e.onRefer))
	srv.OnNoRoute(e.handle("", e.onOther))
	return e, nil
}

// Start opens the listeners (port 0 picks a free one; Addrs tells which)
// and serves them. An address in use is an error naming sip_listen.
func (e *Edge) Start(ls []Listen) error {
	for _, l := range ls {
		if err := e.listen(l); err != nil {
			e.closeTransports()
			return fmt.Errorf("sip_listen %s: %w", l, err)
		}
	}
	return nil
}

func (e *Edge) listen(l Listen) error {
	switch l.Transport {
	case "udp":
		pc, err := net.ListenPacket("udp", l.Addr)
		if err != nil {
			return err
		}
		e.bind(l.Transport, pc.LocalAddr(), pc.Close)
		var c net.PacketConn = pc
		if e.hooks.WrapPacketConn != nil {
			c = e.hooks.WrapPacketConn(pc)
		}
		e.serve(func() error { return e.srv.ServeUDP(c) })
	case "tcp":
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return err
		}
		e.bind(l.Transport, ln.Addr(), ln.Close)
		var c net.Listener = ln
		if e.hooks.WrapListener != nil {
			c = e.hooks.WrapListener(ln)
		}
		e.serve(func() error { return e.srv.ServeTCP(c) })
	default:
		return fmt.Errorf("transport %q: want udp or tcp", l.Transport)
	}
	return nil
}

func (e *Edge) bind(transport string, a net.Addr, closer func() error) {
	ap, _ := netip.ParseAddrPort(a.String())
	host := e.contactHost(ap.Addr())
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bound = append(e.bound, Listen{Transport: transport, Addr: a.String()})
	e.closers = append(e.closers, closer)
	if _, ok := e.contacts[transport]; !ok {
		u := sip.Uri{Scheme: "sip", Host: host, Port: int(ap.Port()), UriParams: sip.NewParams()}
		if transport != "udp" {
			u.UriParams.Add("transport", transport)
		}
		e.contacts[transport] = u
	}
}

func (e *Edge) serve(f func() error) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			e.mu.Lock()
			closing := e.closing
			e.mu.Unlock()
			if !closing {
				e.log.Error("SIP transport stopped", "err", err)
			}
		}
	}()
}

// contactHost is the host of our Contact and Via: the public address, or
// the listener's, or (listening on every interface) this host's first
// non-loopback address.
func (e *Edge) contactHost(local netip.Addr) string {
	if e.cfg.PublicAddr != "" {
		if h, _, err := net.SplitHostPort(e.cfg.PublicAddr); err == nil {
			return h
		}
		return e.cfg.PublicAddr
	}
	if local.IsValid() && !local.IsUnspecified() {
		return local.Unmap().String()
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && p.Addr().Is4() {
				return p.Addr().String()
			}
		}
	}
	return "127.0.0.1"
}

// Addrs are the addresses the edge listens on, ports resolved.
func (e *Edge) Addrs() []Listen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Listen(nil), e.bound...)
}

// contact is our Contact URI for a transport.
func (e *Edge) contact(transport string) sip.Uri {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.contacts[strings.ToLower(transport)]
	if !ok {
		for _, c := range e.contacts {
			return c
		}
	}
	return u
}

// Close sends BYE to every open dialog (each within ByeTimeout, together
// bounded by ctx), ends the calls, then closes the transports.
func (e *Edge) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return nil
	}
	e.closing = true
	e.mu.Unlock()
	e.closePhones()
	var wg sync.WaitGroup
	for _, d := range e.dialogs.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.hangUp(ctx, errShutdown)
		}()
	}
	wg.Wait()
	e.cancel()
	e.dialogs.wait(ctx)
	waitCtx(ctx, &e.bg)
	e.mu.Lock()
	e.bgDone = true
	e.mu.Unlock()
	e.closeTransports()
	e.ua.Close()
	e.wg.Wait()
	return nil
}

// goBG runs f on a goroutine that Close waits for (once Close is done,
// on one it does not).
func (e *Edge) goBG(f func()) {
	e.mu.Lock()
	done := e.bgDone
	if !done {
		e.bg.Add(1)
	}
	e.mu.Unlock()
	if done {
		go f()
		return
	}
	go func() {
		defer e.bg.Done()
		f()
	}()
}

// waitCtx waits for wg, or until ctx ends.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (e *Edge) closeTransports() {
	e.mu.Lock()
	cl := e.closers
	e.closers = nil
	e.closing = true
	e.mu.Unlock()
	for _, c := range cl {
		c()
	}
}

// Dialogs is the number of dialogs in the registry.
func (e *Edge) Dialogs() int { return e.dialogs.len() }

// --- dispatch ---

// handle wraps a handler: recover, validation, metrics.
func (e *Edge) handle(method sip.RequestMethod, h func(req *sip.Request, tx sip.ServerTransaction) outcome) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		m := methodLabel(req.Method)
		out := outcomeNone
		defer func() {
			if r := recover(); r != nil {
				e.log.Error("SIP handler panicked", "method", m, "panic", fmt.Sprint(r))
				e.m.Panics.Inc()
				if tx != nil && !req.IsAck() {
					tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil))
				}
				out = "5xx"
			}
			e.m.Requests.WithLabelValues(m, string(out)).Inc()
		}()
		if e.hooks.Check != nil {
			res, drop := e.hooks.Check(req)
			switch {
			case drop:
				out = outcomeDropped
				return
			case res != nil:
				e.addServer(res)
				if err := tx.Respond(res); err != nil {
					e.log.Debug("SIP response not sent", "code", res.StatusCode, "err", err)
				}
				out = classOf(res.StatusCode)
				return
			}
		}
		if e.hooks.Validate != nil {
			switch code := e.hooks.Validate(req); {
			case code == Drop:
				out = outcomeDropped
				return
			case code > 0:
				if !req.IsAck() {
					out = e.respond(tx, req, code, "")
				}
				return
			}
		}
		out = h(req, tx)
	}
}

// outcome is the label of a request's result: the class of our final
// answer, dropped, or none.
type outcome string

const (
	outcomeNone    outcome = "none"
	outcomeDropped outcome = "dropped"
)

func classOf(code int) outcome {
	if code < 200 || code > 699 {
		return outcomeNone
	}
	return outcome(strconv.Itoa(code/100) + "xx")
}

var methods = map[sip.RequestMethod]bool{sip.INVITE: true, sip.ACK: true, sip.BYE: true, sip.CANCEL: true, sip.OPTIONS: true, sip.REGISTER: true}

func methodLabel(m sip.RequestMethod) string {
	if methods[m] {
		return string(m)
	}
	return "other"
}

// respond answers req with code (reason: the usual phrase when empty)
// and returns the outcome.
func (e *Edge) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) outcome {
	if reason == "" {
		reason = statusReason(code)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	e.addServer(res)
	if err := tx.Respond(res); err != nil {
		e.log.Debug("SIP response not sent", "code", code, "err", err)
	}
	return classOf(code)
}

func (e *Edge) addServer(res *sip.Response) {
	if res.GetHeader("Server") == nil {
		res.AppendHeader(sip.NewHeader("Server", e.cfg.UserAgent))
	}
}

// statusReason is the reason phrase of the codes we send.
func statusReason(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Request Entity Too Large"
	case 414:
		return "Request-URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 416:
		return "Unsupported URI Scheme"
	case 420:
		return "Bad Extension"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "Version Not Supported"
	case 603:
		return "Decline"
	}
	return "Status " + strconv.Itoa(code)
}

// allow lists the methods we handle.
const allow = "INVITE, ACK, BYE, CANCEL, OPTIONS"

// onOptions: the liveness probe. OPTIONS to the server (no user in the
// Request-URI) or within a dialog is 200 with what we accept.
func (e *Edge) onOptions(req *sip.Request, tx sip.ServerTransaction) outcome {
	allowed := allow
	if e.hooks.Register != nil {
		allowed += ", REGISTER"
	}
	return e.respond(tx, req, 200, "", sip.NewHeader("Allow", allowed), sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", ""), sip.NewHeader("Accept-Language", "en"))
}

// onRegister: the registrar's, when there is one.
func (e *Edge) onRegister(req *sip.Request, tx sip.ServerTransaction) outcome {
	if e.hooks.Register == nil {
		return e.respond(tx, req, 403, "No registrar here")
	}
	rec := &recordingTx{ServerTransaction: tx}
	e.hooks.Register(req, rec)
	return classOf(rec.final)
}

// onOther: a method we do not handle: 405 with Allow, or nothing for an
// unknown source when DropUnknown.
func (e *Edge) onOther(req *sip.Request, tx sip.ServerTransaction) outcome {
	if req.IsAck() {
		return outcomeNone
	}
	if e.cfg.DropUnknown && !e.known(req) {
		return outcomeDropped
	}
	return e.respond(tx, req, 405, "", sip.NewHeader("Allow", allow))
}

// known: the request comes from a trunk's source or a registered device.
func (e *Edge) known(req *sip.Request) bool {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	if e.cfg.trunkAt(src.Addr()) != nil {
		return true
	}
	if e.hooks.Devices != nil {
		_, ok := e.hooks.Devices.DeviceAt(src)
		return ok
	}
	return false
}

// recordingTx remembers the final status a hook answered with.
type recordingTx struct {
	sip.ServerTransaction
	final int
}

func (r *recordingTx) Respond(res *sip.Response) error {
	if res.StatusCode >= 200 {
		r.final = res.StatusCode
	}
	return r.ServerTransaction.Respond(res)
}
