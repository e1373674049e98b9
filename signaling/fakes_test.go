package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Hand-written fakes of the edge's ports. A nil func field answers with
// zero values; every call is counted in calls, so a test can assert that
// a refused command reached none of them.
type fakes struct {
	mu    sync.Mutex
	calls []string

	agents   map[routing.AgentID]store.Agent
	sessions map[string]store.Session
	left     []store.LeftMessage
	attrs    []map[string]string // of each StartVisitor
	numbered bool                // StartVisitor makes c_1, c_2, … (else always c_new)
	created  []store.LeftMessage // by CreateLeftMessage

	info   func(id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error)
	send   func(id store.ConversationID, who chat.Sender, clientID, kind, text string) (store.Message, error)
	do     func(cmd routing.Command) error
	callEv func(id store.ConversationID, who chat.Sender, ev string) error
	// history answers HistoryPage (nil: no message after after).
	history func(id store.ConversationID, after int64) ([]store.Message, int64, bool, error)
}

func (f *fakes) called(name string) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.mu.Unlock()
}

// acted lists the calls that change something (reads left out).
func (f *fakes) acted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		switch c {
		case "Info", "RoleOf", "GetAgent", "GetSession", "Held", "History", "ListLeftMessages", "GetLeftMessage", "ListAgents", "ListOpenConversations":
		default:
			out = append(out, c)
		}
	}
	return out
}

// started is the attributes of the last StartVisitor.
func (f *fakes) started() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.attrs) == 0 {
		return nil
	}
	return f.attrs[len(f.attrs)-1]
}

func (f *fakes) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

// Store
func (f *fakes) GetAgent(_ context.Context, id routing.AgentID) (store.Agent, error) {
	f.called("GetAgent")
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[id]
	if !ok {
		return a, store.ErrNotFound
	}
	return a, nil
}
func (f *fakes) ListAgents(context.Context) ([]store.Agent, error) {
	f.called("ListAgents")
	return nil, nil
}
func (f *fakes) CreateSession(_ context.Context, s store.Session) error {
	f.called("CreateSession")
	f.mu.Lock()
	f.sessions[s.TokenHash] = s
	f.mu.Unlock()
	return nil
}
func (f *fakes) GetSession(_ context.Context, hash string, now time.Time) (store.Session, error) {
	f.called("GetSession")
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[hash]
	if !ok || !now.Before(s.ExpiresAt) {
		return s, store.ErrNotFound
	}
	return s, nil
}
func (f *fakes) DeleteSession(_ context.Context, hash string) error {
	f.called("DeleteSession")
	f.mu.Lock()
	delete(f.sessions, hash)
	f.mu.Unlock()
	return nil
}
func (f *fakes) CreateLeftMessage(_ context.Context, m store.LeftMessage) error {
	f.called("CreateLeftMessage")
	f.mu.Lock()
	f.created = append(f.created, m)
	f.mu.Unlock()
	return nil
}
func (f *fakes) GetLeftMessage(_ context.Context, id string) (store.LeftMessage, error) {
	f.called("GetLeftMessage")
	for _, m := range f.left {
		if m.ID == id {
			return m, nil
		}
	}
	return store.LeftMessage{}, store.ErrNotFound
}
func (f *fakes) ListLeftMessages(_ context.Context, filter store.LeftMessageFilter, limit int) ([]store.LeftMessage, error) {
	f.called("ListLeftMessages")
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []store.LeftMessage{}
	for _, m := range f.left {
		if filter.Match(m) && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}
func (f *fakes) MarkLeftMessageHandled(_ context.Context, id string, by routing.AgentID, at time.Time) error {
	f.called("MarkLeftMessageHandled")
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.left {
		if m.ID == id {
			f.left[i].HandledBy, f.left[i].HandledAt = by, at
			return nil
		}
	}
	return store.ErrNotFound
}
func (f *fakes) ListOpenConversations(context.Context) ([]store.Conversation, error) {
	f.called("ListOpenConversations")
	return nil, nil
}

// Chat
func (f *fakes) Send(_ context.Context, id store.ConversationID, who chat.Sender, clientID, kind, text string) (store.Message, bool, error) {
	f.called("Send")
	if f.send != nil {
		m, err := f.send(id, who, clientID, kind, text)
		return m, false, err
	}
	return store.Message{Conversation: id, Seq: 1}, false, nil
}
func (f *fakes) Hold(context.Context, store.ConversationID, routing.AgentID, bool) (store.Message, error) {
	f.called("Hold")
	return store.Message{}, nil
}
func (f *fakes) HistoryPage(_ context.Context, id store.ConversationID, _ chat.Sender, after int64, _ int) ([]store.Message, int64, bool, error) {
	f.called("History")
	if f.history != nil {
		return f.history(id, after)
	}
	return nil, after, false, nil
}
func (f *fakes) RoleOf(ctx context.Context, id store.ConversationID, who chat.Sender) (chat.Role, bool, error) {
	f.called("RoleOf")
	_, parts, err := f.Info(ctx, id)
	r, ok := parts[who]
	return r, ok, err
}
func (f *fakes) Info(_ context.Context, id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error) {
	f.called("Info")
	if f.info != nil {
		return f.info(id)
	}
	return store.Conversation{ID: id, Status: store.ConvActive}, nil, chat.ErrUnknownConversation
}
func (f *fakes) CallEvent(_ context.Context, id store.ConversationID, who chat.Sender, ev string, _ map[string]string) (store.Message, error) {
	f.called("CallEvent")
	if f.callEv != nil {
		return store.Message{}, f.callEv(id, who, ev)
	}
	return store.Message{}, nil
}
func (f *fakes) Held(context.Context, store.ConversationID) (bool, error) {
	f.called("Held")
	return false, nil
}

// Coordinator
func (f *fakes) StartVisitor(_ context.Context, q routing.QueueID, _ routing.Channel, _ string, attrs map[string]string) (store.Conversation, error) {
	f.called("StartVisitor")
	f.mu.Lock()
	f.attrs = append(f.attrs, attrs)
	id := store.ConversationID("c_new")
	if f.numbered {
		id = store.ConversationID(fmt.Sprintf("c_%d", len(f.attrs)))
	}
	f.mu.Unlock()
	return store.Conversation{ID: id, Queue: q}, nil
}
func (f *fakes) EndByVisitor(context.Context, store.ConversationID) (store.Message, error) {
	f.called("EndByVisitor")
	return store.Message{}, nil
}
func (f *fakes) EndByAgent(context.Context, store.ConversationID, routing.AgentID) (store.Message, error) {
	f.called("EndByAgent")
	return store.Message{}, nil
}
func (f *fakes) EndBySystem(context.Context, store.ConversationID, string) error {
	f.called("EndBySystem")
	return nil
}
func (f *fakes) OperatorRoom(context.Context, routing.AgentID, routing.AgentID) (store.ConversationID, error) {
	f.called("OperatorRoom")
	return "op_room", nil
}
func (f *fakes) VisitorLeft(context.Context, store.ConversationID) error {
	f.called("VisitorLeft")
	return nil
}

// Router
func (f *fakes) Do(_ context.Context, cmd routing.Command) error {
	f.called("Do")
	if f.do != nil {
		return f.do(cmd)
	}
	return nil
}
func (f *fakes) Enqueue(context.Context, routing.Enqueue, map[string]string) error {
	f.called("Enqueue")
	return nil
}

var (
	_ Store       = (*fakes)(nil)
	_ Chat        = (*fakes)(nil)
	_ Coordinator = (*fakes)(nil)
	_ chat.Router = (*fakes)(nil)
)

// edge is a Server on fakes, served on 127.0.0.1.
type edge struct {
	s    *Server
	f    *fakes
	url  string // http://127.0.0.1:port
	sign *auth.Signer
}

// The accounts every edge knows, one per role and one holding none.
var testAccounts = []store.Agent{
	{ID: "ann", DisplayName: "Ann", Roles: []store.Role{store.RoleAgent}, Skills: map[routing.Skill]int{"billing": 2}},
	{ID: "bob", DisplayName: "Bob", Roles: []store.Role{store.RoleAgent}},
	{ID: "sue", DisplayName: "Sue", Roles: []store.Role{store.RoleSupervisor}},
	{ID: "adam", DisplayName: "Adam", Roles: []store.Role{store.RoleAdmin}},
	{ID: "nora", DisplayName: "Nora"},
}

func newEdge(t *testing.T, cfg Config) *edge {
	t.Helper()
	f := &fakes{agents: map[routing.AgentID]store.Agent{}, sessions: map[string]store.Session{}}
	for _, a := range testAccounts {
		f.agents[a.ID] = a
	}
	signer, err := auth.NewSigner([]byte(strings.Repeat("k", auth.MinKeyBytes)))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.ConnRate, cfg.ConnBurst, cfg.IPRate, cfg.IPBurst = 1e6, 1e6, 1e6, 1e6
	s := New(t.Context(), cfg, log, f, f, f, f, signer)
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &edge{s: s, f: f, url: srv.URL, sign: signer}
}

// cookie makes a session for the account and returns its cookie.
func (e *edge) cookie(t *testing.T, id routing.AgentID) *http.Cookie {
	t.Helper()
	tok := "tok-" + string(id)
	now := time.Now()
	if err := e.f.CreateSession(t.Context(), store.Session{TokenHash: auth.HashToken(tok), Agent: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: tok}
}

// dial connects a staff desk (id) or a visitor (conv).
func (e *edge) dial(t *testing.T, id routing.AgentID, conv string) (*wsc, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(e.url, "http") + "/ws"
	hdr := http.Header{"Origin": {e.url}}
	if conv != "" {
		tok, err := e.sign.Sign(conv, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		u += "?token=" + tok
	} else if id != "" {
		hdr.Add("Cookie", e.cookie(t, id).String())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{"cc.v1"}})
	if err != nil {
		return nil, resp, err
	}
	c := &wsc{t: t, ws: ws, in: make(chan map[string]any, 256)}
	t.Cleanup(func() { ws.CloseNow() })
	go func() {
		defer close(c.in)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				c.in <- m
			}
		}
	}()
	return c, resp, nil
}

// wsc is a test's WebSocket client.
type wsc struct {
	t  *testing.T
	ws *websocket.Conn
	in chan map[string]any
	n  int
}

func (c *wsc) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.Write(c.t.Context(), websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next waits for the next message of type typ (others are skipped).
func (c *wsc) next(typ string) map[string]any {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("the connection closed while waiting for %s", typ)
			}
			if m["type"] == typ {
				return m
			}
		case <-timeout:
			c.t.Fatalf("no %s within 10 s", typ)
		}
	}
}

// reply waits for the ack or error of the command with this id.
func (c *wsc) reply(id string) map[string]any {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("the connection closed while waiting for the reply to %s", id)
			}
			if (m["type"] == "ack" || m["type"] == "error") && m["id"] == id {
				return m
			}
		case <-timeout:
			c.t.Fatalf("no reply to %s within 10 s", id)
		}
	}
}

// do sends a command with fields and returns its reply; a command that
// succeeds silently (typing, ice) returns nil, known because the probe
// sent after it is answered first.
func (c *wsc) do(typ string, fields map[string]any) map[string]any {
	c.t.Helper()
	c.n++
	id := "q" + string(rune('a'+c.n%26)) + time.Now().Format("150405.000000000")
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c.sendRaw(string(b))
	probe := id + "-probe"
	c.sendRaw(`{"type":"no_such_type","id":"` + probe + `"}`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("the connection closed while waiting for the reply to %s", typ)
			}
			if m["type"] != "ack" && m["type"] != "error" {
				continue
			}
			switch m["id"] {
			case id:
				c.reply(probe)
				return m
			case probe:
				return nil
			}
		case <-timeout:
			c.t.Fatalf("no reply to %s within 10 s", typ)
		}
	}
}

var errBoom = errors.New("boom")
