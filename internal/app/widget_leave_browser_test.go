package app

import (
	"io"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
)

// Out of hours, nobody logged in: the sample queues send the visitor to
// leave a message (no_agents: leave), the widget says why, and the thank-
// you stays, across a reload too.
func TestTheWidgetOffersToLeaveAMessageWhenNobodyIsLoggedIn(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	base := "http://" + a.Addr()

	vis := newPage(t, browser, "visitor")
	vis.do(chromedp.Navigate(base+"/widget/frame.html?queue=sales"), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "Zoe"), chromedp.Click("#start-btn"))
	vis.until("the leave-a-message form", `!document.querySelector('#view-leave').hidden && !document.querySelector('#leave-form').hidden`)
	vis.until("why", `document.querySelector('#leave-intro').textContent.includes('Nobody is available')`)
	vis.do(chromedp.SendKeys("#leave-email", "zoe@example.com"), chromedp.SendKeys("#leave-text", "Please call me back"))
	vis.press("#leave-submit")
	vis.until("the thank-you", `!document.querySelector('#leave-done').hidden && document.querySelector('#leave-form').hidden`)
	vis.do(chromedp.Reload(), chromedp.WaitReady("#leave-done"))
	vis.until("the thank-you after a reload", `!document.querySelector('#view-leave').hidden && !document.querySelector('#leave-done').hidden && document.querySelector('#leave-form').hidden`)

	left, err := a.Store().ListLeftMessages(t.Context(), store.LeftMessageFilter{OnlyOpen: true}, 10)
	if err != nil || len(left) != 1 || left[0].Text != "Please call me back" || left[0].Queue != "sales" {
		t.Fatalf("left messages %+v %v", left, err)
	}
}
