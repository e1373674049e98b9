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

// linger is how long a connection's writer or command goroutine waits for
// more work before it ends; the next work starts a new one. A busy
// connection keeps them, an idle one costs only its reader.
const linger = 5 * time.Second

// Buffer sizes of a hijacked connection. net/http hands over a 4 KiB
// reader and a fresh 4 KiB writer; with ten thousand idle connections
// that is 80 MB for buffers that hold one small frame now and then.
// Frames larger than a buffer go straight to and from the socket.
//
// The kernel's send buffer is bounded too (socketSendBuffer; Linux
// doubles it): left to autotuning it grows to megabytes for a client that
// does not read, tens of thousands of frames waiting before the outbox
// holds a single one, so the outbox's bound would mean little and a few
// slow clients would hold much of the kernel's memory.
const (
	readBufferSize   = 1 << 10
	writeBufferSize  = 2 << 10
	socketSendBuffer = 32 << 10
)

// conn is one WebSocket connection. It costs one goroutine while idle:
// the reader, which stays shallow because commands run on a goroutine of
// their own (exec). That one, and the writer, run only while there is work
// and linger after; the heartbeat is a timer. Everything to send goes
// through the outbox, a queue that grows on demand and is released once
// empty; a client that reads too slowly to keep up (OutboxSize frames
// waiting) is closed with a policy violation, and reconnects and resumes.
type conn struct {
	ws     *websocket.Conn
	cork   *corker // nil: every frame goes out on its own
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelCauseFunc
	ping   *time.Timer
	linger time.Duration
	// maxHold: how long held frames wait for the answer to a visitor's
	// command.
	maxHold time.Duration
	limit   bucket
	ip      string
	// who it is
	agent        string // account id for staff
	conversation string // conversation for visitors
	roles        roles  // what the commands table lets it send

	mu      sync.Mutex
	outbox  [][]byte // frames not yet taken by the writer
	writing bool     // a writer goroutine runs
	// closing stops the writer from taking more frames once a close was
	// decided, so the close frame follows what is already on the wire.
	closing   bool
	wrote     chan struct{} // wakes the writer (capacity 1)
	cmd       func()        // the command exec handed over
	executing bool          // a command goroutine runs
	busy      bool          // it runs a command
	cmdWake   chan struct{} // wakes it (capacity 1)
	cmdDone   chan struct{} // it finished cmd (capacity 1)
}

var errSlowConsumer = errors.New("slow consumer")

func newConn(ctx context.Context, ws *websocket.Conn, cork *corker, log *slog.Logger, ip string, rate, burst float64) *conn {
	ctx, cancel := context.WithCancelCause(ctx)
	ws.SetReadLimit(ReadLimit)
	c := &conn{ws: ws, cork: cork, log: log, ctx: ctx, cancel: cancel, ip: ip, linger: linger, maxHold: maxHold,
		wrote: make(chan struct{}, 1), cmdWake: make(chan struct{}, 1), cmdDone: make(chan struct{}, 1)}
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
	} else {
		wake(c.wrote)
	}
}

// wake signals a goroutine waiting on ch without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
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

// maxHold bounds how long frames wait in the corker for a visitor's
// answer (conn.maxHold; tests change it).
const maxHold = 20 * time.Millisecond

// next takes the next frame for the writer, and says whether more are to
// follow soon: frames waiting, or, on a visitor's connection, the answer
// to the command under way (the ack of a send comes right after the
// send's own message: the two go out together). With nothing to write,
// the writer sends what it holds (after up to maxHold while an answer is
// due), waits up to linger for more, and ends (done) once there is still
// none, or the connection is closing or over; a later send starts a new
// writer.
func (c *conn) next(idle *time.Timer) (b []byte, more, done bool) {
	for waited := false; ; {
		c.mu.Lock()
		replyDue, hold := c.busy && c.agent == "", c.maxHold
		switch {
		case c.closing || c.ctx.Err() != nil || (waited && len(c.outbox) == 0):
			c.writing = false
			c.outbox = nil // release what a burst grew
			c.mu.Unlock()
			return nil, false, true
		case len(c.outbox) > 0:
			b := c.outbox[0]
			c.outbox[0] = nil
			c.outbox = c.outbox[1:]
			if len(c.outbox) == 0 {
				c.outbox = nil
			}
			more := len(c.outbox) > 0 || replyDue
			c.mu.Unlock()
			return b, more, false
		}
		c.mu.Unlock()
		wait := c.linger
		if c.cork.holding() {
			if replyDue {
				wait = hold
			} else {
				c.cork.release()
			}
		}
		idle.Reset(wait)
		select {
		case <-c.wrote:
		case <-idle.C:
			if c.cork.holding() {
				c.cork.release() // held long enough
				continue
			}
			waited = true
		case <-c.ctx.Done():
		}
	}
}

// writeLoop writes the outbox until next says it is done. A frame with
// more behind it is held back (corked) and goes out with the next one not
// held: a burst of frames costs one system call, not one each.
func (c *conn) writeLoop() {
	idle := time.NewTimer(c.linger)
	defer idle.Stop()
	for {
		b, more, done := c.next(idle)
		if done {
			c.cork.release()
			return
		}
		c.cork.hold(more)
		var err error
		if c.cork != nil {
			// The corker keeps a write deadline on the socket: no context
			// and timer for every frame.
			err = c.ws.Write(context.Background(), websocket.MessageText, b)
		} else {
			ctx, cancel := context.WithTimeout(c.ctx, WriteTimeout)
			err = c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
		}
		if err != nil {
			c.cork.release()
			c.close(websocket.StatusGoingAway, "write failed", err)
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return
		}
	}
}

// exec runs f on the connection's command goroutine and returns when it is
// done, so commands run one at a time, in order, off the reader's stack.
func (c *conn) exec(f func()) {
	c.mu.Lock()
	c.cmd = f
	start := !c.executing
	c.executing = true
	c.mu.Unlock()
	if start {
		go c.execLoop()
	} else {
		wake(c.cmdWake)
	}
	<-c.cmdDone
}

// execLoop runs the commands exec hands over, and ends once none came for
// linger or the connection is over (exec starts a new one).
func (c *conn) execLoop() {
	idle := time.NewTimer(c.linger)
	defer idle.Stop()
	for waited := false; ; {
		c.mu.Lock()
		f := c.cmd
		c.cmd = nil
		if f == nil && (waited || c.ctx.Err() != nil) {
			c.executing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if f != nil {
			c.mu.Lock()
			c.busy = true
			c.mu.Unlock()
			f()
			c.mu.Lock()
			c.busy = false
			writing := c.writing
			c.mu.Unlock()
			if writing && c.agent == "" {
				wake(c.wrote) // it may hold frames for this command's answer
			}
			c.cmdDone <- struct{}{}
			waited = false
			idle.Reset(c.linger)
			continue
		}
		select {
		case <-c.cmdWake:
		case <-idle.C:
			waited = true
		case <-c.ctx.Done():
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

// upgrade wraps the ResponseWriter of a WebSocket upgrade so that the
// hijacked connection gets buffers of readBufferSize and writeBufferSize
// instead of net/http's, a bounded kernel send buffer, and a corker under
// its writes. When the client sent bytes past the handshake (they sit in
// net/http's reader) the connection keeps net/http's buffers, uncorked.
type upgrade struct {
	http.ResponseWriter
	cork *corker // set by Hijack
}

func (w *upgrade) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *upgrade) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nc, brw, err
	}
	// The server's read and write timeouts are for requests; a WebSocket
	// lives on (its heartbeat and write timeout watch it).
	nc.SetDeadline(time.Time{})
	if tc, ok := nc.(interface{ SetWriteBuffer(int) error }); ok { // *net.TCPConn, or a wrapper of one
		tc.SetWriteBuffer(socketSendBuffer) // best effort
	}
	if brw.Reader.Buffered() > 0 {
		return nc, brw, nil
	}
	// brw.Writer is empty: net/http wrote the handshake answer through its
	// own writer, flushed before Hijack returns.
	w.cork = &corker{nc: nc}
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(nc, readBufferSize), bufio.NewWriterSize(w.cork, writeBufferSize)), nil
}

// corkLimit bounds what a corker holds: past it, the held bytes go out.
const corkLimit = 16 << 10

// corker sits under a WebSocket's buffered writer, which flushes after
// every frame. While held, what is flushed waits in memory; the next write
// not held (or past corkLimit) sends it all in one system call. Writes come
// one at a time (the WebSocket library serializes frames); hold and release
// come from the connection's writer between frames. A nil corker holds
// nothing.
//
// Every write to the socket has WriteTimeout to complete: the corker sets
// the socket's write deadline, renewing it at most once a second, instead
// of a context and a timer for every frame.
type corker struct {
	nc      net.Conn
	mu      sync.Mutex
	held    bool
	buf     []byte    // nil while nothing is held
	renewed time.Time // when the write deadline was last set
}

// send writes p to the socket; k.mu is held.
func (k *corker) send(p []byte) (int, error) {
	if now := time.Now(); now.Sub(k.renewed) > time.Second {
		k.nc.SetWriteDeadline(now.Add(WriteTimeout))
		k.renewed = now
	}
	return k.nc.Write(p)
}

func (k *corker) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held && len(k.buf)+len(p) <= corkLimit {
		k.buf = append(k.buf, p...)
		return len(p), nil
	}
	if k.buf == nil {
		return k.send(p)
	}
	k.buf = append(k.buf, p...)
	_, err := k.send(k.buf)
	k.buf = nil
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// holding says whether bytes are held.
func (k *corker) holding() bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buf != nil
}

// hold says whether the frames written next are held back.
func (k *corker) hold(on bool) {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.held = on
	k.mu.Unlock()
}

// release stops holding and sends what is held, within WriteTimeout.
func (k *corker) release() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.held = false
	if k.buf == nil {
		return
	}
	k.send(k.buf) // a failure shows in the next read or write
	k.buf = nil
}
