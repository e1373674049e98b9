package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/internal/testutil"
)

// connPair serves one WebSocket the way serveWS does (small buffers, a
// conn, a reader goroutine) and returns the server's conn, the client, and
// the frames the server reads.
func connPair(t *testing.T) (*conn, *websocket.Conn, <-chan []byte) {
	t.Helper()
	ready := make(chan *conn, 1)
	frames := make(chan []byte, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := &upgrade{ResponseWriter: w}
		ws, err := websocket.Accept(up, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		if up.cork == nil {
			t.Error("no corker")
			return
		}
		up.cork.nc = &writes{Conn: up.cork.nc, pass: true}
		c := newConn(t.Context(), ws, up.cork, slog.New(slog.NewTextHandler(io.Discard, nil)), "127.0.0.1", 20, 40)
		c.linger = 20 * time.Millisecond
		go func() {
			defer c.ping.Stop()
			for {
				_, b, err := c.ws.Read(c.ctx)
				if err != nil {
					c.close(websocket.StatusNormalClosure, "", err)
					return
				}
				select {
				case frames <- b:
				default:
				}
			}
		}()
		ready <- c
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadLimit(1 << 20)
	t.Cleanup(func() { client.CloseNow() })
	c := <-ready
	t.Cleanup(func() { c.close(websocket.StatusGoingAway, "", errors.New("test over")) })
	return c, client, frames
}

func (c *conn) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cork.mu.Lock()
	defer c.cork.mu.Unlock()
	return !c.writing && !c.executing && c.outbox == nil && !c.cork.held && c.cork.buf == nil
}

func TestTheOutboxDeliversInOrderAndHoldsNothingOnceEmpty(t *testing.T) {
	c, client, _ := connPair(t)
	if !c.idle() {
		t.Fatal("a fresh connection has an outbox or a writer")
	}
	const n = 3 * OutboxSize // more than the bound, over time
	for round := range 3 {
		for i := range n / 3 {
			c.sendRaw(fmt.Appendf(nil, `{"n":%d}`, round*n/3+i))
		}
		for i := range n / 3 {
			_, b, err := client.Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"n":%d}`, round*n/3+i); string(b) != want {
				t.Fatalf("got %s, want %s", b, want)
			}
		}
		testutil.Eventually(t, "the writer ends and the outbox is released", c.idle)
	}
	if c.ctx.Err() != nil {
		t.Fatalf("closed: %v", context.Cause(c.ctx))
	}
}

func TestASlowConsumerGetsPolicyViolationAfterWhatIsOnTheWire(t *testing.T) {
	c, client, _ := connPair(t)
	// The client does not read: the socket buffers fill, the writer
	// blocks, the outbox grows to its bound and the connection is closed.
	frame := []byte(`{"type":"message","text":"` + strings.Repeat("x", 16<<10) + `"}`)
	sent := 0
	for c.ctx.Err() == nil && sent < 5000 { // 80 MB: far more than socket buffers hold
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			break
		}
		c.sendRaw(frame)
		sent++
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if !closing {
		t.Fatalf("%d frames queued and never closed", sent)
	}
	// Now it reads: whole frames, then the close frame with 1008.
	got := 0
	for {
		_, b, err := client.Read(t.Context())
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
				t.Fatalf("after %d frames: %v, want close status 1008", got, err)
			}
			break
		}
		if string(b) != string(frame) {
			t.Fatalf("frame %d damaged", got)
		}
		got++
	}
	if got >= sent {
		t.Fatalf("all %d frames arrived; the outbox was not bounded", sent)
	}
	<-c.ctx.Done()
	if !errors.Is(context.Cause(c.ctx), errSlowConsumer) {
		t.Fatalf("cause %v, want slow consumer", context.Cause(c.ctx))
	}
	testutil.Eventually(t, "the writer ends", c.idle)
}

func TestLargeFramesPassTheSmallBuffers(t *testing.T) {
	c, client, frames := connPair(t)
	big := []byte(`"` + strings.Repeat("y", 10*readBufferSize) + `"`)
	c.sendRaw(big)
	_, b, err := client.Read(t.Context())
	if err != nil || string(b) != string(big) {
		t.Fatalf("read %d bytes, %v; want %d", len(b), err, len(big))
	}
	// And the other way: the server reads a frame far larger than its
	// read buffer.
	if err := client.Write(t.Context(), websocket.MessageText, big); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-frames:
		if string(b) != string(big) {
			t.Fatalf("the server read %d bytes, want %d", len(b), len(big))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server read nothing")
	}
}

func TestCommandsRunInOrderOneAtATimeOnAGoroutineThatEnds(t *testing.T) {
	c, _, _ := connPair(t)
	var order []int
	running := 0
	for i := range 100 {
		if i == 50 {
			// Let the command goroutine end between two commands.
			testutil.Eventually(t, "the command goroutine ends", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return !c.executing
			})
		}
		c.exec(func() {
			running++ // the race detector catches two at once
			if running != 1 {
				t.Errorf("%d commands at once", running)
			}
			order = append(order, i)
			running--
		})
	}
	for i, n := range order {
		if n != i {
			t.Fatalf("command %d ran as %d", n, i)
		}
	}
	if len(order) != 100 {
		t.Fatalf("%d of 100 commands ran", len(order))
	}
}

// writes records what reaches the socket, one entry per system call, and
// passes it on when pass is set.
type writes struct {
	net.Conn
	pass  bool
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls = append(w.calls, string(p))
	w.mu.Unlock()
	if w.pass {
		return w.Conn.Write(p)
	}
	return len(p), nil
}

func (w *writes) SetWriteDeadline(t time.Time) error {
	if w.pass {
		return w.Conn.SetWriteDeadline(t)
	}
	return nil
}

func (w *writes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

func TestAVisitorsAnswerGoesOutWithWhatCameJustBefore(t *testing.T) {
	c, client, _ := connPair(t)
	sock := c.cork.nc.(*writes)
	before := sock.count()
	c.mu.Lock()
	c.maxHold = time.Hour // the answer comes when it comes, however loaded the machine
	c.mu.Unlock()
	answer := make(chan struct{})
	go c.exec(func() {
		c.sendRaw([]byte(`{"echo":1}`)) // the send's own message, at its commit
		<-answer
		c.sendRaw([]byte(`{"ack":1}`)) // then its answer
	})
	testutil.Eventually(t, "the echo is held for its answer", c.cork.holding)
	close(answer)
	for _, want := range []string{`{"echo":1}`, `{"ack":1}`} {
		_, b, err := client.Read(t.Context())
		if err != nil || string(b) != want {
			t.Fatalf("read %s %v, want %s", b, err, want)
		}
	}
	if n := sock.count() - before; n != 1 {
		t.Fatalf("%d system calls for a message and its answer, want 1", n)
	}
	// A command that never answers holds nothing back for good: the frame
	// arrives while the command is still running.
	c.mu.Lock()
	c.maxHold = maxHold
	c.mu.Unlock()
	done := make(chan struct{})
	defer close(done)
	go c.exec(func() {
		c.sendRaw([]byte(`{"echo":2}`))
		<-done
	})
	_, b, err := client.Read(t.Context())
	if err != nil || string(b) != `{"echo":2}` {
		t.Fatalf("read %s %v while the command still ran", b, err)
	}
}

func TestACorkerSendsWhatItHeldWithTheNextWrite(t *testing.T) {
	w := &writes{}
	k := &corker{nc: w}
	k.hold(true)
	k.Write([]byte("a"))
	k.Write([]byte("b"))
	k.hold(false)
	k.Write([]byte("c"))
	k.Write([]byte("d"))
	k.hold(true)
	big := strings.Repeat("x", corkLimit)
	k.Write([]byte("e"))
	k.Write([]byte(big)) // past the limit: out at once, with what was held
	k.Write([]byte("f"))
	k.release()
	k.release()
	want := []string{"abc", "d", "e" + big, "f"}
	if fmt.Sprint(w.calls) != fmt.Sprint(want) {
		t.Fatalf("system calls %q, want %q", w.calls, want)
	}
	if k.buf != nil || k.held {
		t.Fatal("the corker holds something after release")
	}
	var nilCork *corker
	nilCork.hold(true) // a connection without one
	nilCork.release()
}
