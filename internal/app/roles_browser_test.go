package app

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/testutil"
)

// An administrator (and supervisor) without the agent role logs in on the
// desk: it says so, offers no presence, and the server refuses what an
// agent would send.
func TestADeskWithoutTheAgentRoleTakesNoChats(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "admin", "pw-admin")
	base := "http://" + a.Addr()

	p := newPage(t, browser, "admin")
	p.do(chromedp.Navigate(base+"/desk/"), chromedp.WaitVisible("#login-id"),
		chromedp.SendKeys("#login-id", "admin"), chromedp.SendKeys("#login-password", "pw-admin"), chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#desk"))
	p.until("the notice that the account takes no chats", `document.body.textContent.includes('no agent role')`)
	p.until("the presence control to be disabled", `document.querySelector('#presence').disabled`)

	// The server refuses agent commands from this account, whatever the page does.
	hc := login(t, base, "admin", "pw-admin")
	hdr := http.Header{"Origin": {base}}
	u, _ := url.Parse(base)
	for _, ck := range hc.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	d, _, err := dial(t, strings.Replace(base, "http", "ws", 1)+"/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	d.waitFor("hello", map[string]any{"role": "staff"})
	if r := d.do("presence", map[string]any{"presence": "available"}); r["code"] != "forbidden" {
		t.Fatalf("an administrator setting presence: %v", r)
	}
}
