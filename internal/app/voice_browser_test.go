package app

import (
	"fmt"
	"io"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
)

// inboundGrows waits until the page's call has received audio, then until
// it receives more: media flows now, not only once.
func (p *page) inboundGrows(what, statsExpr string) {
	p.t.Helper()
	p.js(fmt.Sprintf(`(() => { clearInterval(window.__statsTimer); window.__in = 0;
		window.__statsTimer = setInterval(async () => { const s = await (%s); window.__in = s ? s.inBytes : 0; }, 100); return true; })()`, statsExpr))
	p.until(what+": audio arriving", `window.__in > 2000`)
	before := p.js(`window.__in`).(float64)
	p.until(what+": more audio arriving", fmt.Sprintf(`window.__in > %f + 4000`, before))
}

func TestVoiceInARealBrowser(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()

	alice := newPage(t, browser, "alice")
	vis := newPage(t, browser, "visitor")
	alice.loginDesk(base, "alice", "pw-alice")

	// The visitor chooses Voice: the fake microphone answers the prompt.
	vis.do(chromedp.Navigate(base+"/widget/frame.html?queue=sales"), chromedp.WaitVisible("#name"), chromedp.SendKeys("#name", "Vic"))
	vis.until("Voice to be offered", `document.querySelector('#voice-choice input').disabled === false`)
	vis.do(chromedp.Click(`#voice-choice input`), chromedp.Click("#start-btn"))
	vis.until("routing progress", `getComputedStyle(document.querySelector('#waiting')).display !== 'none'`)
	vis.until("the call waiting", `!document.querySelector('#call-bar').hidden && document.querySelector('#call-bar').classList.contains('is-waiting')`)
	vis.inboundGrows("ringback while waiting", `window.contactdCallStats()`)

	// Alice gets an incoming call and accepts; her desk opens its leg.
	alice.until("an incoming call", `document.querySelector('#offers').textContent.includes('Incoming call') && document.querySelector('#offers').textContent.includes('Vic')`)
	alice.press("#offers .btn-ok")
	alice.until("the conversation", `document.querySelectorAll('#conv-list .conv-item').length === 1`)
	alice.js(`document.querySelector('#conv-list .conv-item').click()`)
	alice.until("the call panel connected", `!document.querySelector('#call-panel').hidden && document.querySelector('#call-panel').classList.contains('is-connected')`)
	vis.until("the visitor connected", `document.querySelector('#call-bar').classList.contains('is-connected')`)
	conv := vis.js(`JSON.parse(localStorage.getItem('contactd.widget.v1.sales')).conversation`).(string)
	alice.inboundGrows("the visitor's voice at the agent", fmt.Sprintf(`window.contactdCallStats(%q)`, conv))
	vis.inboundGrows("the agent's voice at the visitor", `window.contactdCallStats()`)

	// Text beside the call.
	vis.do(chromedp.SendKeys("#input", "Can you hear me?"), chromedp.Click("#send"))
	alice.until("the visitor's text", `document.querySelector('#transcript-wrap').textContent.includes('Can you hear me?')`)

	// Hold: the visitor is told, cannot send, and hears music.
	alice.press("#act-hold")
	vis.until("the call on hold", `document.querySelector('#call-bar').classList.contains('is-held')`)
	vis.until("Send disabled on hold", `document.querySelector('#send').disabled === true`)
	alice.until("the panel on hold", `document.querySelector('#call-panel').classList.contains('is-held')`)
	vis.inboundGrows("music on hold", `window.contactdCallStats()`)
	alice.press("#act-hold")
	vis.until("the call resumed", `document.querySelector('#call-bar').classList.contains('is-connected')`)
	alice.until("the panel resumed", `document.querySelector('#call-panel').classList.contains('is-connected')`)
	alice.inboundGrows("the visitor again after resume", fmt.Sprintf(`window.contactdCallStats(%q)`, conv))

	// Alice ends: the call and the conversation end on both sides.
	alice.press("#act-end")
	alice.press(`#end-dialog button[value="end"]`)
	vis.until("the chat to end", `getComputedStyle(document.querySelector('#ended-bar')).display !== 'none'`)
	vis.until("the call bar gone", `document.querySelector('#call-bar').hidden`)
	alice.until("the call panel gone", `document.querySelector('#call-panel').hidden`)

	// The store has the call's steps in the conversation's log.
	msgs, err := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, m := range msgs {
		if m.Kind == store.MsgEvent {
			evs = append(evs, m.Event)
		}
	}
	want := []string{chat.EvCallStarted, chat.EvJoined, chat.EvCallConnected, chat.EvHold, chat.EvResume, chat.EvCallEnded, chat.EvEnded}
	if !subsequence(evs, want) {
		t.Fatalf("stored events %v; want %v in this order", evs, want)
	}
	rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
	if err != nil || rec.Status != store.ConvEnded {
		t.Fatalf("conversation %+v, %v", rec, err)
	}
}

// subsequence reports whether want appears in got in order (other items between).
func subsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
