package app

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
)

// Text that is not valid UTF-8 (raw bytes, or an escaped half of a
// surrogate pair, which encoding/json would turn into U+FFFD) is refused
// with invalid_text wherever text is stored, and nothing is stored.
func TestTextThatIsNotUTF8IsRefusedNeverStoredAltered(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, _ := chatWorld(t, cfg)
		conv, _, vis := connected(t, base, alice)
		id := store.ConversationID(conv)
		before, _ := a.Store().ListMessages(t.Context(), id, 0, 1000)
		bad := map[string]string{
			"a raw invalid byte":     "bad \xff byte",
			"a raw surrogate":        "\xed\xa0\x80",
			"an escaped lone half":   `\ud800`,
			"an escaped low half":    `x\udc00y`,
			"a truncated UTF-8 rune": "\xe2\x82",
		}
		for name, text := range bad {
			t.Run(name, func(t *testing.T) {
				for who, raw := range map[string]struct {
					c   *wsClient
					cmd string
				}{
					"visitor send":       {vis, `{"type":"send","id":"v-` + name + `","text":"` + text + `"}`},
					"agent send":         {alice, `{"type":"send","id":"a-` + name + `","conversation":"` + conv + `","text":"` + text + `"}`},
					"agent note":         {alice, `{"type":"send","id":"n-` + name + `","conversation":"` + conv + `","note":true,"text":"` + text + `"}`},
					"note of a transfer": {alice, `{"type":"transfer","id":"t-` + name + `","conversation":"` + conv + `","toAgent":"bob","mode":"blind","note":"` + text + `"}`},
				} {
					raw.c.sendRaw([]byte(raw.cmd))
					if e := raw.c.waitFor("error", nil); e["code"] != "invalid_text" {
						t.Fatalf("%s: %v, want invalid_text", who, e)
					}
				}
				code, body := postRaw(t, base+"/api/widget/leave-message", base, `{"queue":"sales","name":"Kim","email":"kim@example.com","text":"`+text+`"}`)
				if code != 400 || !strings.Contains(body, "invalid_text") {
					t.Fatalf("leave-message: %d %s", code, body)
				}
				code, body = postRaw(t, base+"/api/widget/session", base, `{"queue":"sales","name":"`+text+`"}`)
				if code != 400 || !strings.Contains(body, "invalid_text") {
					t.Fatalf("widget session: %d %s", code, body)
				}
			})
		}
		after, _ := a.Store().ListMessages(t.Context(), id, 0, 1000)
		if len(after) != len(before) {
			t.Fatalf("%d messages stored from invalid text: %+v", len(after)-len(before), after[len(before):])
		}
		if left, err := a.Store().ListLeftMessages(t.Context(), store.LeftMessageFilter{}, 10); err != nil || len(left) != 0 {
			t.Fatalf("left messages stored: %+v %v", left, err)
		}
		// The transfer did not happen either.
		if r := alice.do("send", map[string]any{"conversation": conv, "text": "still mine, é ok"}); r["type"] != "ack" {
			t.Fatalf("alice after the refused transfers: %v", r)
		}
	})
}

// The protocol's error codes, as docs/PROTOCOL.md says.
func TestTheDocumentedErrorCodes(t *testing.T) {
	a, base, alice, _ := chatWorld(t, testConfig(t, ""))
	conv, _, vis := connected(t, base, alice)

	if r := vis.do("explode", nil); r["code"] != "unknown_type" {
		t.Fatalf("an unknown type from a visitor: %v", r)
	}
	if r := alice.do("explode", map[string]any{"conversation": conv}); r["code"] != "unknown_type" {
		t.Fatalf("an unknown type from an agent: %v", r)
	}
	if r := alice.do("explode", nil); r["code"] != "unknown_type" {
		t.Fatalf("an unknown type without a conversation: %v", r)
	}
	if r := alice.do("call_decline", map[string]any{"conversation": conv}); r["code"] != "forbidden" {
		t.Fatalf("a visitor's command from an agent: %v", r)
	}

	if r := alice.do("unhold", map[string]any{"conversation": conv}); r["code"] != "wrong_state" {
		t.Fatalf("unhold when not on hold: %v", r)
	}
	alice.must("hold", map[string]any{"conversation": conv})
	if r := alice.do("hold", map[string]any{"conversation": conv}); r["code"] != "wrong_state" {
		t.Fatalf("hold when on hold: %v", r)
	}
	alice.must("unhold", map[string]any{"conversation": conv})

	if code, body := postJSON(t, base+"/api/widget/leave-message", base, map[string]any{"queue": "nowhere", "name": "Kim", "email": "kim@example.com", "text": "Call me back"}); code != 400 {
		t.Fatalf("leave-message to an unknown queue: %d %s", code, body)
	}
	if left, err := a.Store().ListLeftMessages(t.Context(), store.LeftMessageFilter{}, 10); err != nil || len(left) != 0 {
		t.Fatalf("left messages stored: %+v %v", left, err)
	}
}

// Logging out changes state: like every such call by staff it needs an
// allowed Origin, and a request without one is refused.
func TestLogoutNeedsAnAllowedOrigin(t *testing.T) {
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	hc := login(t, base, "alice", "pw-alice")
	logout := func(origin string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/logout", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	loggedIn := func() bool {
		t.Helper()
		resp, err := hc.Get(base + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	for _, origin := range []string{"", "https://evil.example", "null"} {
		if code := logout(origin); code != http.StatusForbidden {
			t.Fatalf("logout with Origin %q: %d, want 403", origin, code)
		}
		if !loggedIn() {
			t.Fatalf("logout with Origin %q ended the session", origin)
		}
	}
	if code := logout(base); code != http.StatusNoContent {
		t.Fatalf("logout from the desk: %d", code)
	}
	if loggedIn() {
		t.Fatal("still logged in after logging out")
	}
	u, _ := url.Parse(base)
	if len(hc.Jar.Cookies(u)) != 0 {
		t.Fatal("the session cookie was not cleared")
	}
}

// Private notes take a seq of the conversation's one sequence: a visitor
// sees a gap there, never the note, and synced and hello's lastSeq count
// it, so a visitor resuming from them asks for nothing it cannot get.
func TestAVisitorSeesTheSeqOfANoteAsAGap(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		_, base, alice, _ := chatWorld(t, cfg)
		conv, token, vis := connected(t, base, alice)
		first := alice.must("send", map[string]any{"conversation": conv, "text": "before"})["seq"].(float64)
		note := alice.must("send", map[string]any{"conversation": conv, "text": "VIP", "note": true})["seq"].(float64)
		next := alice.must("send", map[string]any{"conversation": conv, "text": "after"})["seq"].(float64)
		if note != first+1 || next != note+1 {
			t.Fatalf("seqs %v %v %v: one sequence, notes included", first, note, next)
		}
		vis.waitFor("message", map[string]any{"seq": next, "text": "after"})
		trailing := alice.must("send", map[string]any{"conversation": conv, "text": "last word", "note": true})["seq"].(float64)

		got := seqs(vis.all("message"), "")
		for _, s := range got {
			if s == int(note) || s == int(trailing) {
				t.Fatalf("the visitor got the note's seq %d: %v", s, got)
			}
		}
		// Reconnecting: hello counts the trailing note, and a resume from 0
		// gives the same messages, then synced counting the note.
		vis.close()
		vis = visitor(t, base, token)
		if h := vis.all("hello")[0]; h["lastSeq"].(float64) != trailing {
			t.Fatalf("hello %v, want lastSeq %v", h, trailing)
		}
		vis.must("resume", map[string]any{"after": 0})
		synced := vis.waitFor("synced", nil)["conversations"].(map[string]any)[conv].(float64)
		if synced != trailing {
			t.Fatalf("synced %v, want %v (the note counted)", synced, trailing)
		}
		var want []int
		for s := 1; s <= int(next); s++ {
			if s != int(note) {
				want = append(want, s)
			}
		}
		if again := seqs(vis.all("message"), ""); fmt.Sprint(again) != fmt.Sprint(want) {
			t.Fatalf("replayed %v, want %v: every seq but the notes'", again, want)
		}
	})
}

// postRaw posts body as it is, bytes the JSON encoder would not write
// included.
func postRaw(t *testing.T, u, origin, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("Origin", origin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
