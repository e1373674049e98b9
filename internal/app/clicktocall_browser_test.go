package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/contactd/contactd/internal/testutil"
)

// widgetSession starts a chat session with context attributes and connects
// the visitor (over the protocol, from Go).
func widgetSession(t *testing.T, base, name string, attrs map[string]string) (string, *wsClient) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"queue": "sales", "name": name, "channel": "chat", "attributes": attrs})
	req, _ := http.NewRequest("POST", base+"/api/widget/session", bytes.NewReader(body))
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("widget session: %d %s", resp.StatusCode, b)
	}
	var out struct{ Conversation, Token string }
	json.Unmarshal(b, &out)
	return out.Conversation, visitor(t, base, out.Token)
}

func TestTheDesksCallPhoneButtonInARealBrowser(t *testing.T) {
	browser := testutil.Browser(t)
	uas := newTrunkUAS(t, "udp")
	a := start(t, c2cConfig(t, uas), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	alice := newPage(t, browser, "alice")
	alice.loginDesk(base, "alice", "pw-alice")

	// A visitor without a phone number: no Call phone button.
	_, bea := widgetSession(t, base, "Bea", map[string]string{"pageUrl": "https://shop.example/"})
	alice.until("Bea's offer", `document.querySelector('#offers').textContent.includes('Bea')`)
	alice.press("#offers .btn-ok")
	alice.until("Bea's conversation", `[...document.querySelectorAll('#conv-list .conv-item')].some((e) => e.textContent.includes('Bea'))`)
	alice.js(`[...document.querySelectorAll('#conv-list .conv-item')].find((e) => e.textContent.includes('Bea')).click()`)
	alice.until("Bea's actions", `!document.querySelector('#act-end').hidden && document.querySelector('#conv-title, .conv-title, header').textContent.length > 0`)
	if v := alice.js(`document.querySelector('#act-phone').hidden`); v != true {
		t.Fatal("Call phone is shown for a visitor without a phone number")
	}

	// A visitor with one: the button, the number prefilled (read-only for
	// an agent without dial_roles).
	conv, ann := widgetSession(t, base, "Ann Lee", map[string]string{"phone": "+1 555 765 4321", "account": "A-1042", "pageUrl": "https://shop.example/checkout"})
	alice.until("Ann's offer", `document.querySelector('#offers').textContent.includes('Ann Lee')`)
	alice.press("#offers .btn-ok")
	alice.until("Ann's conversation", `[...document.querySelectorAll('#conv-list .conv-item')].some((e) => e.textContent.includes('Ann Lee'))`)
	alice.js(`[...document.querySelectorAll('#conv-list .conv-item')].find((e) => e.textContent.includes('Ann Lee')).click()`)
	ann.must("send", map[string]any{"text": "Could you call me? It's about my order."})
	alice.until("Ann's text", `document.querySelector('#transcript-wrap').textContent.includes('about my order')`)
	alice.until("the offer gone", `!document.querySelector('#offers .offer')`)
	alice.press("#act-phone")
	alice.until("the number prefilled", `!document.querySelector('#phone-form').hidden && document.querySelector('#phone-number').value === '+1 555 765 4321' && document.querySelector('#phone-number').readOnly`)
	alice.shoot("c2c-1-form")

	// Ringing, then connected; audio arrives at the desk.
	uas.mode.Store(1)
	alice.press("#phone-dial")
	alice.until("ringing", `!document.querySelector('#call-panel').hidden && document.querySelector('#call-state').textContent.includes('Ringing') && document.querySelector('#call-state').textContent.includes('+1 555 765 4321')`)
	alice.until("the button hidden while a call is on", `document.querySelector('#act-phone').hidden && document.querySelector('#phone-form').hidden`)
	alice.shoot("c2c-2-ringing")
	close(uas.release)
	alice.until("connected", `document.querySelector('#call-panel').classList.contains('is-connected') && document.querySelector('#call-state').textContent.includes('On the phone with')`)
	alice.inboundGrows("the customer's voice at the desk", fmt.Sprintf(`window.contactdCallStats(%q)`, conv))
	uas.rtp.hears("the agent's voice at the phone", 0, 10)
	ann.must("send", map[string]any{"text": "I hear you, thanks!"})
	alice.until("the chat beside the call", `document.querySelector('#transcript-wrap').textContent.includes('I hear you, thanks!')`)
	alice.until("the call in the transcript", `document.querySelector('#transcript-wrap').textContent.includes('You called +15557654321')`)
	alice.shoot("c2c-3-connected")

	// The customer hangs up: the voice ends, the chat goes on.
	uas.hangUp(t, sipAddr(t, a, "udp").String())
	alice.until("the panel gone", `document.querySelector('#call-panel').hidden`)
	alice.until("the hang-up in the transcript", `document.querySelector('#transcript-wrap').textContent.includes('the customer hung up')`)
	alice.until("the button back", `!document.querySelector('#act-phone').hidden`)

	// Busy: a clear message.
	uas.mode.Store(486)
	alice.press("#act-phone")
	alice.press("#phone-dial")
	alice.until("busy told", `document.querySelector('#toasts').textContent.includes('The line is busy.') && getComputedStyle(document.querySelector('#toasts .toast')).opacity === '1'`)
	alice.until("busy in the transcript", `document.querySelector('#transcript-wrap').textContent.includes('the line was busy')`)
	alice.shoot("c2c-4-busy")
	_ = bea
}
