package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// The crash tests run contactd in a child process (this test binary, see
// TestMain) whose store stops at a named point: it holds one commit (the
// call blocks for ever) and, once the other commit of the same hand-off is
// stored, the process kills itself with SIGKILL. The test then starts
// contactd again on the same store and checks that nothing is stranded.

const (
	crashCaseEnv = "CONTACTD_CRASH_CASE"
	crashDirEnv  = "CONTACTD_CRASH_DATA_DIR"
	crashDBEnv   = "CONTACTD_CRASH_DATABASE_URL"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(crashCaseEnv); name != "" {
		crashChild(name)
		return
	}
	os.Exit(m.Run())
}

// crashPoint says which commit a case holds and after which it kills the
// process. Exactly one hold and one kill are set.
type crashPoint struct {
	holdChat, killAfterChat       func(store.ChatBatch) bool
	holdRouting, killAfterRouting func(store.RoutingBatch) bool
}

func joinedBy(agent string) func(store.ChatBatch) bool { return chatEvent("joined", "agent:"+agent) }

func chatEvent(ev, sender string) func(store.ChatBatch) bool {
	return func(b store.ChatBatch) bool {
		for _, m := range b.Messages {
			if m.Kind == store.MsgEvent && m.Event == ev && (sender == "" || m.Sender == sender) {
				return true
			}
		}
		return false
	}
}

func createsConversation(b store.ChatBatch) bool { return len(b.Create) > 0 }

func connectedTo(agent string) func(store.RoutingBatch) bool {
	return func(b store.RoutingBatch) bool {
		for _, in := range b.Interactions {
			if in.Status == store.StatusConnected && string(in.Agent) == agent {
				return true
			}
		}
		return false
	}
}

func leavesConnected(b store.RoutingBatch) bool {
	for _, in := range b.Interactions {
		if in.Status == store.StatusWrapUp || in.Status == store.StatusEnded {
			return true
		}
	}
	return false
}

func anyInteraction(b store.RoutingBatch) bool { return len(b.Interactions) > 0 }

// crashStore is the child's store: it holds and kills as its case says.
type crashStore struct {
	store.Store
	p crashPoint
}

func die() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func (s crashStore) WriteRouting(ctx context.Context, b store.RoutingBatch) error {
	if s.p.holdRouting != nil && s.p.holdRouting(b) {
		<-ctx.Done() // never stored; the process dies meanwhile
		select {}
	}
	err := s.Store.WriteRouting(ctx, b)
	if err == nil && s.p.killAfterRouting != nil && s.p.killAfterRouting(b) {
		die()
	}
	return err
}

func (s crashStore) CommitChat(ctx context.Context, b store.ChatBatch) ([]store.ConversationID, error) {
	if s.p.holdChat != nil && s.p.holdChat(b) {
		<-ctx.Done()
		select {}
	}
	taken, err := s.Store.CommitChat(ctx, b)
	if err == nil && s.p.killAfterChat != nil && s.p.killAfterChat(b) {
		die()
	}
	return taken, err
}

func crashChild(name string) {
	c, ok := crashCases()[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "no crash case", name)
		os.Exit(2)
	}
	cfg := config.Default()
	cfg.HTTPAddr, cfg.MediaAddr, cfg.SIPListen = "127.0.0.1:0", "127.0.0.1:0", "off"
	cfg.DataDir, cfg.DatabaseURL = os.Getenv(crashDirEnv), os.Getenv(crashDBEnv)
	cfg.Demo = true
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	a, err := New(ctx, cfg, log, io.Discard, WithStore(func(st store.Store) store.Store { return crashStore{Store: st, p: c.point} }))
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		os.Exit(2)
	}
	for _, id := range []routing.AgentID{"alice", "bob"} {
		acc, err := a.Store().GetAgent(ctx, id)
		if err == nil {
			acc.PasswordHash, err = auth.HashPassword("pw-" + string(id))
		}
		if err == nil {
			err = a.Store().UpdateAgent(ctx, acc)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "password:", err)
			os.Exit(2)
		}
	}
	if err := a.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(2)
	}
	fmt.Printf("ready %s\n", a.Addr())
	select {}
}

// crashChildRun runs a case's child on cfg's store and returns the base
// URL it serves and a function that waits until it was killed.
func crashChildRun(t *testing.T, cfg config.Config, name string) (string, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashCaseEnv+"="+name, crashDirEnv+"="+cfg.DataDir, crashDBEnv+"="+cfg.DatabaseURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var once sync.Once
	wait := func() {
		t.Helper()
		var err error
		once.Do(func() {
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("contactd did not reach the crash point within 30 s; its log:\n%s", stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("contactd ended with %v, not killed at the crash point; its log:\n%s", err, stderr.String())
			}
		})
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready ") {
		cmd.Process.Kill()
		t.Fatalf("contactd did not start: %q; its log:\n%s", sc.Text(), stderr.String())
	}
	addr := strings.TrimPrefix(sc.Text(), "ready ")
	go func() {
		io.Copy(io.Discard, out)
		exited <- cmd.Wait()
	}()
	return "http://" + addr, wait
}

// crashRun is what a case did before the crash, for its checks after.
type crashRun struct {
	conv, token string
	acceptID    string // the id of the command cut by the crash
}

type crashCase struct {
	point crashPoint
	// before drives the child up to the crash point (the last command's
	// reply may never come).
	before func(t *testing.T, base string, alice, bob *wsClient) crashRun
	// after checks the restarted contactd.
	after func(t *testing.T, a *App, base string, r crashRun)
}

// offered starts a visitor's conversation and waits for alice's offer.
func offered(t *testing.T, base string, alice *wsClient) crashRun {
	conv, token := visitorSession(t, base, "sales", "Ann")
	visitor(t, base, token) // offered once the visitor's page is connected
	alice.waitFor("offer", map[string]any{"conversation": conv})
	return crashRun{conv: conv, token: token}
}

// sendCut sends a command whose reply may never come (the process dies).
func sendCut(c *wsClient, id, typ string, fields map[string]any) {
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c.sendRaw(b)
}

// agentsOf returns the agents taking part in a conversation, with roles.
func agentsOf(t *testing.T, a *App, conv string) map[string]string {
	t.Helper()
	_, parts, err := a.chat.Info(t.Context(), store.ConversationID(conv))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for who, role := range parts {
		if who != "visitor" {
			out[string(who)] = string(role)
		}
	}
	return out
}

// ownedBy checks that the conversation goes on with agent as its only
// agent: the desk is assigned it, the visitor saw the agent join, and a
// message gets through both ways.
func ownedBy(t *testing.T, a *App, base string, r crashRun, agent string) *wsClient {
	t.Helper()
	if got := agentsOf(t, a, r.conv); fmt.Sprint(got) != fmt.Sprintf("map[agent:%s:owner]", agent) {
		t.Fatalf("agents in the conversation after the restart: %v, want %s as owner", got, agent)
	}
	desk, _ := staff(t, base, agent, "pw-"+agent)
	desk.waitFor("assigned", map[string]any{"conversation": r.conv, "role": "owner"})
	vis := visitor(t, base, r.token)
	vis.must("resume", map[string]any{"after": 0})
	vis.waitFor("message", map[string]any{"event": "joined", "sender": "agent:" + agent})
	vis.waitFor("synced", nil)
	vis.must("send", map[string]any{"text": "still there?"})
	desk.waitFor("message", map[string]any{"conversation": r.conv, "text": "still there?"})
	desk.must("send", map[string]any{"conversation": r.conv, "text": "yes"})
	vis.waitFor("message", map[string]any{"text": "yes"})
	rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(r.conv))
	if err != nil || rec.Status != store.ConvActive {
		t.Fatalf("stored conversation after the restart: %+v, %v", rec, err)
	}
	return desk
}

func routingState(t *testing.T, a *App, id string) (status string, agent routing.AgentID) {
	t.Helper()
	var held []routing.InteractionInfo
	if err := a.Router().Query(t.Context(), func(e *routing.Engine) { held = e.Holders() }); err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		if string(h.ID) == id {
			return h.Status, h.Agent
		}
	}
	return "closed", ""
}

func crashCases() map[string]crashCase {
	acceptCut := func(t *testing.T, base string, alice, _ *wsClient) crashRun {
		r := offered(t, base, alice)
		r.acceptID = "accept-" + r.conv
		sendCut(alice, r.acceptID, "accept", map[string]any{"interaction": r.conv})
		return r
	}
	takeCut := func(t *testing.T, base string, alice, _ *wsClient) crashRun {
		r := offered(t, base, alice)
		alice.must("park", map[string]any{"interaction": r.conv})
		r.acceptID = "take-" + r.conv
		sendCut(alice, r.acceptID, "take", map[string]any{"interaction": r.conv})
		return r
	}
	completeCut := func(t *testing.T, base string, alice, bob *wsClient) crashRun {
		bob.must("presence", map[string]any{"presence": "available"})
		r := offered(t, base, alice)
		alice.must("accept", map[string]any{"interaction": r.conv})
		alice.waitFor("assigned", map[string]any{"conversation": r.conv})
		alice.must("transfer", map[string]any{"conversation": r.conv, "toAgent": "bob", "mode": "warm"})
		bob.waitFor("offer", map[string]any{"conversation": r.conv})
		bob.must("accept", map[string]any{"interaction": r.conv})
		bob.waitFor("assigned", map[string]any{"conversation": r.conv, "role": "consult"})
		sendCut(alice, "complete-"+r.conv, "transfer_complete", map[string]any{"conversation": r.conv})
		return r
	}
	return map[string]crashCase{
		"accept stored by routing, not by chat": {
			point:  crashPoint{holdChat: joinedBy("alice"), killAfterRouting: connectedTo("alice")},
			before: acceptCut,
			after: func(t *testing.T, a *App, base string, r crashRun) {
				desk := ownedBy(t, a, base, r, "alice")
				// The accept sent again answers its first result.
				if rep := desk.doID(r.acceptID, "accept", map[string]any{"interaction": r.conv}); rep["type"] != "ack" {
					t.Fatalf("the accept sent again after the restart: %v", rep)
				}
			},
		},
		"accept stored by chat, not by routing": {
			point:  crashPoint{holdRouting: connectedTo("alice"), killAfterChat: joinedBy("alice")},
			before: acceptCut,
			after: func(t *testing.T, a *App, base string, r crashRun) {
				// Never acknowledged: routing offers it again, the agent
				// the chat had joined has left it.
				if got := agentsOf(t, a, r.conv); len(got) != 0 {
					t.Fatalf("agents in a conversation routing holds as waiting: %v", got)
				}
				if rec, _ := a.Store().GetConversation(t.Context(), store.ConversationID(r.conv)); rec.Status != store.ConvQueued {
					t.Fatalf("conversation status %q, want queued", rec.Status)
				}
				desk, _ := staff(t, base, "alice", "pw-alice")
				// Offered once the visitor is back (away until then).
				vis := visitor(t, base, r.token)
				vis.must("resume", map[string]any{"after": 0})
				vis.waitFor("message", map[string]any{"event": "left", "sender": "agent:alice"})
				desk.waitFor("offer", map[string]any{"conversation": r.conv})
				if rep := desk.doID(r.acceptID, "accept", map[string]any{"interaction": r.conv}); rep["type"] != "ack" {
					t.Fatalf("the accept sent again after the restart: %v", rep)
				}
				desk.waitFor("assigned", map[string]any{"conversation": r.conv, "role": "owner"})
				vis.waitFor("message", map[string]any{"event": "joined", "sender": "agent:alice"})
			},
		},
		"take stored by routing, not by chat": {
			point:  crashPoint{holdChat: joinedBy("alice"), killAfterRouting: connectedTo("alice")},
			before: takeCut,
			after: func(t *testing.T, a *App, base string, r crashRun) {
				desk := ownedBy(t, a, base, r, "alice")
				if rep := desk.doID(r.acceptID, "take", map[string]any{"interaction": r.conv}); rep["type"] != "ack" {
					t.Fatalf("the take sent again after the restart: %v", rep)
				}
			},
		},
		"transfer completed by routing, not by chat": {
			point:  crashPoint{holdChat: chatEvent("handed_over", ""), killAfterRouting: connectedTo("bob")},
			before: completeCut,
			after: func(t *testing.T, a *App, base string, r crashRun) {
				ownedBy(t, a, base, r, "bob")
			},
		},
		"transfer completed by chat, not by routing": {
			point:  crashPoint{holdRouting: connectedTo("bob"), killAfterChat: chatEvent("handed_over", "")},
			before: completeCut,
			after: func(t *testing.T, a *App, base string, r crashRun) {
				// Never acknowledged: alice keeps it, the consultation is over.
				ownedBy(t, a, base, r, "alice")
			},
		},
		"end stored by chat, not by routing": {
			point: crashPoint{holdRouting: leavesConnected, killAfterChat: chatEvent("ended", "agent:alice")},
			before: func(t *testing.T, base string, alice, _ *wsClient) crashRun {
				r := offered(t, base, alice)
				alice.must("accept", map[string]any{"interaction": r.conv})
				alice.waitFor("assigned", map[string]any{"conversation": r.conv})
				sendCut(alice, "end-"+r.conv, "end", map[string]any{"conversation": r.conv})
				return r
			},
			after: func(t *testing.T, a *App, base string, r crashRun) {
				if st, _ := routingState(t, a, r.conv); st == routing.StatusConnected {
					t.Fatalf("routing still holds an ended conversation as %s", st)
				}
				in, err := a.Store().GetInteraction(t.Context(), routing.InteractionID(r.conv))
				if err != nil || in.Status == store.StatusConnected {
					t.Fatalf("stored interaction: %+v, %v", in, err)
				}
			},
		},
		"visitor's end stored by chat, not by routing": {
			point: crashPoint{holdRouting: leavesConnected, killAfterChat: chatEvent("ended", "visitor")},
			before: func(t *testing.T, base string, alice, _ *wsClient) crashRun {
				alice.must("presence", map[string]any{"presence": "away"})
				conv, token := visitorSession(t, base, "sales", "Ann")
				vis := visitor(t, base, token)
				sendCut(vis, "end-1", "end", nil)
				return crashRun{conv: conv, token: token}
			},
			after: func(t *testing.T, a *App, base string, r crashRun) {
				if st, _ := routingState(t, a, r.conv); st != "closed" {
					t.Fatalf("routing holds the conversation the visitor ended as %s", st)
				}
				var waiting int
				a.Router().Query(t.Context(), func(e *routing.Engine) { waiting = e.QueueViews()[0].Waiting })
				if waiting != 0 {
					t.Fatalf("%d waiting after the restart", waiting)
				}
			},
		},
		"conversation opened by chat, not queued by routing": {
			point: crashPoint{holdRouting: anyInteraction, killAfterChat: createsConversation},
			before: func(t *testing.T, base string, alice, _ *wsClient) crashRun {
				go func() { // no reply comes: the process dies first
					req, _ := http.NewRequest("POST", base+"/api/widget/session", strings.NewReader(`{"queue":"sales","name":"Ann","channel":"chat"}`))
					req.Header.Set("Origin", base)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
				return crashRun{}
			},
		},
	}
}

func TestACrashBetweenRoutingAndChatCommitsStrandsNothing(t *testing.T) {
	for name, c := range crashCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			eachStore(t, func(t *testing.T, cfg config.Config) {
				base, killed := crashChildRun(t, cfg, name)
				alice, _ := staff(t, base, "alice", "pw-alice")
				bob, _ := staff(t, base, "bob", "pw-bob")
				alice.must("presence", map[string]any{"presence": "available"})
				r := c.before(t, base, alice, bob)
				killed()

				a, err := New(t.Context(), cfg, quietLog(), io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Close() })
				opened, err := a.Store().ListOpenConversations(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				if c.after != nil {
					c.after(t, a, "http://"+a.Addr(), r)
				}
				// Whatever the case, every conversation left open is one
				// routing holds, with the agents routing says.
				ids := []store.ConversationID{}
				for _, rec := range opened {
					ids = append(ids, rec.ID)
				}
				if r.conv != "" && !slices.Contains(ids, store.ConversationID(r.conv)) {
					ids = append(ids, store.ConversationID(r.conv))
				}
				checkInStep(t, a, ids)
			})
		})
	}
}

// checkInStep asserts that each conversation (those open before the
// restart, and the case's own) is now either ended and not held by routing,
// or held by routing with the same agent as the chat.
func checkInStep(t *testing.T, a *App, ids []store.ConversationID) {
	t.Helper()
	if len(ids) == 0 {
		t.Fatal("no conversation was open before the restart: the case did not run")
	}
	for _, id := range ids {
		rec := store.Conversation{ID: id}
		now, err := a.Store().GetConversation(t.Context(), rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		st, agent := routingState(t, a, string(rec.ID))
		agents := agentsOf(t, a, string(rec.ID))
		switch {
		case now.Status == store.ConvEnded:
			if st == routing.StatusConnected || st == routing.StatusWaiting || st == routing.StatusParked {
				t.Errorf("conversation %s ended but routing holds it as %s", rec.ID, st)
			}
			if now.EndReason == "" {
				t.Errorf("conversation %s ended without a reason", rec.ID)
			}
		case st == routing.StatusConnected:
			if fmt.Sprint(agents) != fmt.Sprintf("map[agent:%s:owner]", agent) {
				t.Errorf("routing holds %s connected to %s; the conversation has %v", rec.ID, agent, agents)
			}
		case st == routing.StatusWaiting || st == routing.StatusParked:
			if len(agents) != 0 || now.Status != store.ConvQueued {
				t.Errorf("routing holds %s as %s; the conversation is %s with %v", rec.ID, st, now.Status, agents)
			}
		default:
			t.Errorf("conversation %s is %s and routing does not hold it (%s): stranded", rec.ID, now.Status, st)
		}
	}
}
