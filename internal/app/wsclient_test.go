package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// setPassword gives an account a known password for the test.
func setPassword(t *testing.T, a *App, id routing.AgentID, pw string) {
	t.Helper()
	acc, err := a.Store().GetAgent(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if acc.PasswordHash, err = auth.HashPassword(pw); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().UpdateAgent(t.Context(), acc); err != nil {
		t.Fatal(err)
	}
}

// wsClient is the protocol client of the tests. Dialled with dial, it
// reads every server message into a list that waitFor searches; dialled
// with dialPull, it reads only when the test calls next (a client that
// stops reading, then starts again). Both send commands with fresh ids.
type wsClient struct {
	t      *testing.T
	ws     *websocket.Conn
	ctx    context.Context // bounds next
	n      atomic.Int64
	prefix string // ids are unique per sender across connections

	// Fed by the reader goroutine of a client from dial.
	mu   sync.Mutex
	msgs []map[string]any
	seen int
	more chan struct{}
	done chan struct{}
	err  error // why reading stopped, once done is closed
}

// connect opens the WebSocket; nothing reads it yet.
func connect(t *testing.T, rawURL string, hdr http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testutil.EventuallyWithin)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{"cc.v1"}})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: t, ws: ws, ctx: t.Context(), prefix: chat.NewID("")[:8]}, resp, nil
}

func dial(t *testing.T, rawURL string, hdr http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	c, resp, err := connect(t, rawURL, hdr)
	if err != nil {
		return nil, resp, err
	}
	c.more, c.done = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			_, data, err := c.ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) != nil {
				t.Errorf("server sent non-JSON: %q", data)
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	return c, resp, nil
}

// dialPull connects a client that reads only in next.
func dialPull(t *testing.T, rawURL string, hdr http.Header) *wsClient {
	t.Helper()
	c, _, err := connect(t, rawURL, hdr)
	if err != nil {
		t.Fatal(err)
	}
	// A bound for the whole test, in case the server never answers; the
	// test waits on what it reads, not on this.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	c.ctx = ctx
	return c
}

// frame is what next reads of a server message: not the text, so that a
// long replay's megabytes are not kept.
type frame struct {
	Type          string           `json:"type"`
	ID            string           `json:"id"`
	Code          string           `json:"code"`
	Conversation  string           `json:"conversation"`
	Seq           int64            `json:"seq"`
	Kind          string           `json:"kind"`
	Conversations map[string]int64 `json:"conversations"`
	Result        struct {
		Seq int64 `json:"seq"`
	} `json:"result"`
}

// next reads the next server message of a client from dialPull.
func (c *wsClient) next() frame {
	c.t.Helper()
	_, data, err := c.ws.Read(c.ctx)
	if err != nil {
		c.t.Fatalf("reading: %v (closed by the server: %v)", err, websocket.CloseStatus(err))
	}
	// A message's text comes after the fields read here: cut it off, so
	// the test does not spend its time scanning megabytes of text.
	if i := bytes.Index(data, []byte(`,"text":`)); i > 0 && bytes.HasPrefix(data, []byte(`{"type":"message"`)) {
		data = append(data[:i:i], '}')
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("not JSON: %q", data)
	}
	return f
}

// send sends a message as given (no id is added).
func (c *wsClient) send(v map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	c.sendRaw(b)
}

func (c *wsClient) close() { c.ws.Close(websocket.StatusNormalClosure, ""); <-c.done }

// waitFor returns the first message after those already taken that has
// the given type and matches every key of want (compared as formatted
// values).
func (c *wsClient) waitFor(typ string, want map[string]any) map[string]any {
	c.t.Helper()
	deadline := time.After(testutil.EventuallyWithin)
	for {
		c.mu.Lock()
		for i := c.seen; i < len(c.msgs); i++ {
			m := c.msgs[i]
			if m["type"] == typ && matches(m, want) {
				c.seen = i + 1
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			c.t.Fatalf("no %s %v within %s; got %v", typ, want, testutil.EventuallyWithin, c.msgs[c.seen:])
		}
	}
}

func matches(m, want map[string]any) bool {
	for k, v := range want {
		if fmt.Sprint(m[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// all returns every message of a type received so far.
func (c *wsClient) all(typ string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, m := range c.msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

func (c *wsClient) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.EventuallyWithin)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// do sends a command and returns the reply (ack or error).
func (c *wsClient) do(typ string, fields map[string]any) map[string]any {
	c.t.Helper()
	id := fmt.Sprintf("%s-%d", c.prefix, c.n.Add(1))
	return c.doID(id, typ, fields)
}

func (c *wsClient) doID(id, typ string, fields map[string]any) map[string]any {
	c.t.Helper()
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c.sendRaw(b)
	deadline := time.After(testutil.EventuallyWithin)
	for {
		c.mu.Lock()
		for _, r := range c.msgs {
			if (r["type"] == "ack" || r["type"] == "error") && r["id"] == id {
				c.mu.Unlock()
				return r
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			c.t.Fatalf("no reply to %s %s", typ, id)
		}
	}
}

func (c *wsClient) must(typ string, fields map[string]any) map[string]any {
	c.t.Helper()
	r := c.do(typ, fields)
	if r["type"] != "ack" {
		c.t.Fatalf("%s %v: %v", typ, fields, r)
	}
	res, _ := r["result"].(map[string]any)
	return res
}

// staff logs in over HTTP and connects the desk.
func staff(t *testing.T, base, id, pw string) (*wsClient, *http.Client) {
	t.Helper()
	hc := login(t, base, id, pw)
	return desk(t, base, hc), hc
}

// login logs in over HTTP and returns a client holding the session cookie.
func login(t *testing.T, base, id, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"id": id, "password": pw})
	req, _ := http.NewRequest("POST", base+"/api/login", bytes.NewReader(body))
	req.Header.Set("Origin", base)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d", id, resp.StatusCode)
	}
	return hc
}

// deskHeader is what a desk logged in with hc sends on connecting.
func deskHeader(base string, hc *http.Client) http.Header {
	u, _ := url.Parse(base)
	hdr := http.Header{"Origin": {base}}
	for _, ck := range hc.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return hdr
}

// desk connects the desk of the staff member logged in with hc.
func desk(t *testing.T, base string, hc *http.Client) *wsClient {
	t.Helper()
	c, _, err := dial(t, strings.Replace(base, "http", "ws", 1)+"/ws", deskHeader(base, hc))
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor("hello", map[string]any{"role": "agent"})
	return c
}

// visitorSession starts a visitor's conversation and returns it and its token.
func visitorSession(t *testing.T, base, queue, name string) (string, string) {
	t.Helper()
	return visitorSessionOn(t, base, queue, name, "chat")
}

// visitorSessionOn is visitorSession on a channel (chat or voice).
func visitorSessionOn(t *testing.T, base, queue, name, channel string) (string, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"queue": queue, "name": name, "channel": channel, "attributes": map[string]string{"pageUrl": "https://shop.example/cart"}})
	req, _ := http.NewRequest("POST", base+"/api/widget/session", bytes.NewReader(body))
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("widget session: %d %s", resp.StatusCode, b)
	}
	var out struct{ Conversation, Token string }
	json.Unmarshal(b, &out)
	return out.Conversation, out.Token
}

func visitor(t *testing.T, base, token string) *wsClient {
	t.Helper()
	c, _, err := dial(t, strings.Replace(base, "http", "ws", 1)+"/ws?token="+url.QueryEscape(token), http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor("hello", map[string]any{"role": "visitor"})
	return c
}

func postJSON(t *testing.T, u, origin string, v any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
