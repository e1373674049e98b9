package app

import (
	"io"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/testutil"
)

// An agent who declines: the request leaves that desk (and stays gone
// while a colleague is offered it), the visitor reads the friendly word,
// and reads it again after reloading the page while still waiting.
func TestADeclinedRequestLeavesTheDeclinersDeskAndTheVisitorKeepsTheWord(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	setPassword(t, a, "bob", "pw-bob")
	base := "http://" + a.Addr()
	alice := newPage(t, browser, "alice")
	alice.loginDesk(base, "alice", "pw-alice")
	bob := newPage(t, browser, "bob")
	bob.loginDesk(base, "bob", "pw-bob")

	vis := newPage(t, browser, "visitor")
	q := url.Values{"queue": {"sales"}, "lang": {"en"}, "ctx": {`{"pageUrl":"https://shop.example.com/cart"}`}}
	vis.do(chromedp.Navigate(base+"/widget/frame.html?"+q.Encode()), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "Dora"), chromedp.Click("#start-btn"))
	vis.until("a place in line", `document.querySelector('#position').textContent.includes('number')`)

	const offered = `document.querySelectorAll('#offers .offer:not(.is-leaving)').length`
	var decliner, other *page
	testutil.Eventually(t, "the request offered to one of the two", func() bool {
		switch {
		case alice.js(offered) == 1.0:
			decliner, other = alice, bob
		case bob.js(offered) == 1.0:
			decliner, other = bob, alice
		}
		return decliner != nil
	})
	decliner.press(`#offers .offer .offer-actions button:nth-child(2)`) // Decline
	other.until("the request offered to the colleague", offered+` === 1`)
	decliner.until("the declined request gone from the desk", `document.querySelectorAll('#offers .offer').length === 0`)
	if n := decliner.js(`document.querySelectorAll('#offers .offer').length`); n != 0.0 {
		t.Fatalf("the decliner's desk shows %v requests while the colleague is offered it", n)
	}
	vis.until("the friendly word after the decline", `getComputedStyle(document.querySelector('#busy')).display !== 'none'`)
	vis.do(chromedp.Reload())
	vis.until("a place in line after the reload", `document.querySelector('#position').textContent.includes('number')`)
	vis.until("the friendly word again after the reload", `getComputedStyle(document.querySelector('#busy')).display !== 'none'`)
}
