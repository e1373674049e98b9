package signaling

import (
	"context"
	"sync"
	"testing"

	"github.com/contactd/contactd/internal/store"
)

// commandLog is a CommandLog in memory whose FinishCommand fails the
// first failFinish times.
type commandLog struct {
	mu         sync.Mutex
	rows       map[string]store.Command
	failFinish int
	finishes   int
}

func (l *commandLog) StartCommand(_ context.Context, c store.Command) (store.Command, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rows == nil {
		l.rows = map[string]store.Command{}
	}
	if r, ok := l.rows[c.Principal+"/"+c.ID]; ok {
		return r, false, nil
	}
	l.rows[c.Principal+"/"+c.ID] = c
	return c, true, nil
}

func (l *commandLog) FinishCommand(_ context.Context, principal, id string, reply []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.finishes++
	if l.failFinish > 0 {
		l.failFinish--
		return errBoom
	}
	r := l.rows[principal+"/"+id]
	if r.Reply == nil {
		r.Reply = reply
	}
	l.rows[principal+"/"+id] = r
	return nil
}

// A reply a resend after a restart could not get back (its store write
// failed) is not sent as the answer: the client is told to send the id
// again. A write that fails once and then lands is the ack.
func TestAnAcceptWhoseReplyIsNotStoredIsNotAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     int
		wantType string
		stored   bool
	}{
		{"the store keeps failing: unavailable, send again", 100, "error", false},
		{"the store fails once: the write is tried again and the accept acked", 1, "ack", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &commandLog{failFinish: tc.fail}
			e := newEdge(t, Config{Commands: log})
			c, _, err := e.dial(t, "ann", "")
			if err != nil {
				t.Fatal(err)
			}
			c.next("hello")
			c.sendRaw(`{"type":"accept","id":"a-1","interaction":"c9"}`)
			r := c.reply("a-1")
			if r["type"] != tc.wantType {
				t.Fatalf("accept answered %v, want %s", r, tc.wantType)
			}
			if tc.wantType == "error" && r["code"] != CodeUnavailable {
				t.Fatalf("accept answered %v, want unavailable", r)
			}
			log.mu.Lock()
			row := log.rows["agent:ann/a-1"]
			log.mu.Unlock()
			if (row.Reply != nil) != tc.stored {
				t.Fatalf("stored reply %q, want stored %v", row.Reply, tc.stored)
			}
			// A resend in this process answers what a resend after a
			// restart would: the stored reply, or a resumed run.
			c.sendRaw(`{"type":"accept","id":"a-1","interaction":"c9"}`)
			if again := c.reply("a-1"); tc.stored && again["type"] != "ack" {
				t.Fatalf("the resend answered %v, want the stored ack", again)
			}
		})
	}
}
