// Package app wires contactd together: configuration, store, routing loop,
// metrics and the HTTP server, and runs them from start to drained stop.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/clientip"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/limit"
	"github.com/contactd/contactd/internal/metrics"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/sip"
	"github.com/contactd/contactd/web"
)

// DrainLogEvery is how often a draining process says what it waits for.
const DrainLogEvery = 5 * time.Second

// App is one running contactd.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	out    io.Writer
	st     store.Store
	where  string
	eng    *routing.Engine
	loop   *routing.Loop
	rec    *recorder
	router *Router
	reg    *prometheus.Registry
	m      *metrics.Metrics
	sinks  []func([]routing.Effect)
	// recStore, when set, wraps the store the recorder writes through
	// (tests use it to inject failures).
	recStore func(store.Store) store.Store
	// wrapStore, when set, wraps the store every part uses (WithStore).
	wrapStore func(store.Store) store.Store
	agents    []store.Agent // read at New, for the desks (Seed at Start)

	chat      *chat.Service
	coord     *chat.Coordinator
	edges     *signaling.Server
	media     *media.Engine // nil with voice off
	edgeCtx   context.Context
	stopEdges context.CancelFunc
	stopChat  context.CancelFunc
	chatDone  chan struct{}
	// edgeCfg, when set, adjusts the edges' settings (tests raise limits).
	edgeCfg func(*signaling.Config)
	// voiceCfg, when set, adjusts the calls' settings (tests shorten the
	// reload grace or wrap the legs).
	voiceCfg func(*signaling.Voice)
	// sip is the SIP edge (nil when sip_listen is off); sipCfg, when set,
	// adjusts its settings (tests); sipHooks are its registrar, flood
	// control and validation.
	sip      *sip.Edge
	sipCfg   func(*sip.Config)
	sipHooks sip.Hooks
	// sipReg is the registrar of agents' SIP phones (siphard.go).
	sipReg *sip.Registrar

	ln        net.Listener
	srv       *http.Server
	metricsLn net.Listener // metrics_addr, when set
	metricsSv *http.Server
	proxies   *clientip.Resolver
	ready     atomic.Bool
	draining  atomic.Bool
	stopLoop  context.CancelFunc
	stopRec   context.CancelFunc
	wg        sync.WaitGroup
	closed    sync.Once
}

// Option configures an App.
type Option func(*App)

// WithEffectSink adds a receiver of every batch of routing effects, called
// on the routing goroutine (it must not block).
func WithEffectSink(f func([]routing.Effect)) Option {
	return func(a *App) { a.sinks = append(a.sinks, f) }
}

// New opens the store (applying migrations), makes sure the configured
// queues and accounts exist (printing generated passwords to out, once),
// and rebuilds routing from the store. It does not serve yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer, opts ...Option) (*App, error) {
	a := &App{cfg: cfg, log: log, out: out, reg: prometheus.NewRegistry()}
	for _, o := range opts {
		o(a)
	}
	st, where, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if a.wrapStore != nil {
		st = a.wrapStore(st)
	}
	a.st, a.where = st, where
	fail := func(err error) (*App, error) {
		st.Close()
		return nil, err
	}
	now := time.Now()
	creds, err := seed(ctx, st, cfg, now)
	if err != nil {
		return fail(err)
	}
	printCredentials(out, creds)
	for _, c := range creds {
		log.Info("account created with a generated password (printed once on standard output)", "account", c.id, "roles", c.roles)
	}
	state, err := restoreState(ctx, st)
	if err != nil {
		return fail(err)
	}
	missed := cfg.Routing.MaxMissedOffers
	if missed == 0 {
		missed = -1 // config: 0 never sets an agent away
	}
	a.eng = routing.NewEngine(routing.EngineConfig{MaxMissedOffers: missed})
	// The visitors' sockets closed with the process: each visitor is away
	// (offered to nobody) until its widget connects again, and leaves as
	// abandoned after visitor_grace if it does not (Seed).
	if state.Absent, err = visitorsAway(ctx, st); err != nil {
		return fail(err)
	}
	if err := a.eng.Restore(now, state); err != nil {
		return fail(fmt.Errorf("restore routing: %w", err))
	}
	var mopts []metrics.Option
	if cfg.MetricsPerAgent {
		mopts = append(mopts, metrics.WithPerAgent())
	}
	a.m = metrics.New(a.reg, a.snapshot, mopts...)
	if a.proxies, err = clientip.New(cfg.TrustedProxies); err != nil {
		return fail(fmt.Errorf("trusted_proxies: %w", err))
	}
	recSt := st
	if a.recStore != nil {
		recSt = a.recStore(st)
	}
	a.rec = newRecorder(recSt, log.With("component", "recorder"), a.m)
	a.loop = routing.NewLoop(a.eng, a.sink, routing.WithLogger(log.With("component", "routing")))
	a.router = &Router{loop: a.loop, rec: a.rec}
	if err := a.newEdges(ctx, state); err != nil {
		return fail(err)
	}
	a.eng.Flush()
	if effs := a.eng.Drain(); len(effs) > 0 {
		a.sink(effs) // closures and offers made while restoring
	}
	log.Info("routing restored", "store", where, "queues", len(state.Queues), "accounts", len(state.Agents),
		"openInteractions", len(state.Interactions), "events", state.LastSeq)
	return a, nil
}

// newEdges builds the chat service, the coordinator and the browser edges.
func (a *App) newEdges(ctx context.Context, state routing.RestoreState) error {
	key := make([]byte, 32)
	rand.Read(key)
	key, err := a.st.Secret(ctx, "visitor-token-key", key)
	if err != nil {
		return fmt.Errorf("read the visitor token key: %w", err)
	}
	signer, err := auth.NewSigner(key)
	if err != nil {
		return err
	}
	a.edgeCtx, a.stopEdges = context.WithCancel(context.Background())
	var edges *signaling.Server
	a.chat = chat.New(chat.Config{ObserveCommit: func(n int, took time.Duration) {
		a.m.StoreWrite.WithLabelValues("chat_commit").Observe(took.Seconds())
		a.m.ChatBatch.Observe(float64(n))
	}}, a.log.With("component", "chat"), a.st, func(m store.Message) { edges.Deliver(m) })
	a.coord = chat.NewCoordinator(a.chat, a.router, a.log.With("component", "coordinator"), func(f routing.Effect) {
		edges.Effect(f)
		a.phoneEffect(f)
	})
	canned := make([]signaling.Canned, len(a.cfg.Canned))
	for i, c := range a.cfg.Canned {
		canned[i] = signaling.Canned{Shortcut: c.Shortcut, Text: c.Text}
	}
	ecfg := signaling.Config{
		AllowedOrigins: a.cfg.AllowedOrigins, VisitorGrace: a.cfg.VisitorGrace, Canned: canned,
		SessionsPerAddress: a.cfg.WidgetSessionsPerAddress, SessionRate: float64(a.cfg.WidgetSessionRate),
		Invitation: a.cfg.Invitation, Queues: state.Queues, Commands: a.st, Security: securityConfig(a.cfg),
	}
	if a.edgeCfg != nil {
		a.edgeCfg(&ecfg)
	}
	edges = signaling.New(a.edgeCtx, ecfg, a.log.With("component", "edges"), a.st, a.chat, a.coord, a.router, signer)
	agents, err := a.st.ListAgents(ctx)
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	a.edges = edges
	if a.cfg.VoiceOn() {
		mcfg := media.Config{ListenAddr: a.cfg.MediaAddr, PublicIPs: a.cfg.MediaPublicIPs, Codec: a.cfg.MediaCodec,
			MediaTimeout: a.cfg.MediaTimeout, Logger: a.log.With("component", "media")}
		if a.cfg.SIPOn() {
			rtpMedia(&mcfg, a.cfg)
		}
		eng, err := media.New(mcfg)
		if err != nil {
			return fmt.Errorf("voice: %w", err)
		}
		a.media = eng
		ice := make([]signaling.ICEServer, len(a.cfg.ICEServers))
		for i, s := range a.cfg.ICEServers {
			ice[i] = signaling.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
		}
		vcfg := signaling.Voice{Legs: signaling.BrowserLegsOn(eng), ICEServers: ice, OnPhone: a.onSIPPhone}
		a.dialSettings(&vcfg)
		if a.voiceCfg != nil {
			a.voiceCfg(&vcfg)
		}
		edges.EnableVoice(vcfg)
		a.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cc", Subsystem: "voice", Name: "calls_active",
				Help: "Voice calls in progress."}, func() float64 { return float64(edges.ActiveCalls()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cc", Subsystem: "voice", Name: "legs_active",
				Help: "Voice legs (server-side peer connections) open now."}, func() float64 { return float64(eng.Legs()) }),
		)
		a.log.Info("voice on", "media_addr", eng.Addr().String(), "codec", a.cfg.MediaCodec)
		if a.cfg.SIPOn() {
			if err := a.newSIP(); err != nil {
				eng.Close()
				return fmt.Errorf("sip: %w", err)
			}
		}
	}
	if !a.cfg.VoiceOn() && a.cfg.SIPListen != "off" && a.cfg.SIPListen != "" {
		a.log.Warn("SIP is off: phone calls need voice (media_addr is off)", "sip_listen", a.cfg.SIPListen)
	}
	a.agents = agents
	return nil
}

func (a *App) sink(effs []routing.Effect) {
	a.rec.add(effs)
	a.coord.Effects(effs)
	if a.sip != nil {
		a.sipPositions(effs)
	}
	for _, s := range a.sinks {
		s(effs)
	}
}

func (a *App) snapshot(ctx context.Context) (metrics.Snapshot, error) {
	var s metrics.Snapshot
	err := a.loop.Query(ctx, func(e *routing.Engine) {
		s = metrics.Snapshot{Now: e.Now(), Queues: e.QueueViews(), Agents: e.AgentViews(), Stats: e.Stats().Clone()}
	})
	return s, err
}

// Router is the routing entry point for the edges.
func (a *App) Router() *Router { return a.router }

// Store is the store the app uses.
func (a *App) Store() store.Store { return a.st }

// Addr is the address the HTTP server listens on, once started.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Start listens, runs the routing loop and the recorder, and serves HTTP.
// /readyz answers 200 once it returns.
func (a *App) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.HTTPAddr, err)
	}
	if a.cfg.MaxConnsPerAddress > 0 {
		ln = &capListener{Listener: ln, counts: limit.NewCounter(a.cfg.MaxConnsPerAddress), proxies: a.proxies}
	}
	a.ln = ln
	if a.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (metrics_addr): %w", a.cfg.MetricsAddr, err)
		}
		a.metricsLn = mln
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metricsHandler())
		a.metricsSv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.metricsSv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics server stopped", "err", err)
			}
		}()
	}
	lctx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	rctx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	a.stopLoop, a.stopRec = stopLoop, stopRec
	cctx, stopChat := context.WithCancel(context.WithoutCancel(ctx))
	a.stopChat = stopChat
	a.chatDone = make(chan struct{})
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.rec.run(rctx, 10*time.Second) }()
	go func() { defer a.wg.Done(); a.loop.Run(lctx) }()
	go func() {
		defer close(a.chatDone)
		done := make(chan struct{})
		go func() { a.coord.Run(cctx); close(done) }()
		a.chat.Run(cctx)
		<-done
	}()
	<-a.loop.Started()
	if err := a.reconcile(ctx); err != nil {
		a.Close()
		return err
	}
	if err := a.startSIP(); err != nil {
		a.Close()
		return err
	}
	a.housekeep(ctx, time.Now())
	a.wg.Add(1)
	go func() { defer a.wg.Done(); every(lctx, SessionPurgeEvery, a.housekeep) }()
	// Read and write timeouts bound a request and its answer; a WebSocket
	// clears them once upgraded (signaling).
	a.srv = &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: a.cfg.ReadTimeout,
		WriteTimeout: a.cfg.WriteTimeout, IdleTimeout: a.cfg.IdleTimeout, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP server stopped", "err", err)
		}
	}()
	a.ready.Store(true)
	a.log.Info("contactd is ready", "addr", ln.Addr().String(), "store", a.where)
	base := "http://" + hostPort(ln.Addr())
	metricsAt := base
	if a.metricsLn != nil {
		metricsAt = "http://" + hostPort(a.metricsLn.Addr())
	}
	fmt.Fprintf(a.out, "contactd is ready on %s\n  agent desk %s/desk/\n  widget demo %s/demo/\n  health     %s/healthz, %s/readyz\n  metrics    %s/metrics\n", base, base, base, base, base, metricsAt)
	if a.sip != nil {
		for _, l := range a.sip.Addrs() {
			fmt.Fprintf(a.out, "  SIP        %s\n", l)
		}
	}
	return nil
}

func hostPort(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func (a *App) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case a.draining.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
		case !a.ready.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "starting\n")
		default:
			io.WriteString(w, "ready\n")
		}
	})
	if a.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", a.metricsHandler())
	}
	mux.Handle("GET /", http.FileServerFS(web.Served()))
	a.edges.Register(mux)
	return a.proxies.Middleware(securityHeaders(mux, a.cfg.AllowedOrigins, publicHTTPS(a.cfg)))
}

// securityHeaders sets the headers every response carries. Only the
// widget's frame may be embedded, and only by the allowed sites. With an
// https public URL, browsers are told to use https only (HSTS), also when
// a proxy terminates TLS.
func securityHeaders(next http.Handler, embedders []string, hsts bool) http.Handler {
	const csp = "default-src 'self'; img-src 'self' data:; media-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "
	frame := csp + strings.Join(append([]string{"'self'"}, embedders...), " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if strings.HasPrefix(r.URL.Path, "/widget/") {
			h.Set("Content-Security-Policy", frame)
		} else {
			h.Set("Content-Security-Policy", csp+"'none'")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// Drain stops taking new interactions, answers /readyz with 503, and waits
// for the open interactions to end, saying every DrainLogEvery what it
// waits for, until none is left, the drain timeout passes, or ctx ends.
func (a *App) Drain(ctx context.Context) {
	a.draining.Store(true)
	a.router.draining.Store(true)
	a.m.Draining.Set(1)
	limit := time.NewTimer(a.cfg.DrainTimeout)
	defer limit.Stop()
	tick := time.NewTicker(DrainLogEvery)
	defer tick.Stop()
	changed := make(chan struct{}, 1)
	a.loop.Submit(routing.Tick{}, func(error) { changed <- struct{}{} })
	start := time.Now()
	a.log.Info("draining: no new interactions; waiting for the open ones", "limit", a.cfg.DrainTimeout)
	for {
		open := a.openInteractions(ctx)
		if open == 0 {
			a.log.Info("drained: no open interactions")
			return
		}
		select {
		case <-tick.C:
			a.log.Info("draining: waiting for open interactions", "open", open, "waited", time.Since(start).Round(time.Second))
		case <-limit.C:
			a.log.Warn("drain limit reached; stopping with interactions still open (they are restored on the next start)", "open", open)
			return
		case <-ctx.Done():
			a.log.Warn("drain cut short", "open", open)
			return
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *App) openInteractions(ctx context.Context) int {
	n := -1
	_ = a.loop.Query(ctx, func(e *routing.Engine) { n = e.OpenInteractions() })
	return n
}

// Close stops serving, stops routing, writes what is left to the store and
// closes it.
func (a *App) Close() error {
	var err error
	a.closed.Do(func() {
		a.ready.Store(false)
		if a.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if e := a.srv.Shutdown(ctx); e != nil {
				a.log.Warn("HTTP shutdown", "err", e)
			}
			if a.metricsSv != nil {
				a.metricsSv.Shutdown(ctx)
			}
			cancel()
		}
		if a.sip != nil {
			// BYE to every phone call while the chat service can still
			// store their end, then the SIP transports close.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if e := a.sip.Close(ctx); e != nil {
				a.log.Warn("SIP shutdown", "err", e)
			}
			cancel()
		}
		a.stopEdges()
		a.edges.Wait()
		if a.media != nil {
			// Calls end while the chat service can still store their end.
			a.edges.CloseCalls()
			a.media.Close()
		}
		if a.stopLoop != nil {
			a.stopLoop()
			<-a.loop.Done()
			a.stopChat()
			<-a.chatDone
			a.stopRec()
		}
		a.wg.Wait()
		err = a.st.Close()
		a.log.Info("contactd stopped")
	})
	return err
}

// Run starts the app and serves until ctx ends, then drains and stops.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	a, err := New(ctx, cfg, log, out)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		a.Close()
		return err
	}
	<-ctx.Done()
	log.Info("shutdown requested", "cause", context.Cause(ctx))
	a.Drain(context.Background())
	return a.Close()
}
