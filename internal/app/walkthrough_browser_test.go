package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/testutil"
)

// contrastAudit lists the visible text on the page (and the placeholders of
// its fields) whose contrast with its background is under WCAG AA: 4.5:1,
// or 3:1 for large text. Disabled controls are exempt, as WCAG allows;
// text over a gradient or an image is not judged.
const contrastAudit = `(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const blend = (t, b) => ({ r: t.r * t.a + b.r * (1 - t.a), g: t.g * t.a + b.g * (1 - t.a), b: t.b * t.a + b.b * (1 - t.a), a: 1 });
  const bgOf = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage !== 'none') return null;
      const c = parse(cs.backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const c of layers.reverse()) bg = blend(c, bg);
    return bg;
  };
  const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
  const bad = [];
  const judge = (el, color, what) => {
    const cs = getComputedStyle(el);
    let fg = parse(color);
    const bg = bgOf(el);
    if (!fg || !bg || fg.a === 0) return;
    let op = 1;
    for (let e = el; e; e = e.parentElement) op *= Number(getComputedStyle(e).opacity);
    fg = blend({ ...fg, a: fg.a * op }, bg);
    const size = parseFloat(cs.fontSize);
    const need = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700) ? 3 : 4.5;
    const r = ratio(fg, bg);
    if (r < need - 0.005) bad.push(what + ' ' + r.toFixed(2) + ':1');
  };
  for (const el of document.querySelectorAll('body *')) {
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) continue; // screen-reader text
    if (el.closest(':disabled, [aria-disabled="true"]')) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.classList.length ? '.' + [...el.classList].join('.') : '');
    if (own) judge(el, getComputedStyle(el).color, name + ' "' + el.textContent.trim().slice(0, 40) + '"');
    if ((el.matches('input, textarea')) && el.placeholder && !el.value) judge(el, getComputedStyle(el, '::placeholder').color, name + ' placeholder "' + el.placeholder.slice(0, 40) + '"');
  }
  return bad;
})()`

// smallFields lists the visible text fields whose font is under 16 px (iOS
// zooms into those).
const smallFields = `[...document.querySelectorAll('input:not([type=checkbox]):not([type=radio]), textarea, select')]
  .filter((e) => e.checkVisibility() && parseFloat(getComputedStyle(e).fontSize) < 16)
  .map((e) => (e.id || e.name || e.tagName) + ' ' + getComputedStyle(e).fontSize)`

// shoot saves a screenshot when CONTACTD_SHOTS names a folder (for people
// to look at; tests never compare pixels).
func (p *page) shoot(name string) {
	p.t.Helper()
	dir := os.Getenv("CONTACTD_SHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.who, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) noContrastFailures(screen string) {
	p.t.Helper()
	// Judge what people see once things stop moving (a card slides in).
	p.until("entrances to finish", `document.getAnimations().filter((a) => a.effect && a.effect.getTiming().iterations !== Infinity).every((a) => a.playState !== 'running')`)
	if v := p.js(contrastAudit); len(v.([]any)) != 0 {
		p.t.Errorf("%s, %s: text under WCAG AA contrast: %v", p.who, screen, v)
	}
}

// What a support team met in its first week, screen by screen: the offer
// card beside (never over) the conversation, A/D/Q in the reply box only
// with Alt, the texts a visitor reads while waiting, on hold and after a
// decline, distinct names for unnamed visitors, who ended a chat in the
// wrap-up, 16 px fields on a phone and AA contrast everywhere.
func TestWalkThroughTheDeskAndTheWidget(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()

	alice := newPage(t, browser, "alice")
	alice.do(chromedp.EmulateViewport(1440, 900), chromedp.Navigate(base+"/desk/"), chromedp.WaitVisible("#login-id"))
	alice.noContrastFailures("the sign-in")
	alice.loginDesk(base, "alice", "pw-alice")
	alice.noContrastFailures("the desk, empty")

	// The widget's own page, as the demo shop embeds it.
	shop := newPage(t, browser, "shop")
	shop.do(chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".contactd-launcher"), chromedp.Click(".contactd-launcher"))
	shop.until("the widget frame", `!!document.querySelector('iframe[src*="/widget/frame.html"]')`)
	frameURL := shop.js(`document.querySelector('iframe[src*="/widget/frame.html"]').src`).(string)

	visitor := func(who string) *page {
		v := newPage(t, browser, who)
		v.do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(frameURL), chromedp.WaitVisible("#name"))
		return v
	}

	// A phone: fields at 16 px; the start button names what it starts.
	v1 := visitor("visitor 1")
	if v := v1.js(smallFields); len(v.([]any)) != 0 {
		t.Errorf("fields under 16 px on a phone: %v", v)
	}
	v1.noContrastFailures("the widget's start")
	v1.js(`(() => { const r = document.querySelector('input[name=channel][value=voice]'); r.disabled = false; r.click(); return true; })()`)
	v1.until("the start button to say Start call", `document.querySelector('#start-btn').textContent.trim() === 'Start call'`)
	v1.js(`document.querySelector('input[name=channel][value=chat]').click()`)
	v1.until("the start button to say Start chat", `document.querySelector('#start-btn').textContent.trim() === 'Start chat'`)

	// A text chat, no name given: "Connecting you to an agent…".
	v1.do(chromedp.Click("#start-btn"))
	v1.until("the waiting screen", `getComputedStyle(document.querySelector('#waiting')).display !== 'none'`)
	v1.until("the text-chat wording", `document.querySelector('#waiting-title').textContent === 'Connecting you to an agent…'`)
	if v := v1.js(smallFields); len(v.([]any)) != 0 {
		t.Errorf("fields under 16 px on a phone while waiting: %v", v)
	}
	v1.noContrastFailures("the widget, waiting")
	v1.shoot("widget-waiting-375")

	alice.until("an incoming request", `document.querySelectorAll('#offers .offer').length === 1`)
	first := alice.js(`document.querySelector('#offers .offer-name').textContent`).(string)
	if !strings.HasPrefix(first, "Visitor ") || len(first) <= len("Visitor ") {
		t.Fatalf("an unnamed visitor is shown as %q, want Visitor and a short id", first)
	}
	alice.press("#offers .btn-ok")
	alice.until("the conversation", `document.querySelectorAll('#conv-list .conv-item').length === 1 && !document.querySelector('#conv').hidden`)
	v1.until("the agent", `getComputedStyle(document.querySelector('#agent-bar')).display !== 'none'`)

	// A second unnamed visitor: another label, and a card that does not
	// cover the open conversation's controls.
	v2 := visitor("visitor 2")
	v2.do(chromedp.Click("#start-btn"))
	alice.until("the second request", `document.querySelectorAll('#offers .offer').length === 1`)
	second := alice.js(`document.querySelector('#offers .offer-name').textContent`).(string)
	if !strings.HasPrefix(second, "Visitor ") || second == first {
		t.Fatalf("two unnamed visitors are %q and %q, want distinct labels", first, second)
	}
	covered := alice.js(`(() => {
	  const cards = [...document.querySelectorAll('#offers .offer')].map((c) => c.getBoundingClientRect());
	  const out = [];
	  for (const sel of ['#act-hold', '#act-transfer', '#act-end', '#act-info', '#input', '#send', '#note-toggle', '#canned-btn']) {
	    const e = document.querySelector(sel);
	    if (!e || !e.checkVisibility()) continue;
	    const r = e.getBoundingClientRect();
	    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
	    if (cards.some((c) => c.left < r.right && r.left < c.right && c.top < r.bottom && r.top < c.bottom) || !e.contains(hit)) out.push(sel);
	  }
	  return out;
	})()`)
	if len(covered.([]any)) != 0 {
		t.Errorf("the incoming-request card covers %v", covered)
	}
	alice.noContrastFailures("the desk with a conversation and a request")
	alice.shoot("desk-offer-and-conversation")

	// The visitor's socket is up (its place in line came over it), so the
	// word after a decline arrives live (a reload gets it again: see
	// TestADeclinedRequestLeavesTheDeclinersDeskAndTheVisitorKeepsTheWord).
	v2.until("a place in line", `document.querySelector('#position').textContent.includes('number')`)

	// In the reply box a plain D is typed; Alt+D declines.
	alice.do(chromedp.Focus("#input"), chromedp.KeyEvent("d"))
	alice.until("the letter typed", `document.querySelector('#input').value === 'd'`)
	if n := alice.js(`document.querySelectorAll('#offers .offer:not(.is-busy)').length`); n != 1.0 {
		t.Fatalf("a plain letter in the reply box acted on the request (%v cards left)", n)
	}
	alice.do(chromedp.KeyEvent("d", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	alice.until("the request declined", `document.querySelectorAll('#offers .offer:not(.is-leaving)').length === 0 || !!document.querySelector('#offers .offer.is-busy')`)
	if e := alice.js(`document.querySelector('#offers .offer-status')?.textContent || ''`); e != "" && e != "Declining…" {
		t.Fatalf("the decline failed on the desk: %v", e)
	}
	v2.until("a friendly word after the decline", `getComputedStyle(document.querySelector('#busy')).display !== 'none'`)
	if txt := v2.js(`document.querySelector('#busy').textContent`).(string); strings.Contains(txt, "_") || !strings.Contains(txt, "keep your place") {
		t.Errorf("after a decline the visitor reads %q", txt)
	}
	v2.noContrastFailures("the widget after a decline")
	v2.shoot("widget-after-decline-375")
	alice.js(`document.querySelector('#input').value = ''`)

	// Hold: the visitor may write; Send waits; the draft stays.
	alice.press("#act-hold")
	v1.until("Send disabled on hold", `document.querySelector('#send').disabled && !document.querySelector('#input').disabled`)
	v1.do(chromedp.SendKeys("#input", "a draft written on hold"), chromedp.KeyEvent("\r"))
	v1.until("the hint", `document.querySelector('#composer-hint').textContent.includes('on hold')`)
	if v := v1.js(`document.querySelector('#input').value.trim()`); v != "a draft written on hold" {
		t.Fatalf("the draft on hold became %q", v)
	}
	v1.noContrastFailures("the widget on hold")
	v1.shoot("widget-on-hold-375")
	alice.press("#act-hold")
	v1.until("Send enabled after resume", `!document.querySelector('#send').disabled`)
	v1.do(chromedp.Click("#send"))
	alice.until("the draft, sent", `document.querySelector('#transcript-wrap').textContent.includes('a draft written on hold')`)

	// The visitor ends: the wrap-up says who ended it.
	v1.press("#end-btn")
	v1.press(`#confirm-end button[value="end"]`)
	alice.until("the wrap-up", `!document.querySelector('#wrapup').hidden`)
	alice.until("who ended it", fmt.Sprintf(`document.querySelector('#wrapup-by').textContent === %q`, first+" ended the chat"))
	alice.noContrastFailures("the desk in wrap-up")
	alice.shoot("desk-wrapup")
	v1.until("the ended bar", `getComputedStyle(document.querySelector('#ended-bar')).display !== 'none'`)
	v1.noContrastFailures("the widget, ended")

	// Leaving a message instead of waiting.
	v2.press(`#waiting [data-action="leave"]`)
	v2.until("the form", `!document.querySelector('#view-leave').hidden`)
	if v := v2.js(smallFields); len(v.([]any)) != 0 {
		t.Errorf("fields under 16 px on a phone in the leave-a-message form: %v", v)
	}
	v2.noContrastFailures("the leave-a-message form")
	v2.shoot("widget-leave-message-375")
}

// A warm transfer as both agents and the visitor see it: the owner's reply
// box turns to a private note while the colleague is consulted, the
// visitor is told they are being transferred, and after the hand-over the
// new owner's banner and reply box are an owner's.
func TestWarmTransferInARealBrowser(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	setPassword(t, a, "bob", "pw-bob")
	base := "http://" + a.Addr()

	alice := newPage(t, browser, "alice")
	alice.do(chromedp.EmulateViewport(1440, 900))
	alice.loginDesk(base, "alice", "pw-alice")
	vis := newPage(t, browser, "visitor")
	vis.do(chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".contactd-launcher"), chromedp.Click(".contactd-launcher"))
	vis.until("the widget frame", `!!document.querySelector('iframe[src*="/widget/frame.html"]')`)
	frameURL := vis.js(`document.querySelector('iframe[src*="/widget/frame.html"]').src`).(string)

	// Parked, a visitor's wait goes on counting from when it began, not
	// from the park.
	ben := newPage(t, browser, "ben")
	ben.do(chromedp.Navigate(frameURL), chromedp.WaitVisible("#name"), chromedp.SendKeys("#name", "Ben"), chromedp.Click("#start-btn"))
	alice.until("Ben's request", `document.querySelector('#offers').textContent.includes('Ben')`)
	offerSeen := alice.js(`Date.now()`).(float64)
	alice.press("#offers .offer button:nth-child(3)")
	alice.until("Ben parked", `document.querySelector('#parked-list').textContent.includes('Ben')`)
	if since := alice.js(`Number(document.querySelector('#parked-list .parked-since').dataset.since)`).(float64); since >= offerSeen {
		t.Fatalf("the parked wait counts from %v, after the offer was seen (%v): the wait before the park is lost", since, offerSeen)
	}
	vis.do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(frameURL), chromedp.WaitVisible("#name"), chromedp.SendKeys("#name", "Ann"), chromedp.Click("#start-btn"))
	alice.until("the request", `document.querySelectorAll('#offers .offer').length === 1`)
	alice.press("#offers .btn-ok")
	alice.until("the conversation", `!document.querySelector('#conv').hidden`)
	vis.until("the agent", `getComputedStyle(document.querySelector('#agent-bar')).display !== 'none'`)

	bob := newPage(t, browser, "bob")
	bob.do(chromedp.EmulateViewport(1440, 900))
	bob.loginDesk(base, "bob", "pw-bob")

	alice.press("#act-transfer")
	alice.until("bob among the colleagues", `[...document.querySelectorAll('#transfer-agent option')].some(o => o.value === 'bob')`)
	alice.js(`(() => { const s = document.querySelector('#transfer-agent'); s.value = 'bob'; document.querySelector('input[name=mode][value=warm]').checked = true; return true; })()`)
	alice.press("#transfer-submit")
	alice.until("the reply box to default to a private note while the colleague is asked", `document.querySelector('#note').checked`)
	bob.until("the consultation request", `document.querySelector('#offers').textContent.includes('Ann')`)
	bob.press("#offers .btn-ok")
	bob.until("the consultant's banner", `document.querySelector('#conv-banner').textContent.includes('asked you to consult')`)
	alice.until("a private note, visibly", `document.querySelector('#note').checked && document.querySelector('#composer').classList.contains('is-note') && document.querySelector('#send').textContent.includes('Add note')`)
	vis.until("word of the transfer", `document.querySelector('#transcript').textContent.includes('You are being transferred')`)
	vis.shoot("widget-being-transferred-375")
	alice.shoot("desk-consulting")

	// A note to the colleague stays private.
	alice.do(chromedp.SendKeys("#input", "She wants a refund"), chromedp.Click("#send"))
	bob.until("the note", `document.querySelector('#transcript-wrap').textContent.includes('She wants a refund')`)

	alice.press("#act-complete")
	bob.until("the owner's banner gone", `!document.querySelector('#conv-banner').textContent.includes('consult')`)
	bob.until("an owner's reply box", `!document.querySelector('#note').checked && !document.querySelector('#note').disabled && !document.querySelector('#composer').classList.contains('is-note') && !document.querySelector('#act-end').hidden`)
	bob.until("an owner's details", `document.querySelector('#info .info-sub').textContent === 'Visitor'`)
	vis.until("the new agent", `document.querySelector('#agent-name').textContent.includes('Bob')`)
	bob.shoot("desk-after-handover")
	if strings.Contains(vis.js(`document.querySelector('#transcript').textContent`).(string), "She wants a refund") {
		t.Fatal("the visitor saw the private note")
	}
}
