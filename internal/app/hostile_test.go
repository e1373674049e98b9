package app

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/signaling"
)

func TestBadInputGetsAClearErrorAndChangesNothing(t *testing.T) {
	a, base, alice, bob := chatWorld(t, testConfig(t, ""))
	conv, token, vis := connected(t, base, alice)
	other, _ := visitorSession(t, base, "sales", "Eve")
	before, _ := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 1000)

	for _, tc := range []struct {
		name, raw, code string
	}{
		{"malformed JSON", `{"type":"send","id":"x1","text":`, "bad_request"},
		{"a JSON array", `[1,2,3]`, "bad_request"},
		{"no type", `{"id":"x2"}`, "bad_request"},
		{"no id", `{"type":"send","text":"hi"}`, "bad_request"},
		{"an unknown type", `{"type":"explode","id":"x3"}`, "unknown_type"},
		{"a field of the wrong type", `{"type":"send","id":"x4","text":42}`, "bad_request"},
		{"a missing field", `{"type":"send","id":"x5"}`, "bad_request"},
		{"an agent command from a visitor", `{"type":"accept","id":"x6","interaction":"` + conv + `"}`, "forbidden"},
		{"another conversation named by a visitor", `{"type":"send","id":"x7","conversation":"` + other + `","text":"hi"}`, "forbidden"},
		{"invalid UTF-8 escaped in JSON", `{"type":"send","id":"x8","text":"a\u0000b"}`, "invalid_text"},
		{"an oversized text", `{"type":"send","id":"x9","text":"` + strings.Repeat("a", 9000) + `"}`, "too_long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vis.sendRaw([]byte(tc.raw))
			e := vis.waitFor("error", nil)
			if e["code"] != tc.code {
				t.Fatalf("got %v, want code %s", e, tc.code)
			}
		})
	}
	// An agent acting on a conversation they are not in.
	for _, cmd := range []map[string]any{
		{"type": "send", "conversation": conv, "text": "hi"},
		{"type": "hold", "conversation": conv},
		{"type": "end", "conversation": conv},
		{"type": "transfer", "conversation": conv, "toAgent": "alice"},
		{"type": "history", "conversation": conv, "after": 0},
	} {
		typ := cmd["type"].(string)
		delete(cmd, "type")
		if r := bob.do(typ, cmd); r["code"] != "forbidden" {
			t.Fatalf("bob %s on alice's conversation: %v", typ, r)
		}
	}
	if r := bob.do("accept", map[string]any{"interaction": conv}); r["code"] != "already_accepted" {
		t.Fatalf("bob accepting alice's conversation: %v", r)
	}
	after, _ := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 1000)
	if len(after) != len(before) {
		t.Fatalf("bad input stored %d messages", len(after)-len(before))
	}
	// The connection survived all of it.
	vis.must("send", map[string]any{"text": "still here"})

	t.Run("an oversized frame closes the connection as too big", func(t *testing.T) {
		v := visitor(t, base, token)
		v.sendRaw([]byte(`{"type":"send","id":"big","text":"` + strings.Repeat("a", 70<<10) + `"}`))
		<-v.done
		if websocket.CloseStatus(v.err) != websocket.StatusMessageTooBig {
			t.Fatalf("close after an oversized frame: %v", v.err)
		}
	})
	t.Run("a flood is rate limited", func(t *testing.T) {
		limited := false
		for i := 0; i < 60 && !limited; i++ {
			vis.sendRaw([]byte(`{"type":"typing","on":true}`))
		}
		for range 10 {
			if vis.do("send", map[string]any{"text": "flood"})["code"] == "rate_limited" {
				limited = true
				break
			}
		}
		if !limited {
			t.Fatal("70 commands in a burst were never rate limited")
		}
	})
	t.Run("a wrong token or origin is refused before the upgrade", func(t *testing.T) {
		ws := strings.Replace(base, "http", "ws", 1) + "/ws"
		if _, resp, err := dial(t, ws+"?token=forged.token.value", http.Header{"Origin": {base}}); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("forged token: %v %v", resp, err)
		}
		if _, resp, err := dial(t, ws+"?token="+token, http.Header{"Origin": {"https://evil.example"}}); err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("foreign origin: %v %v", resp, err)
		}
		if _, resp, err := dial(t, ws, http.Header{"Origin": {base}}); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("no credentials: %v %v", resp, err)
		}
		if code, _ := postJSON(t, base+"/api/widget/session", "https://evil.example", map[string]any{"queue": "sales"}); code != 403 {
			t.Fatalf("widget session from a foreign origin: %d", code)
		}
		if code, _ := postJSON(t, base+"/api/widget/session", base, map[string]any{"queue": "nope"}); code != 400 {
			t.Fatalf("widget session for an unknown queue: %d", code)
		}
		if code, _ := postJSON(t, base+"/api/login", base, map[string]any{"id": "alice", "password": "wrong"}); code != 401 {
			t.Fatalf("wrong password: %d", code)
		}
	})
}

func TestNaughtyStringsTravelByteExact(t *testing.T) {
	raw, err := os.ReadFile("testdata/blns.json")
	if err != nil {
		t.Fatal(err)
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err != nil {
		t.Fatal(err)
	}
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, _ := chatWorld(t, cfg, func(a *App) {
			a.edgeCfg = func(c *signaling.Config) { c.ConnRate, c.ConnBurst = 1e6, 1e6 }
		})
		conv, _, vis := connected(t, base, alice)
		sent := map[int64]string{}
		for _, s := range strs {
			if strings.TrimSpace(s) == "" {
				continue // empty messages are refused by design
			}
			r := vis.do("send", map[string]any{"text": s})
			if r["type"] != "ack" {
				t.Fatalf("send %q: %v", s, r)
			}
			sent[int64(r["result"].(map[string]any)["seq"].(float64))] = s
		}
		msgs, err := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, m := range msgs {
			if want, ok := sent[m.Seq]; ok {
				stored++
				if m.Text != want {
					t.Fatalf("seq %d stored as %q, sent %q", m.Seq, m.Text, want)
				}
			}
		}
		if stored != len(sent) {
			t.Fatalf("%d of %d stored", stored, len(sent))
		}
		for seq, want := range sent {
			got := alice.waitFor("message", map[string]any{"seq": seq})
			if got["text"] != want {
				t.Fatalf("seq %d delivered as %q, sent %q", seq, got["text"], want)
			}
			alice.seen = 0
		}
	})
}

func TestASlowConsumerIsClosedAndCanResume(t *testing.T) {
	_, base, alice, _ := chatWorld(t, testConfig(t, ""), func(a *App) {
		a.edgeCfg = func(c *signaling.Config) { c.ConnRate, c.ConnBurst, c.IPRate, c.IPBurst = 1e9, 1e9, 1e9, 1e9 }
	})
	conv, token, vis := connected(t, base, alice)
	vis.close()
	// A visitor that reads slowly, through a small receive buffer: the
	// server's writes to it block after a few hundred frames, whatever the
	// machine's speed (loopback buffers otherwise hold megabytes).
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: small.DialContext}}
	slow, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws?token="+token,
		&websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Origin": {base}}, Subprotocols: []string{"cc.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	// The agent sends it eight typing notices for each one it reads, until
	// the server gives up on it: its outbox fills once the socket buffers
	// are full. (A fixed ratio, not a reading speed, so that it holds on a
	// fast machine and a busy one, with or without the race detector.)
	frame := []byte(`{"type":"typing","conversation":"` + conv + `","on":true}`)
	for round := 0; ; round++ {
		if round == 10000 {
			t.Fatal("the slow consumer was never closed")
		}
		for range 8 {
			alice.sendRaw(frame)
		}
		// A reply means the server has handled the eight notices.
		alice.must("history", map[string]any{"conversation": conv, "after": 1 << 40})
		_, _, err := slow.Read(ctx)
		if err == nil {
			continue
		}
		if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
			t.Fatalf("closed after %d rounds with %v, want policy violation (1008)", round, err)
		}
		// It reconnects and resumes with nothing lost.
		vis = visitor(t, base, token)
		vis.must("resume", map[string]any{"after": 0})
		vis.waitFor("synced", nil)
		if len(vis.all("message")) == 0 {
			t.Fatal("nothing replayed after the reconnect")
		}
		return
	}
}
