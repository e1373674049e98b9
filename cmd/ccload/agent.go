package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

var operatorsSuffix = []byte(`"type":"operators"}`)

// agentOutbox bounds the commands an agent has waiting to be written.
const agentOutbox = 4096

// agent is one simulated agent desk: logged in over HTTP, one WebSocket,
// one goroutine reading and one writing. It accepts every offer, records
// the latency of every visitor message it receives, and answers each one
// when -echo is set.
type agent struct {
	r      *runner
	k      int
	id     string
	ws     *websocket.Conn
	out    chan []byte
	n      atomic.Int64
	cancel context.CancelFunc
	done   chan struct{} // the reader and the writer have returned

	closing    atomic.Bool
	presenceID string
	ready      chan error // the answer to going available
	offlineID  string
	offline    chan struct{}
	offOnce    sync.Once
	replayed   bool // until the first "parked": the server repeats old news (reader only)
}

func newAgent(r *runner, k int) *agent {
	id := r.o.agentPrefix + strconv.Itoa(k+1)
	return &agent{r: r, k: k, id: id, out: make(chan []byte, agentOutbox), done: make(chan struct{}),
		presenceID: r.runID + "-" + id + "-available", ready: make(chan error, 1),
		offlineID: r.runID + "-" + id + "-offline", offline: make(chan struct{}), replayed: true}
}

// start logs in, connects and goes available. ctx bounds the setup, live
// the connection; logins is a semaphore for the logins.
func (a *agent) start(ctx, live context.Context, logins chan struct{}) error {
	hc, cookie, err := a.login(ctx, logins)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, "ws://"+a.r.t.hostport+"/ws", &websocket.DialOptions{
		HTTPClient: hc, Subprotocols: []string{"cc.v1"},
		HTTPHeader: http.Header{"Origin": {a.r.t.origin}, "Cookie": {cookie}},
	})
	if err != nil {
		kind := "agent_dial"
		if resp != nil {
			kind += ":" + strconv.Itoa(resp.StatusCode)
		}
		a.r.st.fail(kind)
		return fmt.Errorf("agent %s: connect: %w", a.id, err)
	}
	// The list of operators grows with the number of agents: no limit.
	ws.SetReadLimit(-1)
	a.ws = ws
	lctx, stop := context.WithCancel(live)
	a.cancel = stop
	// Reads take no context (see visitor): the socket is closed when lctx
	// ends instead.
	context.AfterFunc(lctx, func() { ws.CloseNow() })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.read(lctx) }()
	go func() { defer wg.Done(); a.write(lctx) }()
	go func() { wg.Wait(); close(a.done) }()

	a.send(map[string]any{"type": "presence", "id": a.presenceID, "presence": "available"})
	select {
	case err = <-a.ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		a.closing.Store(true)
		stop()
		ws.CloseNow()
		return fmt.Errorf("agent %s: going available: %w", a.id, err)
	}
	return nil
}

// login posts the id and password and returns the HTTP client of the
// source address it used and the session cookie. A login refused for too
// many attempts from one address is tried again from a fresh address.
func (a *agent) login(ctx context.Context, logins chan struct{}) (*http.Client, string, error) {
	body, _ := json.Marshal(map[string]string{"id": a.id, "password": a.r.o.agentPassword})
	src := a.r.agentSource(a.k, false)
	for attempt := 0; ; attempt++ {
		hc := a.r.cl.get(src)
		select {
		case logins <- struct{}{}:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
		ans, err := post(ctx, hc, a.r.t, "/api/login", body)
		<-logins
		if err != nil {
			a.r.st.fail("login")
			return nil, "", fmt.Errorf("agent %s: login: %w", a.id, err)
		}
		switch {
		case ans.status == http.StatusOK:
			for _, c := range ans.cookies {
				if c.Name == "cc_session" {
					return hc, c.Name + "=" + c.Value, nil
				}
			}
			a.r.st.fail("login:no_cookie")
			return nil, "", fmt.Errorf("agent %s: login answered without a session cookie", a.id)
		case ans.status == http.StatusTooManyRequests && attempt < 3 && src != nil:
			src = a.r.agentSource(a.k, true)
			continue
		}
		a.r.st.fail("login:" + strconv.Itoa(ans.status))
		return nil, "", fmt.Errorf("agent %s: login: %d %s", a.id, ans.status, strings.TrimSpace(string(ans.body)))
	}
}

// send queues a command for the writer; it never blocks.
func (a *agent) send(cmd map[string]any) {
	if _, ok := cmd["id"]; !ok {
		cmd["id"] = a.r.runID + "-" + a.id + "-" + strconv.FormatInt(a.n.Add(1), 10)
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		a.r.st.fail("agent_encode")
		return
	}
	select {
	case a.out <- b:
	default:
		a.r.st.fail("agent_outbox_full")
	}
}

func (a *agent) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-a.out:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := a.ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				if !a.closing.Load() && ctx.Err() == nil {
					a.r.st.fail("agent_write")
				}
				return
			}
		}
	}
}

func (a *agent) read(ctx context.Context) {
	r := a.r
	// One buffer for every message: the lists of operators add up to
	// gigabytes in a large run.
	var buf bytes.Buffer
	for {
		data, err := readInto(context.Background(), a.ws, &buf)
		if err != nil {
			if !a.closing.Load() && ctx.Err() == nil {
				r.st.fail("agent_closed")
				a.answerReady(errors.New("connection closed"))
			}
			return
		}
		now := r.now()
		// The list of online colleagues comes after every change of any
		// agent's state and grows with their number: not worth decoding.
		// (The server writes keys in order, so "type" comes last.)
		if bytes.HasSuffix(data, operatorsSuffix) {
			r.st.operators.Add(1)
			continue
		}
		var m inMsg
		if json.Unmarshal(data, &m) != nil {
			r.st.fail("bad_json")
			continue
		}
		if r.o.trace {
			r.logf("%s < %s", a.id, data)
		}
		if r.voice != nil && r.voice.agentMsg(a, &m, data) {
			continue
		}
		switch m.Type {
		case "parked":
			// The first one ends what the server repeats to a desk that
			// connects (its assignments and offers).
			a.replayed = false
		case "offer":
			if a.replayed {
				// An offer made before this run (the agents went offline
				// at the end of the last one): left alone.
				r.st.replayedOffers.Add(1)
				continue
			}
			r.st.offers.Add(1)
			if (r.o.mode == "sip" || r.o.mode == "sip-media") && r.o.sipAgents == "phones" {
				continue // the agent's phone answers (the phone's 200 is the accept)
			}
			a.send(map[string]any{"type": "accept", "interaction": m.Interaction})
		case "assigned":
			if a.replayed {
				// A chat left over from an earlier run that did not end
				// cleanly: ended, so its slot is free.
				r.st.leftovers.Add(1)
				a.send(map[string]any{"type": "end", "conversation": m.Conversation})
			}
		case "message":
			if m.Sender != "visitor" || m.Kind != "text" {
				continue
			}
			t, ok := sendTime(m.Text)
			if !ok {
				continue
			}
			r.st.deliveredTotal.Add(1)
			if r.inWindow(t) {
				r.st.delivered.Add(1)
				r.st.delivery.add(now - t)
			}
			if r.o.echo {
				a.send(map[string]any{"type": "send", "conversation": m.Conversation, "text": "ccload-echo " + strconv.FormatInt(int64(r.now()), 10)})
			}
		case "wrapup":
			a.send(map[string]any{"type": "wrapup_done", "conversation": m.Conversation})
		case "ack":
			switch m.ID {
			case a.presenceID:
				a.answerReady(nil)
			case a.offlineID:
				a.offOnce.Do(func() { close(a.offline) })
			}
		case "error":
			r.st.fail("agent_error:" + m.Code)
			switch m.ID {
			case a.presenceID:
				a.answerReady(fmt.Errorf("%s: %s", m.Code, m.Message))
			case a.offlineID:
				a.offOnce.Do(func() { close(a.offline) })
			}
		}
	}
}

// answerReady passes the answer to going available to start, once.
func (a *agent) answerReady(err error) {
	select {
	case a.ready <- err:
	default:
	}
}

// stop goes offline, so that the next run finds nobody available who is
// not connected, and closes the connection.
func (a *agent) stop(ctx context.Context) {
	a.send(map[string]any{"type": "presence", "id": a.offlineID, "presence": "offline"})
	select {
	case <-a.offline:
	case <-ctx.Done():
		a.r.st.cleanupErrors.Add(1)
	}
	a.closing.Store(true)
	a.ws.Close(websocket.StatusNormalClosure, "ccload is done")
	a.cancel()
	<-a.done
}

// readInto reads the next message into buf (reset first) and returns its
// bytes, valid until the next call.
func readInto(ctx context.Context, ws *websocket.Conn, buf *bytes.Buffer) ([]byte, error) {
	_, rd, err := ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
