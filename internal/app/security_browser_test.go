package app

import (
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/testutil"
)

// The desk marks each context field: verified when the site signed it,
// unverified when it only came from the page.
func TestTheDeskMarksVisitorContextVerifiedOrUnverified(t *testing.T) {
	browser := testutil.Browser(t)
	const secret = "0123456789abcdef0123456789abcdef-shop"
	cfg := secConfig(t)
	cfg.Sites = []config.Site{{Origin: "https://shop.example.com", Secret: secret}}
	a := start(t, cfg, io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()

	alice := newPage(t, browser, "alice")
	vis := newPage(t, browser, "visitor")
	alice.loginDesk(base, "alice", "pw-alice")

	// The widget's frame as widget.js opens it for a page with
	// data-account and data-signed-context.
	signed := signContext(secret, map[string]any{"account": "A-123", "exp": time.Now().Add(time.Hour).Unix()})
	q := url.Values{"queue": {"sales"}, "lang": {"en"}, "ctx": {`{"pageUrl":"https://shop.example.com/cart","location":"Berlin","account":"typed"}`}, "sctx": {signed}}
	vis.do(chromedp.Navigate(base+"/widget/frame.html?"+q.Encode()), chromedp.WaitVisible("#name"), chromedp.SendKeys("#name", "Ann"), chromedp.Click("#start-btn"))

	alice.until("an incoming request", `document.querySelector('#offers').textContent.includes('Ann')`)
	alice.press("#offers .btn-ok")
	alice.until("the conversation in the list", `document.querySelectorAll('#conv-list .conv-item').length === 1`)
	alice.js(`document.querySelector('#conv-list .conv-item').click()`)
	alice.until("the visitor details", `!!document.querySelector('#info [data-ctx="account"]')`)
	got := alice.js(`JSON.stringify(Object.fromEntries([...document.querySelectorAll('#info [data-ctx]')].map(d => [d.dataset.ctx, d.textContent])))`).(string)
	for _, c := range []struct{ key, sel string }{
		{"account", `#info [data-ctx="account"] .ctx-verified`},
		{"pageUrl", `#info [data-ctx="pageUrl"] .ctx-unverified`},
		{"location", `#info [data-ctx="location"] .ctx-unverified`},
	} {
		if alice.js(`!!document.querySelector('`+c.sel+`')`) != true {
			t.Errorf("%s: no %s mark; details %s", c.key, c.sel, got)
		}
	}
	if alice.js(`document.querySelector('#info [data-ctx="account"]').textContent.includes('A-123')`) != true {
		t.Errorf("the account shown is not the signed one: %s", got)
	}
	if alice.js(`!!document.querySelector('#info [data-ctx="_verified"]')`) != false {
		t.Errorf("the _verified list is shown as a field: %s", got)
	}
}
