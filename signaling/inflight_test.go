package signaling

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// A desk that reconnects resends what it had not heard back about, while
// the first run on the old socket may still be under way: the resend gets
// the first run's answer and acts on nothing (it ran twice before).
func TestAnIDSentAgainWhileItsFirstRunIsUnderWayAnswersTheFirstResult(t *testing.T) {
	e := newEdge(t, Config{})
	entered, release := make(chan struct{}, 4), make(chan struct{})
	e.f.do = func(cmd routing.Command) error {
		if _, ok := cmd.(routing.Decline); ok {
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	first, _, err := e.dial(t, "ann", "")
	if err != nil {
		t.Fatal(err)
	}
	first.next("hello")
	second, _, err := e.dial(t, "ann", "")
	if err != nil {
		t.Fatal(err)
	}
	second.next("hello")
	e.f.reset()
	cmd, _ := json.Marshal(map[string]any{"type": "decline", "id": "d-1", "interaction": "x"})
	first.sendRaw(string(cmd))
	<-entered // the first run is inside routing
	second.sendRaw(string(cmd))
	// Release the first run once the resend waits for it, or (the old
	// code) ran into routing a second time.
	testutil.Eventually(t, "the resend waits for the first run or runs again", func() bool {
		e.s.hub.mu.Lock()
		defer e.s.hub.mu.Unlock()
		return len(entered) > 0 || e.s.hub.replies["agent:ann"].byID["d-1"].waiting > 0
	})
	close(release)
	a, b := first.reply("d-1"), second.reply("d-1")
	if a["type"] != "ack" || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("first run answered %v, the resend %v; want the same ack", a, b)
	}
	declines := 0
	for _, c := range e.f.acted() {
		if c == "Do" {
			declines++
		}
	}
	if declines != 1 {
		t.Fatalf("routing was asked %d times for one decline id, want once (%v)", declines, e.f.acted())
	}
	select {
	case <-entered:
		t.Fatal("the resend ran the decline a second time")
	default:
	}
}

func TestATransferThatRoutingRefusesStoresNoNoteAndKeepsTheNoteUnderWay(t *testing.T) {
	e := newEdge(t, Config{})
	e.f.info = roomWithConsult
	var clientIDs []string
	e.f.send = func(id store.ConversationID, _ chat.Sender, clientID, _, _ string) (store.Message, error) {
		clientIDs = append(clientIDs, clientID)
		return store.Message{Conversation: id, Seq: 1}, nil
	}
	refuse := false
	e.f.do = func(cmd routing.Command) error {
		if _, ok := cmd.(routing.Transfer); ok && refuse {
			return &routing.Error{Code: routing.CodeUnknownAgent, Msg: "unknown agent zed"}
		}
		return nil
	}
	c, _, err := e.dial(t, "ann", "")
	if err != nil {
		t.Fatal(err)
	}
	c.next("hello")
	transfer := func(id, to, note string) map[string]any {
		b, _ := json.Marshal(map[string]any{"type": "transfer", "id": id, "conversation": "c1", "toAgent": to, "mode": "warm", "note": note})
		c.sendRaw(string(b))
		return c.reply(id)
	}
	long := strings.Repeat("i", 64) // a valid id: its note's id must stay within 64 bytes too
	if r := transfer(long, "bob", "VIP customer"); r["type"] != "ack" {
		t.Fatalf("transfer: %v", r)
	}
	if len(clientIDs) != 1 || len(clientIDs[0]) > 64 {
		t.Fatalf("note stored under client ids %q, want one of at most 64 bytes", clientIDs)
	}
	refuse = true
	e.f.reset()
	if r := transfer("t-2", "zed", "replaced?"); r["code"] != CodeNotFound {
		t.Fatalf("transfer to an unknown agent: %v, want not_found", r)
	}
	for _, a := range e.f.acted() {
		if a == "Send" {
			t.Fatalf("a refused transfer stored its note (%v)", e.f.acted())
		}
	}
	e.s.hub.mu.Lock()
	note := e.s.hub.notes["c1"]
	e.s.hub.mu.Unlock()
	if note != "VIP customer" {
		t.Fatalf("the note of the transfer under way is now %q", note)
	}
}

func TestAVisitorsCommandIDsAreForgottenOnceTheVisitorHasLeft(t *testing.T) {
	e := newEdge(t, Config{VisitorGrace: time.Millisecond})
	e.f.info = roomWithConsult
	v, _, err := e.dial(t, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	v.next("hello")
	v.sendRaw(`{"type":"send","id":"m-1","text":"hello"}`)
	if r := v.reply("m-1"); r["type"] != "ack" {
		t.Fatalf("send: %v", r)
	}
	e.s.hub.mu.Lock()
	_, kept := e.s.hub.replies["visitor:c1"]
	e.s.hub.mu.Unlock()
	if !kept {
		t.Fatal("the send's id is not bound while the visitor is there")
	}
	v.ws.CloseNow()
	testutil.Eventually(t, "the visitor has left", func() bool {
		for _, a := range e.f.acted() {
			if a == "VisitorLeft" {
				return true
			}
		}
		return false
	})
	e.s.hub.mu.Lock()
	_, kept = e.s.hub.replies["visitor:c1"]
	e.s.hub.mu.Unlock()
	if kept {
		t.Fatal("the ids of a visitor who left are kept for the life of the process")
	}
}
