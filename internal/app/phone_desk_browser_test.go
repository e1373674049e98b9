package app

import (
	"io"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/testutil"
)

// overflow lists what reaches past the viewport's right edge (visible
// elements only) and whether the page scrolls sideways.
const overflow = `(() => {
  const out = [];
  const w = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > w) out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + w);
  for (const e of document.querySelectorAll('body *')) {
    if (!e.checkVisibility() || e.closest('[hidden]')) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    // Inside a box that scrolls or clips sideways, it is reachable.
    let clipped = false;
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      if (ox !== 'visible') { clipped = true; break; }
    }
    if (!clipped && (r.right > w + 1 || r.left < -1)) out.push((e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + [...e.classList].join('.')) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
  return out.slice(0, 20);
})()`

// The desk on a phone (375 px): nothing reaches past the screen's edge,
// the page does not scroll sideways, and fields are at least 16 px (no
// zoom on focus), signed in, with a conversation open and a request.
func TestTheDeskFitsAPhone(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	alice := newPage(t, browser, "alice")
	alice.do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile), chromedp.Navigate(base+"/desk/"), chromedp.WaitVisible("#login-id"))
	check := func(screen string) {
		t.Helper()
		alice.shoot("desk-375-" + screen)
		if v := alice.js(overflow); len(v.([]any)) != 0 {
			t.Errorf("%s at 375 px: %v", screen, v)
		}
		if v := alice.js(smallFields); len(v.([]any)) != 0 {
			t.Errorf("%s at 375 px: fields under 16 px: %v", screen, v)
		}
	}
	check("sign-in")
	alice.loginDesk(base, "alice", "pw-alice")
	check("empty")

	_, token := visitorSession(t, base, "sales", "Ann Example-Longname")
	vis := visitor(t, base, token)
	alice.until("an incoming request", `document.querySelectorAll('#offers .offer').length === 1`)
	check("request")
	alice.press("#offers .btn-ok")
	alice.until("the conversation", `document.querySelectorAll('#conv-list .conv-item').length === 1`)
	alice.js(`document.querySelector('#conv-list .conv-item').click()`)
	alice.until("the conversation open", `!document.querySelector('#conv').hidden`)
	vis.must("send", map[string]any{"text": "Hello, I have a question about https://shop.example.com/a/very/long/path/that/does/not/break/easily?with=query&and=more"})
	alice.until("the message", `document.querySelector('#transcript-wrap').textContent.includes('question')`)
	check("conversation")

	alice.js(`(() => { const s = document.querySelector('#presence'); s.value = 'away'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	alice.until("the away reason", `document.querySelector('#away-box').dataset.shown === 'true'`)
	check("away")
}
