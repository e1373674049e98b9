// Package signaling holds the edges: the browser protocol over WebSocket
// (docs/PROTOCOL.md) and the HTTP calls around it. It turns wire messages
// into chat and routing calls and their results into wire messages, and
// holds no business rules.
package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
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

// conn is one WebSocket connection: one goroutine reads, one writes, and
// everything to send goes through a bounded outbox. A client that reads
// too slowly to keep up is closed with a policy violation; it reconnects
// and resumes.
type conn struct {
	ws     *websocket.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelCauseFunc
	out    chan []byte
	once   sync.Once
	// closing stops the writer from taking more frames once a close was
	// decided, so the close frame follows what is already on the wire.
	closing atomic.Bool
	limit   *bucket
	ip      string
	// who it is
	agent        string // agent id for staff
	conversation string // conversation for visitors
}

var errSlowConsumer = errors.New("slow consumer")

func newConn(ctx context.Context, ws *websocket.Conn, log *slog.Logger, ip string, limit *bucket) *conn {
	ctx, cancel := context.WithCancelCause(ctx)
	ws.SetReadLimit(ReadLimit)
	return &conn{ws: ws, log: log, ctx: ctx, cancel: cancel, out: make(chan []byte, OutboxSize), limit: limit, ip: ip}
}

// send queues v for the client and never blocks. When the outbox is full
// the connection is closed.
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Error("encoding a message", "err", err)
		return
	}
	select {
	case <-c.ctx.Done():
	case c.out <- b:
	default:
		c.close(websocket.StatusPolicyViolation, "too slow: reconnect and resume", errSlowConsumer)
	}
}

// close ends the connection with a close frame carrying code. The frame
// goes out after the one being written (the library waits up to 5 s for
// it); then everything stops.
func (c *conn) close(code websocket.StatusCode, reason string, cause error) {
	c.once.Do(func() {
		c.closing.Store(true)
		go func() {
			c.ws.Close(code, reason)
			c.cancel(cause)
		}()
	})
}

// writeLoop writes the outbox and pings until the connection ends.
func (c *conn) writeLoop() {
	t := time.NewTicker(PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case b := <-c.out:
			if c.closing.Load() {
				return
			}
			ctx, cancel := context.WithTimeout(c.ctx, WriteTimeout)
			err := c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.close(websocket.StatusGoingAway, "write failed", err)
				return
			}
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, PingTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.close(websocket.StatusGoingAway, "no pong", err)
				return
			}
		}
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

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
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
