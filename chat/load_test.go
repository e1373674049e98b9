package chat

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
)

// A long conversation loaded from the store (a restart) costs its events,
// not its text: commands read the state, participants and last seq only,
// and a retried client id is still answered from the store.
func TestALongConversationIsLoadedWithoutItsText(t *testing.T) {
	const long = 20000
	st := newMemStore()
	now := time.Unix(1_800_000_000, 0).UTC()
	st.convs["c"] = store.Conversation{ID: "c", Interaction: "c", Queue: "sales", Status: store.ConvActive, CreatedAt: now, LastSeq: long}
	text := strings.Repeat("x", 4096)
	for seq := int64(1); seq <= long; seq++ {
		m := store.Message{Conversation: "c", Seq: seq, Sender: string(SenderVisitor), Kind: store.MsgText, Text: text, ClientID: fmt.Sprint("v", seq), CreatedAt: now}
		if seq == 7 {
			m.Text = "short enough to send again"
		}
		if seq == 2 {
			m = store.Message{Conversation: "c", Seq: seq, Sender: string(AgentSender("alice")), Kind: store.MsgEvent, Event: EvJoined, Data: map[string]string{"role": string(RoleOwner)}, CreatedAt: now}
		}
		st.msgs["c"] = append(st.msgs["c"], m)
	}
	s, _ := newService(t, st)
	ctx := t.Context()
	_, parts, err := s.Info(ctx, "c")
	if err != nil || parts[AgentSender("alice")] != RoleOwner || parts[SenderVisitor] != RoleVisitor {
		t.Fatalf("Info: %v %v", parts, err)
	}
	m, err := s.Hold(ctx, "c", "alice", true)
	if err != nil || m.Seq != long+1 {
		t.Fatalf("hold: seq %d, %v; want %d", m.Seq, err, long+1)
	}
	if _, err := s.Hold(ctx, "c", "alice", false); err != nil {
		t.Fatal(err)
	}
	// A client id sent before the restart is a repeat; a new one is new.
	again, dup, err := s.Send(ctx, "c", SenderVisitor, "v7", store.MsgText, "short enough to send again")
	if err != nil || !dup || again.Seq != 7 {
		t.Fatalf("a resend of a message stored before the load: seq %d dup=%v %v", again.Seq, dup, err)
	}
	fresh, dup, err := s.Send(ctx, "c", SenderVisitor, "new", store.MsgText, "hello")
	if err != nil || dup || fresh.Seq != long+3 {
		t.Fatalf("a new message: seq %d dup=%v %v; want %d", fresh.Seq, dup, err, long+3)
	}
	st.mu.Lock()
	lists, read := st.lists, st.read
	st.mu.Unlock()
	if lists != 0 || read > 10 {
		t.Fatalf("the commands read %d messages in %d ListMessages calls; want the events only (1), no text", read, lists)
	}
}
