// Package signaling holds the edges: the browser protocol over WebSocket
// (docs/PROTOCOL.md) and the HTTP calls around it. It turns wire messages
// into chat and routing calls and their results into wire messages, and
// holds no business rules.
package signaling

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Connection limits (docs/PROTOCOL.md).
const (
	ReadLimit    = 64 << 10
	OutboxSize   = 256
	PingInterval = 20 * time.Second
	PingTimeout  = 10 * time.Second
	WriteTimeout = 10 * time.Second
)

// Buffer sizes of a hijacked connection. net/http hands over a 4 KiB
// reader and a fresh 4 KiB writer; with ten thousand idle connections
// that is 80 MB for buffers that hold one small frame now and then.
// Frames larger than a buffer go straight to and from the socket.
const (
	readBufferSize  = 1 << 10
	writeBufferSize = 2 << 10
)

// conn is one WebSocket connection. It costs one goroutine while idle:
// the reader, which stays shallow (commands run on a goroutine of their
// own, see Server.readLoop). A writer goroutine runs only while the outbox
// holds something, and the heartbeat is a timer. Everything to send goes
// through the outbox, a queue that grows on demand and is released once
// empty; a client that reads too slowly to keep up (OutboxSize frames
// waiting) is closed with a policy violation, and reconnects and resumes.
type conn struct {
	ws     *websocket.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelCauseFunc
	ping   *time.Timer
	limit  bucket
	ip     string
	// who it is
	agent        string // agent id for staff
	conversation string // conversation for visitors

	mu      sync.Mutex
	outbox  [][]byte // frames not yet taken by the writer
	writing bool     // a writer goroutine runs
	// closing stops the writer from taking more frames once a close was
	// decided, so the close frame follows what is already on the wire.
	closing bool
}

var errSlowConsumer = errors.New("slow consumer")

func newConn(ctx context.Context, ws *websocket.Conn, log *slog.Logger, ip string, rate, burst float64) *conn {
	ctx, cancel := context.WithCancelCause(ctx)
	ws.SetReadLimit(ReadLimit)
	c := &conn{ws: ws, log: log, ctx: ctx, cancel: cancel, ip: ip}
	c.limit.init(rate, burst, time.Now())
	c.ping = time.AfterFunc(PingInterval, c.heartbeat)
	return c
}

// send queues v for the client and never blocks. When the outbox is full
// the connection is closed.
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Error("encoding a message", "err", err)
		return
	}
	c.sendRaw(b)
}

// sendRaw queues an encoded message, like send.
func (c *conn) sendRaw(b []byte) {
	c.mu.Lock()
	switch {
	case c.closing:
		c.mu.Unlock()
		return
	case len(c.outbox) >= OutboxSize:
		c.mu.Unlock()
		c.close(websocket.StatusPolicyViolation, "too slow: reconnect and resume", errSlowConsumer)
		return
	}
	c.outbox = append(c.outbox, b)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// close ends the connection with a close frame carrying code. The frame
// goes out after the one being written (the library waits up to 5 s for
// it); then everything stops.
func (c *conn) close(code websocket.StatusCode, reason string, cause error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.outbox = nil
	c.mu.Unlock()
	go func() {
		c.ws.Close(code, reason)
		c.cancel(cause)
	}()
}

// next takes the next frame for the writer, or says the writer is done:
// the outbox is empty (a later send starts a new writer) or the
// connection is closing.
func (c *conn) next() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || len(c.outbox) == 0 || c.ctx.Err() != nil {
		c.writing = false
		c.outbox = nil // release what a burst grew
		return nil, false
	}
	b := c.outbox[0]
	c.outbox[0] = nil
	c.outbox = c.outbox[1:]
	return b, true
}

// writeLoop writes the outbox until it is empty.
func (c *conn) writeLoop() {
	for {
		b, ok := c.next()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, WriteTimeout)
		err := c.ws.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			c.close(websocket.StatusGoingAway, "write failed", err)
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return
		}
	}
}

// heartbeat pings the client; one that does not answer within PingTimeout
// is disconnected. It runs on the timer's goroutine and sets the timer
// again.
func (c *conn) heartbeat() {
	if c.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, PingTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.close(websocket.StatusGoingAway, "no pong", err)
		return
	}
	if c.ctx.Err() == nil {
		c.ping.Reset(PingInterval)
	}
}

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) init(rate, burst float64, now time.Time) {
	b.rate, b.burst, b.tokens, b.last = rate, burst, burst, now
}

func newBucket(rate, burst float64) *bucket {
	b := &bucket{}
	b.init(rate, burst, time.Now())
	return b
}

func (b *bucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// ipLimits keeps a bucket per client address.
type ipLimits struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

func newIPLimits(rate, burst float64) *ipLimits {
	return &ipLimits{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

func (l *ipLimits) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) > 100000 { // forget everybody rather than grow without bound
			l.buckets = map[string]*bucket{}
		}
		b = newBucket(l.rate, l.burst)
		l.buckets[ip] = b
	}
	l.mu.Unlock()
	return b.allow(now)
}

// smallBuffers wraps the ResponseWriter of a WebSocket upgrade so that the
// hijacked connection gets buffers of readBufferSize and writeBufferSize
// instead of net/http's. When the client sent bytes past the handshake
// (they sit in net/http's reader) the connection keeps net/http's buffers.
type smallBuffers struct {
	http.ResponseWriter
}

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return nc, brw, err
	}
	// brw.Writer is new and empty: net/http wrote the handshake answer
	// through its own writer, flushed before Hijack returns.
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(nc, readBufferSize), bufio.NewWriterSize(nc, writeBufferSize)), nil
}
