package app

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/internal/testutil/baresip"
)

// phoneHearsNoTone waits until the phone's recording, from sample from
// on, holds n blocks of 20 ms with sound (RMS at least 300) and checks
// that at most a few of them (in flight) hold hz.
func phoneHearsNoTone(t *testing.T, p *baresip.Phone, what string, from int, hz float64, n int) {
	t.Helper()
	var s []int16
	testutil.Eventually(t, what, func() bool {
		s = p.Heard()
		s = s[min(from, len(s)):]
		loud, _ := testutil.ToneBlocks(s, baresip.Rate, 160, hz, -1, 300)
		return loud >= n
	})
	if hits, blocks := testutil.ToneBlocks(s, baresip.Rate, 160, hz, 0.6, 300); hits > 3 {
		t.Fatalf("%s: %d of %d blocks hold %.0f Hz", what, hits, blocks, hz)
	}
}

// A phone caller (baresip) to an agent in headless Chromium on the real
// desk page, whose microphone plays a 1000 Hz tone: the agent accepts the
// call; the page's getStats shows the phone's audio arriving and the
// phone's recording holds the agent's tone. Hold: the page says so, the
// phone hears music and not the agent; Resume: the agent again. End: the
// page shows the wrap-up, baresip gets the BYE, the store the steps.
func TestABaresipCallerReachesAnAgentInARealBrowser(t *testing.T) {
	baresip.Available(t)
	mic := filepath.Join(t.TempDir(), "agent-mic.wav")
	if err := baresip.WriteTone(mic, agentHz, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	browser := testutil.BrowserWith(t, chromedp.Flag("use-file-for-fake-audio-capture", mic))
	a := start(t, sipConfig(t), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	alice := newPage(t, browser, "alice")
	alice.loginDesk(base, "alice", "pw-alice")

	phone := baresip.Start(t, baresip.Options{User: "+15557654321", Display: "Pat Caller", ToneHz: phoneHz})
	phone.Dial(fmt.Sprintf("sip:%s@%s", numEarly, sipAddr(t, a, "udp")))

	alice.until("an incoming call", `document.querySelector('#offers').textContent.includes('Incoming call')`)
	alice.shoot("desk-phone-offer")
	if txt := alice.js(`document.querySelector('#offers').textContent`).(string); !strings.Contains(txt, "Pat Caller") {
		t.Fatalf("the offer reads %q, want the caller's name", txt)
	}
	alice.press("#offers .btn-ok")
	alice.until("the conversation", `document.querySelectorAll('#conv-list .conv-item').length === 1`)
	alice.js(`document.querySelector('#conv-list .conv-item').click()`)
	alice.until("the call panel connected", `!document.querySelector('#call-panel').hidden && document.querySelector('#call-panel').classList.contains('is-connected')`)
	phone.WaitEvent(0, "CALL_ESTABLISHED", nil)
	open, err := a.Store().ListOpenConversations(t.Context())
	if err != nil || len(open) != 1 {
		t.Fatalf("open conversations: %v, %v", open, err)
	}
	conv := string(open[0].ID)
	stats := fmt.Sprintf(`window.contactdCallStats(%q)`, conv)

	// Audio both ways: bytes arriving in the page, the agent's tone in
	// the phone's recording.
	heard := len(phone.Heard())
	alice.inboundGrows("the phone's voice at the agent", stats)
	phoneHears(t, phone, "the phone hears the agent's 1000 Hz", heard, agentHz, 25)
	alice.shoot("desk-phone-call")
	alice.until("the caller's number in the context", `document.body.innerText.includes('+15557654321')`)

	// Hold: the page says so; the phone hears music, not the agent.
	alice.press("#act-hold")
	alice.until("the panel on hold", `document.querySelector('#call-panel').classList.contains('is-held')`)
	alice.until("the hold state's text", `document.querySelector('#call-state').textContent.includes('hold')`)
	phoneHearsNoTone(t, phone, "music, not the agent, on hold", len(phone.Heard())+8*160, agentHz, 50)
	alice.shoot("desk-phone-held")

	// Resume: the agent again, both ways.
	alice.press("#act-hold")
	alice.until("the panel resumed", `document.querySelector('#call-panel').classList.contains('is-connected')`)
	phoneHears(t, phone, "the agent again after resume", len(phone.Heard()), agentHz, 25)
	alice.inboundGrows("the phone again after resume", stats)

	// End: the wrap-up in the page, the BYE at the phone.
	mark := phone.Mark()
	alice.press("#act-end")
	alice.press(`#end-dialog button[value="end"]`)
	alice.until("the wrap-up", `!document.querySelector('#wrapup').hidden`)
	alice.until("the call panel gone", `document.querySelector('#call-panel').hidden`)
	if closed := phone.WaitEvent(mark, "CALL_CLOSED", nil); closed.Param != "Connection reset by peer" {
		t.Fatalf("baresip's call closed with %s, want the BYE's ECONNRESET", closed)
	}
	alice.shoot("desk-phone-wrapup")
	waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
	want := []string{chat.EvCallStarted, chat.EvJoined, chat.EvCallConnected, chat.EvHold, chat.EvResume, chat.EvCallEnded, chat.EvEnded}
	if evs := storedEvents(t, a, conv); !subsequence(evs, want) {
		t.Fatalf("stored events %v; want %v in this order", evs, want)
	}
	rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
	if err != nil || rec.Status != store.ConvEnded {
		t.Fatalf("the conversation: %+v, %v", rec, err)
	}
}
