package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Visitor limits.
const (
	// maxPending is how many unanswered messages a visitor lets pile up
	// before it skips sends (counted as skipped): the server is behind.
	maxPending = 64
	// drainWait is how long a visitor waits for the answers to its last
	// messages once the window is over.
	drainWait = 5 * time.Second
	// endWait bounds ending the conversation at the end.
	endWait = 10 * time.Second
)

var (
	messagePrefix = []byte(`{"type":"message",`)
	ownMessage    = []byte(`,"sender":"visitor",`)
)

// inMsg holds the fields of a server message ccload looks at.
type inMsg struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	Role         string `json:"role"`
	Interaction  string `json:"interaction"`
	Conversation string `json:"conversation"`
	Sender       string `json:"sender"`
	Kind         string `json:"kind"`
	Text         string `json:"text"`
	Event        string `json:"event"`
	Reason       string `json:"reason"`
}

// visitor is one simulated website visitor: one widget session and one
// WebSocket. Its goroutine connects and writes; a second one reads.
type visitor struct {
	r      *runner
	idx    int
	hc     *http.Client
	ws     *websocket.Conn
	prefix string
	conv   string // from hello

	joined   chan struct{}
	joinOnce sync.Once
	closing  atomic.Bool
	ending   atomic.Bool // it sent end: the conversation leaves the queue

	mu      sync.Mutex
	pending map[string]time.Duration // command id -> send time
	answer  chan struct{}            // a pending command was answered
	endID   string
	endDone chan struct{}
	endOnce sync.Once
}

// visitor runs visitor idx from start to end; it holds one of the
// runner's tokens until it is connected. ctx bounds it, setup its setup.
func (r *runner) visitor(ctx, setup context.Context, idx int) {
	v := &visitor{r: r, idx: idx, hc: r.cl.get(r.visitorSource(idx)), prefix: fmt.Sprintf("%s-v%d-", r.runID, idx),
		joined: make(chan struct{}), pending: map[string]time.Duration{}, answer: make(chan struct{}, 1), endDone: make(chan struct{})}
	v.endID = v.prefix + "end"
	start := r.now()
	err := v.connect(setup)
	<-r.tokens
	if err != nil {
		return
	}
	r.st.connected.Add(1)
	r.st.connect.add(r.now() - start)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Reads and the messages' writes take no context (one that can end
	// costs the library a callback for every frame, in ccload as in
	// contactd): the socket is closed when cctx ends instead.
	context.AfterFunc(cctx, func() { v.ws.CloseNow() })
	readDone := make(chan struct{})
	go func() { defer close(readDone); v.read(cctx) }()
	defer func() {
		v.closing.Store(true)
		v.ws.Close(websocket.StatusNormalClosure, "ccload is done")
		cancel()
		<-readDone
	}()

	// Like the widget, resume after hello: the agent may have joined
	// before the WebSocket was open.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	err = v.ws.Write(wctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"resume","id":"%sresume","after":0}`, v.prefix))
	wcancel()
	if err != nil {
		r.st.fail("visitor_write")
		return
	}
	if r.o.mode == "chat" {
		select {
		case <-v.joined:
			at := r.now()
			r.st.joined.Add(1)
			r.st.setup.add(at - start)
			if int64(at) <= r.winFrom.Load() {
				r.st.joinedByWin.Add(1)
			}
			v.chat(ctx)
		case <-r.stop:
			r.st.failRun("not_joined")
		case <-ctx.Done():
			return
		}
		v.finish(ctx)
		return
	}
	// Idle visitors just close: ending thousands of queued conversations
	// at once would measure the store, not the connections. The server
	// lets them go after its visitor_grace.
	select {
	case <-r.stop:
	case <-ctx.Done():
	}
}

// connect starts the widget session and opens the WebSocket; it returns
// once the server said hello.
func (v *visitor) connect(ctx context.Context) error {
	token, err := v.session(ctx)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	u := "ws://" + v.r.t.hostport + "/ws?token=" + url.QueryEscape(token)
	ws, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		HTTPClient: v.hc, HTTPHeader: http.Header{"Origin": {v.r.t.origin}}, Subprotocols: []string{"cc.v1"},
	})
	if err != nil {
		if ctx.Err() == nil {
			kind := "dial"
			if resp != nil {
				kind += ":" + strconv.Itoa(resp.StatusCode)
			}
			v.r.st.fail(kind)
		}
		return err
	}
	ws.SetReadLimit(1 << 20)
	// The read's context ends with the dial's: if hello does not come in
	// time the connection is given up (and closed) anyway.
	_, data, err := ws.Read(dctx)
	var m inMsg
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil || m.Type != "hello" || m.Role != "visitor" {
		if ctx.Err() == nil {
			v.r.st.fail("hello")
		}
		ws.CloseNow()
		return fmt.Errorf("no hello: %v %s", err, data)
	}
	v.ws, v.conv = ws, m.Conversation
	return nil
}

// session is POST /api/widget/session; a 429 is retried a few times.
func (v *visitor) session(ctx context.Context) (string, error) {
	channel := "chat"
	if v.r.o.mode == "voice" {
		channel = "voice"
	}
	body, _ := json.Marshal(map[string]any{"queue": v.r.o.queue, "name": fmt.Sprintf("ccload %d", v.idx), "channel": channel})
	for attempt := 0; ; attempt++ {
		ans, err := post(ctx, v.hc, v.r.t, "/api/widget/session", body)
		status, data := ans.status, ans.body
		if err != nil {
			if ctx.Err() == nil {
				v.r.st.fail("session")
			}
			return "", err
		}
		switch {
		case status == http.StatusCreated:
			var out struct{ Token string }
			if err := json.Unmarshal(data, &out); err != nil || out.Token == "" {
				v.r.st.fail("session:bad_answer")
				return "", fmt.Errorf("widget session answer %q", data)
			}
			return out.Token, nil
		case status == http.StatusTooManyRequests && attempt < 5:
			v.r.st.sessionRetries.Add(1)
			if !sleepCtx(ctx, time.Second+rand.N(time.Second)) {
				return "", ctx.Err()
			}
			continue
		}
		v.r.st.fail("session:" + strconv.Itoa(status))
		return "", fmt.Errorf("widget session: %d %s", status, data)
	}
}

// answer is an HTTP answer: its status, body (up to 64 KiB) and cookies.
type answer struct {
	status  int
	body    []byte
	cookies []*http.Cookie
}

// post sends a JSON body with the server's own origin.
func post(ctx context.Context, hc *http.Client, t target, path string, body []byte) (answer, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+t.hostport+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Origin", t.origin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, body: data, cookies: resp.Cookies()}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// read handles what the server sends until the connection ends.
func (v *visitor) read(ctx context.Context) {
	r := v.r
	for {
		_, data, err := v.ws.Read(context.Background())
		if err != nil {
			if !v.closing.Load() && ctx.Err() == nil {
				r.st.fail("visitor_closed")
			}
			return
		}
		now := r.now()
		// Its own messages coming back (a third of what a visitor reads)
		// tell it nothing: not decoded. A JSON string holds no unescaped
		// quote, so the field cannot be forged by a message's text.
		if !r.o.trace && bytes.HasPrefix(data, messagePrefix) && bytes.Contains(data, ownMessage) {
			continue
		}
		var m inMsg
		if json.Unmarshal(data, &m) != nil {
			r.st.fail("bad_json")
			continue
		}
		if r.o.trace {
			r.logf("visitor %d < %s", v.idx, data)
		}
		switch m.Type {
		case "message":
			if m.Event == "joined" {
				v.joinOnce.Do(func() { close(v.joined) })
			}
			if m.Kind == "text" && strings.HasPrefix(m.Sender, "agent:") {
				if t, ok := echoTime(m.Text); ok && r.inWindow(t) {
					r.st.echoed.Add(1)
					r.st.echo.add(now - t)
				}
			}
		case "ack":
			v.answered(m.ID, now, true)
		case "error":
			r.st.fail("visitor_error:" + m.Code)
			v.answered(m.ID, now, false)
		case "left":
			if !v.ending.Load() {
				r.st.fail("left:" + m.Reason)
			}
		}
	}
}

func (v *visitor) answered(id string, now time.Duration, ok bool) {
	if id == v.endID {
		v.endOnce.Do(func() { close(v.endDone) })
		if !ok {
			v.r.st.cleanupErrors.Add(1)
		}
		return
	}
	v.mu.Lock()
	t, found := v.pending[id]
	delete(v.pending, id)
	v.mu.Unlock()
	if !found {
		return
	}
	if ok && v.r.inWindow(t) {
		v.r.st.acked.Add(1)
		v.r.st.ack.add(now - t)
	}
	select {
	case v.answer <- struct{}{}:
	default:
	}
}

// chat sends -rate messages a second, on a timer with a random phase,
// until the window is over.
func (v *visitor) chat(ctx context.Context) {
	r := v.r
	interval := time.Duration(float64(time.Second) / r.o.rate)
	if !sleepCtx(ctx, rand.N(interval)) {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var buf []byte
	for n := 1; ; n++ {
		now := r.now()
		if int64(now) >= r.winTo.Load() {
			return
		}
		v.mu.Lock()
		full := len(v.pending) >= maxPending
		id := v.prefix + strconv.Itoa(n)
		if !full {
			v.pending[id] = now
		}
		v.mu.Unlock()
		if full {
			r.st.skipped.Add(1)
		} else {
			// Ids and the text are plain ASCII: nothing to escape.
			buf = fmt.Appendf(buf[:0], `{"type":"send","id":"%s","text":"ccload %d %d %d"}`, id, v.idx, n, int64(now))
			err := v.ws.Write(context.Background(), websocket.MessageText, buf)
			if err != nil {
				if ctx.Err() == nil {
					r.st.fail("visitor_write")
				}
				return
			}
			r.st.sentTotal.Add(1)
			if r.inWindow(now) {
				r.st.sent.Add(1)
			}
		}
		select {
		case <-tick.C:
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// finish waits a little for the answers to the last messages, then ends
// the conversation (so the agent's slot is free for the next run).
func (v *visitor) finish(ctx context.Context) {
	wait := time.NewTimer(drainWait)
	defer wait.Stop()
	for {
		v.mu.Lock()
		n := len(v.pending)
		v.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-v.answer:
			continue
		case <-wait.C:
		case <-ctx.Done():
			return
		}
		break
	}
	ectx, cancel := context.WithTimeout(ctx, endWait)
	defer cancel()
	v.ending.Store(true)
	if err := v.ws.Write(ectx, websocket.MessageText, fmt.Appendf(nil, `{"type":"end","id":"%s"}`, v.endID)); err != nil {
		v.r.st.cleanupErrors.Add(1)
		return
	}
	select {
	case <-v.endDone:
	case <-ectx.Done():
		v.r.st.cleanupErrors.Add(1)
	}
}

// The message text carries its send time, as an offset of the run's
// clock in nanoseconds: "ccload <visitor> <n> <offset>"; an agent's echo
// is "ccload-echo <offset>".

// sendTime reads the send time of a visitor's message.
func sendTime(text string) (time.Duration, bool) {
	f := strings.Fields(text)
	if len(f) != 4 || f[0] != "ccload" {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || ns < 0 {
		return 0, false
	}
	return time.Duration(ns), true
}

// echoTime reads the send time of an agent's echo.
func echoTime(text string) (time.Duration, bool) {
	s, ok := strings.CutPrefix(text, "ccload-echo ")
	if !ok {
		return 0, false
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ns < 0 {
		return 0, false
	}
	return time.Duration(ns), true
}
