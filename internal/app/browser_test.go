package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// page drives one browser tab for the test.
type page struct {
	t   *testing.T
	ctx context.Context
	who string
}

func newPage(t *testing.T, browser context.Context, who string) *page {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The tab lives as long as the context of its first Run: give it the
	// page's own, never one with a timeout.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("%s: opening a tab: %v", who, err)
	}
	return &page{t: t, ctx: ctx, who: who}
}

func (p *page) do(acts ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, acts...); err != nil {
		p.t.Fatalf("%s: %v\n%s", p.who, err, p.dump())
	}
}

// until waits for a JavaScript expression to be true.
func (p *page) until(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		p.t.Fatalf("%s: waiting for %s (%s): %v\n%s", p.who, what, expr, err, p.dump())
	}
}

func (p *page) js(expr string) any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.who, expr, err)
	}
	return v
}

func (p *page) dump() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	return "page text: " + v
}

// press clicks a control once it is shown and enabled, as a person would.
func (p *page) press(sel string) {
	p.t.Helper()
	p.until(sel+" to be ready", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.disabled && !e.hidden && e.getClientRects().length > 0; })()`, sel))
	p.do(chromedp.Click(sel))
}

// loginDesk logs an agent in on the desk and sets them Available.
func (p *page) loginDesk(base, id, pw string) {
	p.do(chromedp.Navigate(base+"/desk/"), chromedp.WaitVisible("#login-id"),
		chromedp.SendKeys("#login-id", id), chromedp.SendKeys("#login-password", pw), chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#desk"))
	p.js(`(() => { const s = document.querySelector('#presence'); s.value = 'available'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	p.until("the agent to be available", `document.querySelector('#state-text').textContent.toLowerCase().includes('available')`)
}

func TestInARealBrowser(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	setPassword(t, a, "bob", "pw-bob")
	base := "http://" + a.Addr()

	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	vis := newPage(t, browser, "visitor")
	alice.loginDesk(base, "alice", "pw-alice")
	bob.loginDesk(base, "bob", "pw-bob")

	// The demo shop embeds the widget with one script tag: its launcher
	// opens a frame with the widget.
	vis.do(chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".contactd-launcher"), chromedp.Click(".contactd-launcher"))
	vis.until("the widget frame", `!!document.querySelector('iframe[src*="/widget/frame.html"]')`)
	frameURL := vis.js(`document.querySelector('iframe[src*="/widget/frame.html"]').src`).(string)

	// The visitor side, in the widget's own page.
	vis.do(chromedp.Navigate(frameURL), chromedp.WaitVisible("#name"), chromedp.SendKeys("#name", "Ann"), chromedp.Click("#start-btn"))
	vis.until("routing progress", `getComputedStyle(document.querySelector('#waiting')).display !== 'none'`)

	// Alice gets the incoming request and accepts it.
	alice.until("an incoming request", `document.querySelector('#offers').textContent.includes('Ann')`)
	alice.press("#offers .btn-ok")
	alice.until("the conversation in the list", `document.querySelectorAll('#conv-list .conv-item').length === 1`)
	alice.js(`document.querySelector('#conv-list .conv-item').click()`)
	vis.until("the agent's name", `document.querySelector('#agent-name').textContent.includes('Alice')`)

	// Messages both ways.
	vis.do(chromedp.SendKeys("#input", "Hello, where is my parcel?"), chromedp.Click("#send"))
	alice.until("the visitor's message", `document.querySelector('#transcript-wrap').textContent.includes('Hello, where is my parcel?')`)
	alice.do(chromedp.SendKeys("#input", "Let me look: https://shop.example/track"), chromedp.Click("#send"))
	vis.until("the agent's reply", `document.querySelector('#transcript').textContent.includes('Let me look')`)
	vis.until("a clickable link", `[...document.querySelectorAll('#transcript a')].some(a => a.href === 'https://shop.example/track')`)

	// Hostile text is shown as text and runs nothing, on both sides.
	evils := []string{
		`<script>window.__pwned = 1</script>`,
		`<img src=x onerror="window.__pwned = 2">`,
		`"><svg onload="window.__pwned = 3">`,
		`javascript:window.__pwned=4`,
		`[click](javascript:window.__pwned=5) <b>bold</b> &lt;not an entity&gt;`,
	}
	for _, evil := range evils {
		vis.do(chromedp.SendKeys("#input", evil), chromedp.Click("#send"))
		alice.until("the literal text", fmt.Sprintf(`[...document.querySelectorAll('#transcript-wrap *')].some(e => e.childElementCount === 0 && e.textContent.includes(%q))`, evil))
		alice.do(chromedp.SendKeys("#input", "echo: "+evil), chromedp.Click("#send"))
		vis.until("the echoed text", fmt.Sprintf(`document.querySelector('#transcript').textContent.includes(%q)`, "echo: "+evil))
	}
	for _, p := range []*page{alice, vis} {
		if v := p.js(`JSON.stringify({pwned: window.__pwned ?? null, injected: document.querySelectorAll('#transcript-wrap img, #transcript-wrap svg, #transcript-wrap script, #transcript img, #transcript svg, #transcript script, a[href^="javascript"]').length})`); v != `{"pwned":null,"injected":0}` {
			t.Fatalf("%s: hostile text had an effect: %v", p.who, v)
		}
	}

	// Hold disables the visitor's Send; resume enables it again.
	alice.press("#act-hold")
	vis.until("Send disabled on hold", `document.querySelector('#send').disabled === true`)
	vis.until("the hold notice", `getComputedStyle(document.querySelector('#hold-banner')).display !== 'none'`)
	alice.until("the Resume button", `document.querySelector('#act-hold').textContent.includes('Resume')`)
	alice.press("#act-hold")
	vis.until("Send enabled after resume", `document.querySelector('#send').disabled === false`)

	// Transfer to bob.
	alice.press("#act-transfer")
	alice.do(chromedp.WaitVisible("#transfer-agent"))
	alice.until("bob among the colleagues", `[...document.querySelectorAll('#transfer-agent option')].some(o => o.value === 'bob')`)
	alice.js(`(() => { const s = document.querySelector('#transfer-agent'); s.value = 'bob'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	alice.press("#transfer-submit")
	bob.until("the transfer request", `document.querySelector('#offers').textContent.includes('Ann')`)
	bob.press("#offers .btn-ok")
	bob.until("the conversation", `document.querySelectorAll('#conv-list .conv-item').length === 1`)
	bob.js(`document.querySelector('#conv-list .conv-item').click()`)
	bob.until("the whole history", `document.querySelector('#transcript-wrap').textContent.includes('Hello, where is my parcel?')`)
	bob.do(chromedp.SendKeys("#input", "Bob here, I can help."), chromedp.Click("#send"))
	vis.until("bob's message", `document.querySelector('#transcript').textContent.includes('Bob here, I can help.')`)

	// Bob ends it.
	bob.press("#act-end")
	bob.press(`#end-dialog button[value="end"]`)
	vis.until("the chat to end", `getComputedStyle(document.querySelector('#ended-bar')).display !== 'none'`)

	// The store has the whole transcript.
	convs, err := a.Store().ListOpenConversations(t.Context())
	if err != nil || len(convs) != 0 {
		t.Fatalf("open conversations after the end: %v %v", convs, err)
	}
	evs, err := a.Store().ListEventsAfter(t.Context(), 0, 1000)
	if err != nil || len(evs) == 0 || evs[0].Type != routing.EvEntered && len(evs) < 2 {
		t.Fatalf("event log: %v %v", evs, err)
	}
	var conv store.ConversationID
	for _, ev := range evs {
		if ev.Type == routing.EvEntered {
			conv = store.ConversationID(ev.Interaction)
			break
		}
	}
	msgs, err := a.Store().ListMessages(t.Context(), conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range msgs {
		if m.Kind == store.MsgText {
			texts = append(texts, m.Text)
		}
	}
	want := []string{"Hello, where is my parcel?", "Let me look: https://shop.example/track"}
	for _, e := range evils {
		want = append(want, e, "echo: "+e)
	}
	want = append(want, "Bob here, I can help.")
	if got := strings.Join(texts, "|"); got != strings.Join(want, "|") {
		t.Fatalf("stored transcript of %s: %q", conv, got)
	}
}
