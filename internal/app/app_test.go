package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

func testConfig(t *testing.T, dbURL string) config.Config {
	cfg := config.Default()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MediaAddr = "127.0.0.1:0"
	cfg.SIPListen = "off" // the SIP tests turn it on at 127.0.0.1:0
	cfg.DataDir = t.TempDir()
	cfg.DatabaseURL = dbURL
	cfg.Demo = true
	cfg.DrainTimeout = time.Minute
	// Every test visitor comes from 127.0.0.1: lift the per-address widget
	// limits (the flood test sets them back).
	cfg.WidgetSessionsPerAddress, cfg.WidgetSessionRate = 100000, 100000
	return cfg
}

// waitingQueue configures one queue, sales, whose interactions wait when
// nobody is logged in (the sample queues let them leave).
func waitingQueue(cfg *config.Config) {
	cfg.Queues = []routing.QueueConfig{{ID: "sales", NoAgents: routing.NoAgentsWait}}
}

func quietLog() *slog.Logger {
	if os.Getenv("CC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start builds and starts an app, closing it when the test ends.
func start(t *testing.T, cfg config.Config, out io.Writer, opts ...Option) *App {
	t.Helper()
	a, err := New(t.Context(), cfg, quietLog(), out, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFirstStartPrintsGeneratedPasswordsOnceAndServes(t *testing.T) {
	cfg := testConfig(t, "")
	var out bytes.Buffer
	a := start(t, cfg, &out)
	m := regexp.MustCompile(`(?m)^\s+admin\s+.*password: (\S+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin password printed:\n%s", out.String())
	}
	acc, err := a.Store().GetAgent(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.VerifyPassword(acc.PasswordHash, m[1]); !ok || err != nil {
		t.Fatalf("printed password does not match the stored hash: %v", err)
	}
	base := "http://" + a.Addr()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/": "contactd"} {
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("GET %s: %d %q", path, code, body)
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("security headers missing: %v", resp.Header)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{`cc_queue_waiting{queue="sales"} 0`, `cc_agents{state="offline"} 4`, "cc_store_backlog_effects"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics, `agent="alice"`) {
		t.Fatal("an agent login is a label value without metrics_per_agent")
	}
	a.Close()

	out.Reset()
	start(t, cfg, &out)
	if strings.Contains(out.String(), "password:") {
		t.Fatalf("a second start printed passwords again:\n%s", out.String())
	}
}

// The restart tests run against both stores.
func eachStore(t *testing.T, f func(t *testing.T, cfg config.Config)) {
	t.Run("on the embedded store", func(t *testing.T) { f(t, testConfig(t, "")) })
	t.Run("on PostgreSQL", func(t *testing.T) { f(t, testConfig(t, testutil.PostgresURL(t))) })
}

func TestRestartRestoresQueuedAndConnectedInteractions(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		ctx := t.Context()
		a := start(t, cfg, io.Discard)
		r := a.Router()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(r.Do(ctx, routing.SetPresence{Agent: "alice", Presence: routing.PresenceAvailable}))
		must(r.Enqueue(ctx, routing.Enqueue{Interaction: "call-1", Queue: "sales", Channel: routing.ChannelVoice}, map[string]string{"name": "Ann", "page": "https://shop.example/cart"}))
		must(r.Do(ctx, routing.Accept{Agent: "alice", Interaction: "call-1"}))
		must(r.Enqueue(ctx, routing.Enqueue{Interaction: "call-2", Queue: "sales", Channel: routing.ChannelVoice}, nil))
		must(r.Enqueue(ctx, routing.Enqueue{Interaction: "call-3", Queue: "sales", Channel: routing.ChannelVoice, Priority: 5}, nil))
		// Acknowledged means stored: read it back before any restart.
		in, err := a.Store().GetInteraction(ctx, "call-1")
		if err != nil || in.Status != store.StatusConnected || in.Agent != "alice" || in.Attributes["name"] != "Ann" {
			t.Fatalf("stored call-1: %+v, %v", in, err)
		}
		a.Close() // a crash-like stop: nothing drained

		b := start(t, cfg, io.Discard)
		var views []routing.QueueView
		var agents []routing.AgentInfo
		must(b.Router().Query(ctx, func(e *routing.Engine) { views, agents = e.QueueViews(), e.AgentViews() }))
		sales := views[0]
		if sales.ID != "sales" || sales.Waiting != 2 || sales.Counters.Entered != 3 || sales.Counters.Answered != 1 {
			t.Fatalf("sales after restart: %+v", sales)
		}
		for _, ag := range agents {
			if ag.ID == "alice" && (ag.Presence != routing.PresenceAvailable || ag.Active[routing.ChannelVoice] != 1 || ag.Offered != "") {
				t.Fatalf("alice after restart: %+v", ag)
			}
		}
		evs, err := b.Store().ListEvents(ctx, "call-1")
		if err != nil || len(evs) < 3 || evs[0].Type != routing.EvEntered {
			t.Fatalf("event log of call-1: %+v %v", evs, err)
		}
		// Routing goes on where it stopped: ending the call offers the
		// priority call to alice.
		must(b.Router().Do(ctx, routing.End{Interaction: "call-1"}))
		must(b.Router().Do(ctx, routing.WrapUpDone{Agent: "alice", Interaction: "call-1"}))
		must(b.Router().Do(ctx, routing.Accept{Agent: "alice", Interaction: "call-3"}))
	})
}

func TestDrainWaitsForOpenInteractionsAndRefusesNewOnes(t *testing.T) {
	cfg := testConfig(t, "")
	waitingQueue(&cfg)
	a := start(t, cfg, io.Discard)
	ctx := t.Context()
	if err := a.Router().Enqueue(ctx, routing.Enqueue{Interaction: "chat-1", Queue: "sales", Channel: routing.ChannelChat}, nil); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { a.Drain(ctx); close(drained) }()
	base := "http://" + a.Addr()
	testutil.Eventually(t, "/readyz turning 503 while draining", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while draining: %d", code)
	}
	err := a.Router().Enqueue(ctx, routing.Enqueue{Interaction: "chat-2", Queue: "sales", Channel: routing.ChannelChat}, nil)
	if !errors.Is(err, ErrDraining) {
		t.Fatalf("new interaction while draining: %v", err)
	}
	select {
	case <-drained:
		t.Fatal("drain finished with an interaction open")
	default:
	}
	if err := a.Router().Do(ctx, routing.Abandon{Interaction: "chat-1"}); err != nil {
		t.Fatal(err)
	}
	<-drained
}

func TestDrainStopsAtItsLimit(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.DrainTimeout = 50 * time.Millisecond
	waitingQueue(&cfg)
	a := start(t, cfg, io.Discard)
	if err := a.Router().Enqueue(t.Context(), routing.Enqueue{Interaction: "stuck", Queue: "sales", Channel: routing.ChannelChat}, nil); err != nil {
		t.Fatal(err)
	}
	a.Drain(t.Context())
	if n := a.openInteractions(t.Context()); n != 1 {
		t.Fatalf("open after drain limit: %d", n)
	}
}

// flaky fails the recorder's writes a number of times, as a database that
// is restarting would.
type flaky struct {
	store.Store
	mu    sync.Mutex
	fails int
	calls atomic.Int64
}

func (f *flaky) WriteRouting(ctx context.Context, b store.RoutingBatch) error {
	f.calls.Add(1)
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return errors.New("connection refused")
	}
	f.mu.Unlock()
	return f.Store.WriteRouting(ctx, b)
}

func TestAcknowledgementWaitsForTheStoreThroughFailures(t *testing.T) {
	cfg := testConfig(t, "")
	var fl *flaky
	a := start(t, cfg, io.Discard, func(a *App) {
		a.recStore = func(st store.Store) store.Store { fl = &flaky{Store: st}; return fl }
	})
	fl.mu.Lock()
	fl.fails = 3
	fl.mu.Unlock()
	before := fl.calls.Load()
	ctx := t.Context()
	if err := a.Router().Enqueue(ctx, routing.Enqueue{Interaction: "x", Queue: "sales", Channel: routing.ChannelChat}, nil); err != nil {
		t.Fatal(err)
	}
	if n := fl.calls.Load() - before; n < 4 {
		t.Fatalf("acknowledged after %d append attempts; want the 3 failures retried first", n)
	}
	evs, err := a.st.ListEvents(ctx, "x")
	if err != nil || len(evs) == 0 || evs[0].Type != routing.EvEntered {
		t.Fatalf("events of x after the hiccup: %+v %v", evs, err)
	}
	_, metrics := get(t, "http://"+a.Addr()+"/metrics")
	if !strings.Contains(metrics, `cc_store_errors_total{op="append_events"} 3`) {
		t.Fatal("store errors not counted in metrics")
	}
}

func TestAnAccountWithAConfiguredHashHasThatPasswordAndNothingIsPrinted(t *testing.T) {
	hash, err := auth.HashPassword("load-pw")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "")
	cfg.Demo = false
	cfg.Agents = []config.AgentSpec{
		{ID: "load1", DisplayName: "Load One", PasswordHash: hash},
		{ID: "boss", Roles: []store.Role{store.RoleAdmin}, PasswordHash: hash},
	}
	var out bytes.Buffer
	a := start(t, cfg, &out)
	if strings.Contains(out.String(), "password") {
		t.Fatalf("a password was printed for accounts with a configured hash:\n%s", out.String())
	}
	base := "http://" + a.Addr()
	login := func(id, pw string) int {
		t.Helper()
		code, _ := postJSON(t, base+"/api/login", base, map[string]string{"id": id, "password": pw})
		return code
	}
	if code := login("load1", "load-pw"); code != http.StatusOK {
		t.Fatalf("login with the configured password: %d", code)
	}
	if code := login("load1", "other"); code != http.StatusUnauthorized {
		t.Fatalf("login with another password: %d", code)
	}
	a.Close()

	// An existing account keeps its password when the file's hash changes.
	other, err := auth.HashPassword("changed")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Agents[0].PasswordHash = other
	out.Reset()
	a = start(t, cfg, &out)
	acc, err := a.Store().GetAgent(t.Context(), "load1")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(acc.PasswordHash, "load-pw"); !ok || acc.DisplayName != "Load One" {
		t.Fatalf("after a restart with another hash, load1 lost its password (or profile): %+v", acc)
	}
	if strings.Contains(out.String(), "password") {
		t.Fatalf("the restart printed a password:\n%s", out.String())
	}
}

func TestAMalformedConfiguredHashStopsTheStartNamingTheAccount(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Agents = []config.AgentSpec{{ID: "load1", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$bad"}}
	_, err := New(t.Context(), cfg, quietLog(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "account load1: password_hash") || !errors.Is(err, auth.ErrMalformedHash) {
		t.Fatalf("New with a malformed hash: %v", err)
	}
}
