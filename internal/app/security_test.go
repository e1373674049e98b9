package app

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/signaling"
)

// secConfig is a test config without voice (not needed here).
func secConfig(t *testing.T) config.Config {
	cfg := testConfig(t, "")
	cfg.MediaAddr = "off"
	return cfg
}

// loginAs posts a login from origin with extra headers and returns the
// response (body read) and a client holding the cookie it set.
func loginAs(t *testing.T, base, origin, id, pw string, hdr http.Header) (*http.Response, *http.Client) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"id": id, "password": pw})
	req, _ := http.NewRequest("POST", base+"/api/login", bytes.NewReader(body))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, hc
}

// countingVerify counts password checks and passes them to auth.
type countingVerify struct {
	n      atomic.Int64
	mu     sync.Mutex
	hashes []string
}

func (c *countingVerify) verify(hash, pw string) (bool, error) {
	c.n.Add(1)
	c.mu.Lock()
	c.hashes = append(c.hashes, hash)
	c.mu.Unlock()
	return auth.VerifyPassword(hash, pw)
}

func TestLoginsBeyondTheHashBoundAreAnsweredBusyWithoutHashing(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var calls atomic.Int64
	a := start(t, secConfig(t), io.Discard, func(a *App) {
		a.edgeCfg = func(c *signaling.Config) {
			c.HashConcurrency, c.HashQueue = 1, -1 // one at a time, nobody waits
			c.VerifyPassword = func(hash, pw string) (bool, error) {
				calls.Add(1)
				entered <- struct{}{}
				<-release
				return auth.VerifyPassword(hash, pw)
			}
		}
	})
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	first := make(chan int, 1)
	go func() {
		resp, _ := loginAs(t, base, base, "alice", "pw-alice", nil)
		first <- resp.StatusCode
	}()
	<-entered // the first login holds the only hash slot
	var wg sync.WaitGroup
	codes := make(chan *http.Response, 2)
	for _, id := range []string{"bob", "alice"} {
		wg.Go(func() {
			resp, _ := loginAs(t, base, base, id, "whatever", nil)
			codes <- resp
		})
	}
	wg.Wait()
	close(codes)
	for resp := range codes {
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("a login beyond the bound: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d password checks, want 1: refused logins must not hash", n)
	}
	close(release)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("the login holding the slot: %d", code)
	}
}

func TestAnUnknownAccountCostsOneHashCheckLikeAKnownOne(t *testing.T) {
	cv := &countingVerify{}
	a := start(t, secConfig(t), io.Discard, func(a *App) {
		a.edgeCfg = func(c *signaling.Config) { c.VerifyPassword = cv.verify }
	})
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	if resp, _ := loginAs(t, base, base, "alice", "wrong", nil); resp.StatusCode != 401 {
		t.Fatalf("known account, wrong password: %d", resp.StatusCode)
	}
	if resp, _ := loginAs(t, base, base, "nobody-by-this-name", "wrong", nil); resp.StatusCode != 401 {
		t.Fatalf("unknown account: %d", resp.StatusCode)
	}
	if n := cv.n.Load(); n != 2 {
		t.Fatalf("%d password checks for one known and one unknown account, want 2", n)
	}
	// The dummy is a real hash of the same kind and cost.
	params := func(h string) string { return h[:strings.LastIndex(h[:strings.LastIndex(h, "$")], "$")] }
	if known, dummy := params(cv.hashes[0]), params(cv.hashes[1]); known != dummy || cv.hashes[0] == cv.hashes[1] {
		t.Fatalf("the unknown account was checked against %q, the known one against %q: want the same parameters", dummy, known)
	}
}

func TestFailedLoginsOfOneAccountBackOffWithoutHashing(t *testing.T) {
	cv := &countingVerify{}
	a := start(t, secConfig(t), io.Discard, func(a *App) {
		a.edgeCfg = func(c *signaling.Config) {
			c.VerifyPassword = cv.verify
			c.LoginFree, c.LoginBackoff, c.LoginBackoffMax = 3, time.Hour, 2*time.Hour // no test runs that long
		}
	})
	setPassword(t, a, "alice", "pw-alice")
	setPassword(t, a, "bob", "pw-bob")
	base := "http://" + a.Addr()
	for i := range 3 {
		if resp, _ := loginAs(t, base, base, "alice", "wrong", nil); resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("free failure %d: %d, Retry-After %q", i+1, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	resp, _ := loginAs(t, base, base, "alice", "wrong", nil)
	if resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "3600" {
		t.Fatalf("the failure past the free ones: %d, Retry-After %q; want 401 and 3600", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	before := cv.n.Load()
	resp, _ = loginAs(t, base, base, "alice", "pw-alice", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the right password during the backoff: %d, want 429 with Retry-After", resp.StatusCode)
	}
	if cv.n.Load() != before {
		t.Fatal("a login refused by the backoff checked the password")
	}
	if resp, _ := loginAs(t, base, base, "bob", "pw-bob", nil); resp.StatusCode != 200 {
		t.Fatalf("another account from the same address: %d", resp.StatusCode)
	}
}

func TestStaffLoginAndDeskAcceptOnlyTheServerAndStaffOrigins(t *testing.T) {
	cfg := secConfig(t)
	cfg.AllowedOrigins = []string{"https://shop.example.com"}
	cfg.StaffOrigins = []string{"https://admin.example.com"}
	a := start(t, cfg, io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	for _, tc := range []struct {
		name, origin string
		want         int
	}{
		{"an embedding site of the widget", "https://shop.example.com", 403},
		{"a staff origin over http (another scheme)", "http://admin.example.com", 403},
		{"the server's host over https (another scheme)", "https://" + a.Addr(), 403},
		{"no Origin at all", "", 403},
		{"a staff origin", "https://admin.example.com", 200},
		{"the server itself", base, 200},
	} {
		t.Run("login from "+tc.name, func(t *testing.T) {
			if resp, _ := loginAs(t, base, tc.origin, "alice", "pw-alice", nil); resp.StatusCode != tc.want {
				t.Fatalf("%d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	_, hc := loginAs(t, base, base, "alice", "pw-alice", nil)
	u, _ := url.Parse(base)
	cookie := hc.Jar.Cookies(u)[0]
	ws := strings.Replace(base, "http", "ws", 1) + "/ws"
	hdr := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Cookie": {cookie.Name + "=" + cookie.Value}}
	}
	if _, resp, err := dial(t, ws, hdr("https://shop.example.com")); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("the desk's socket from an embedding site: %v %v", resp, err)
	}
	c, _, err := dial(t, ws, hdr("https://admin.example.com"))
	if err != nil {
		t.Fatalf("the desk's socket from a staff origin: %v", err)
	}
	c.waitFor("hello", map[string]any{"role": "agent"})
	// The widget's calls keep to the embedding sites.
	if code, _ := postJSON(t, base+"/api/widget/session", "https://shop.example.com", map[string]any{"queue": "sales"}); code != 201 {
		t.Fatalf("a widget session from an embedding site: %d", code)
	}
	if code, _ := postJSON(t, base+"/api/widget/session", "http://shop.example.com", map[string]any{"queue": "sales"}); code != 403 {
		t.Fatalf("a widget session from the embedding site's host over http: %d", code)
	}
}

func TestAnHTTPSPublicURLMakesCookiesSecureAndSendsHSTS(t *testing.T) {
	t.Run("public_url https", func(t *testing.T) {
		cfg := secConfig(t)
		cfg.PublicURL = "https://contact.example.com"
		a := start(t, cfg, io.Discard)
		setPassword(t, a, "alice", "pw-alice")
		base := "http://" + a.Addr() // the TLS-terminating proxy's side
		resp, _ := loginAs(t, base, "https://contact.example.com", "alice", "pw-alice", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("login from the public origin: %d", resp.StatusCode)
		}
		if c := resp.Cookies(); len(c) != 1 || !c[0].Secure || !c[0].HttpOnly {
			t.Fatalf("session cookie %v: want Secure and HttpOnly", resp.Header.Values("Set-Cookie"))
		}
		if h := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
			t.Fatalf("Strict-Transport-Security %q", h)
		}
		r, err := http.Get(base + "/desk/")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.Header.Get("Strict-Transport-Security") == "" {
			t.Fatal("no HSTS on the desk page")
		}
		if resp, _ := loginAs(t, base, "http://contact.example.com", "alice", "pw-alice", nil); resp.StatusCode != 403 {
			t.Fatalf("login from the public host over http: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("no public_url, plain http", func(t *testing.T) {
		a := start(t, secConfig(t), io.Discard)
		setPassword(t, a, "alice", "pw-alice")
		base := "http://" + a.Addr()
		resp, _ := loginAs(t, base, base, "alice", "pw-alice", http.Header{"X-Forwarded-Proto": {"https"}})
		if c := resp.Cookies(); resp.StatusCode != 200 || len(c) != 1 || c[0].Secure {
			t.Fatalf("login: %d %v: want a cookie without Secure (X-Forwarded-Proto from an untrusted peer)", resp.StatusCode, resp.Header.Values("Set-Cookie"))
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Fatal("HSTS without an https public URL")
		}
	})
	t.Run("https said by a trusted proxy", func(t *testing.T) {
		cfg := secConfig(t)
		cfg.TrustedProxies = []string{"127.0.0.0/8"}
		a := start(t, cfg, io.Discard)
		setPassword(t, a, "alice", "pw-alice")
		base := "http://" + a.Addr()
		resp, _ := loginAs(t, base, "https://"+a.Addr(), "alice", "pw-alice", http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"198.51.100.4"}})
		if c := resp.Cookies(); resp.StatusCode != 200 || len(c) != 1 || !c[0].Secure {
			t.Fatalf("login through the proxy: %d %v: want a Secure cookie", resp.StatusCode, resp.Header.Values("Set-Cookie"))
		}
	})
}

func TestLogoutClosesEveryOpenSocketOfTheAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		cfg.MediaAddr = "off"
		logoutClosesSockets(t, cfg)
	})
}

func logoutClosesSockets(t *testing.T, cfg config.Config) {
	a := start(t, cfg, io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	setPassword(t, a, "bob", "pw-bob")
	base := "http://" + a.Addr()
	hc1 := login(t, base, "alice", "pw-alice")
	hc2 := login(t, base, "alice", "pw-alice") // a second device
	desk1, desk2 := desk(t, base, hc1), desk(t, base, hc2)
	bob, _ := staff(t, base, "bob", "pw-bob")

	req, _ := http.NewRequest("POST", base+"/api/logout", nil)
	if resp, err := hc1.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("logout without Origin: %v %v", resp, err)
	}
	req, _ = http.NewRequest("POST", base+"/api/logout", nil)
	req.Header.Set("Origin", base)
	resp, err := hc1.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("logout: %v %v", resp, err)
	}
	for i, d := range []*wsClient{desk1, desk2} {
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("desk %d still open after the logout", i+1)
		}
		if websocket.CloseStatus(d.err) != websocket.StatusPolicyViolation {
			t.Fatalf("desk %d closed with %v, want policy violation", i+1, d.err)
		}
	}
	bob.must("presence", map[string]any{"presence": "available"}) // other accounts keep theirs
	u, _ := url.Parse(base)
	hdr := http.Header{"Origin": {base}}
	for _, ck := range hc1.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	if _, resp, err := dial(t, strings.Replace(base, "http", "ws", 1)+"/ws", hdr); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("the logged-out session's socket: %v %v", resp, err)
	}
}

func TestSocketsArePerVisitorAndPerAddressBounded(t *testing.T) {
	cfg := secConfig(t)
	cfg.MaxSocketsPerVisitor = 2
	cfg.MaxConnsPerAddress = 3
	cfg.TrustedProxies = []string{"127.0.0.1"} // so the forwarded address is the one bounded
	a := start(t, cfg, io.Discard)
	base := "http://" + a.Addr()
	ws := strings.Replace(base, "http", "ws", 1) + "/ws?token="
	from := func(ip string) http.Header { return http.Header{"Origin": {base}, "X-Forwarded-For": {ip}} }

	_, token := visitorSession(t, base, "sales", "Ann")
	v1, _, err := dial(t, ws+url.QueryEscape(token), from("198.51.100.1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dial(t, ws+url.QueryEscape(token), from("198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := dial(t, ws+url.QueryEscape(token), from("198.51.100.2")); err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("a third socket of one visitor: %v %v", resp, err)
	}
	v1.close()
	testutil.Eventually(t, "a socket of the visitor to be free again", func() bool {
		c, _, err := dial(t, ws+url.QueryEscape(token), from("198.51.100.3"))
		if err == nil {
			c.close()
		}
		return err == nil
	})

	// Per address: 198.51.100.9 may hold 3, whatever the visitor.
	for i := range 3 {
		_, tok := visitorSession(t, base, "sales", "V")
		if _, _, err := dial(t, ws+url.QueryEscape(tok), from("198.51.100.9")); err != nil {
			t.Fatalf("socket %d from one address: %v", i+1, err)
		}
	}
	_, tok := visitorSession(t, base, "sales", "W")
	if _, resp, err := dial(t, ws+url.QueryEscape(tok), from("198.51.100.9")); err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("a fourth socket from one address: %v %v", resp, err)
	}
	if _, _, err := dial(t, ws+url.QueryEscape(tok), from("198.51.100.10")); err != nil {
		t.Fatalf("the same visitor from another address: %v", err)
	}
}

func TestConnectionsPerAddressAreBoundedAtAccept(t *testing.T) {
	cfg := secConfig(t)
	cfg.MaxConnsPerAddress = 2
	a := start(t, cfg, io.Discard)
	open := func() net.Conn {
		c, err := net.Dial("tcp", a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// get sends a request on c and says whether an answer came.
	get := func(c net.Conn) bool {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	c1, c2 := open(), open()
	if !get(c1) || !get(c2) {
		t.Fatal("the first two connections are not served")
	}
	if get(open()) {
		t.Fatal("a third connection from the address was served")
	}
	c1.Close()
	testutil.Eventually(t, "a connection to be accepted after one closed", func() bool { return get(open()) })
}

func TestServerTimeoutsCutSlowRequestsButNotWebSockets(t *testing.T) {
	cfg := secConfig(t)
	cfg.ReadTimeout, cfg.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	waitingQueue(&cfg) // the visitor waits with nobody logged in, and can write
	a := start(t, cfg, io.Discard)
	base := "http://" + a.Addr()
	_, token := visitorSession(t, base, "sales", "Ann")
	vis := visitor(t, base, token)
	// A request whose body never comes is cut by the read timeout.
	slow, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "POST /api/widget/session HTTP/1.1\r\nHost: "+a.Addr()+"\r\nOrigin: "+base+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	slow.SetReadDeadline(time.Now().Add(9 * time.Second)) // below ReadHeaderTimeout: only the read timeout can answer in time
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err == nil {
		resp.Body.Close()
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a request with a stalled body was not cut by the read timeout")
	}
	// The read and write timeouts have passed for the visitor's socket
	// too (it was opened before): it still works both ways.
	vis.must("send", map[string]any{"text": "still here"})
	vis.waitFor("message", map[string]any{"text": "still here"})
}

func TestNoDirectoryListingsAndNoTestFilesAreServed(t *testing.T) {
	a := start(t, secConfig(t), io.Discard)
	base := "http://" + a.Addr()
	for path, want := range map[string]int{
		"/shared/":                  404, // no index.html: no listing
		"/shared":                   404,
		"/shared/protocol.test.mjs": 404,
		"/shared/linkify.test.mjs":  404,
		"/shared/protocol.js":       200,
		"/desk/":                    200,
		"/widget.js":                200,
	} {
		if code, body := get(t, base+path); code != want || strings.Contains(body, "protocol.test.mjs") {
			t.Errorf("GET %s: %d, want %d (body %.80q)", path, code, want, body)
		}
	}
}

func TestMetricsOnTheirOwnAddressBehindATokenWithoutLogins(t *testing.T) {
	cfg := secConfig(t)
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.MetricsToken = "tok-123"
	a := start(t, cfg, io.Discard)
	if code, _ := get(t, "http://"+a.Addr()+"/metrics"); code != 404 {
		t.Fatalf("/metrics on http_addr with metrics_addr set: %d", code)
	}
	m := "http://" + a.MetricsAddr() + "/metrics"
	if code, _ := get(t, m); code != 401 {
		t.Fatalf("/metrics without the token: %d", code)
	}
	scrape := func(url string) string {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer tok-123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics with the token: %d", resp.StatusCode)
		}
		return string(b)
	}
	body := scrape(m)
	if !strings.Contains(body, "cc_queue_waiting") || strings.Contains(body, "cc_agent_") || strings.Contains(body, `agent="alice"`) {
		t.Fatalf("metrics: want queue series and no per-agent ones:\n%.2000s", body)
	}

	cfg = secConfig(t)
	cfg.MetricsPerAgent = true
	b := start(t, cfg, io.Discard)
	if _, body := get(t, "http://"+b.Addr()+"/metrics"); !strings.Contains(body, `cc_agent_state{agent="alice"`) {
		t.Fatal("metrics_per_agent: no cc_agent_state series")
	}
}

// signContext signs fields as docs/INTEGRATION.md tells an embedding site to.
func signContext(secret string, fields map[string]any) string {
	payload, _ := json.Marshal(fields)
	body := base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestSignedVisitorContextIsMarkedVerified(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-shop"
	cfg := secConfig(t)
	cfg.Sites = []config.Site{{Origin: "https://shop.example.com", Secret: secret}}
	a, base, alice, _ := chatWorld(t, cfg)
	_ = a
	future := time.Now().Add(time.Hour).Unix()
	session := func(name string, attrs map[string]string, signed string) {
		t.Helper()
		code, body := postJSON(t, base+"/api/widget/session", base, map[string]any{"queue": "sales", "name": name, "attributes": attrs, "signedContext": signed})
		if code != 201 {
			t.Fatalf("session %s: %d %s", name, code, body)
		}
		var out struct{ Token string }
		json.Unmarshal([]byte(body), &out)
		visitor(t, base, out.Token)
	}
	attrsOf := func(name string) map[string]any {
		t.Helper()
		o := alice.waitFor("offer", map[string]any{})
		for o["visitor"].(map[string]any)["name"] != name {
			o = alice.waitFor("offer", map[string]any{})
		}
		alice.must("park", map[string]any{"interaction": o["interaction"]}) // out of the way, not offered again
		return o["visitor"].(map[string]any)["attributes"].(map[string]any)
	}
	session("Signed", map[string]string{"account": "typed-by-page", "pageUrl": "https://shop.example.com/cart"},
		signContext(secret, map[string]any{"account": "A-123", "phone": "+4930123", "exp": future}))
	at := attrsOf("Signed")
	if at["account"] != "A-123" || at["phone"] != "+4930123" || at[signaling.VerifiedAttr] != "account,phone" || at["pageUrl"] == nil {
		t.Fatalf("signed context: %v", at)
	}
	for _, tc := range []struct{ name, signed string }{
		{"Forged", signContext("another-secret-another-secret-000", map[string]any{"account": "A-1", "exp": future})},
		{"Expired", signContext(secret, map[string]any{"account": "A-1", "exp": time.Now().Add(-time.Minute).Unix()})},
		{"NoExp", signContext(secret, map[string]any{"account": "A-1"})},
		{"Claimed", ""},
	} {
		session(tc.name, map[string]string{"account": "typed", signaling.VerifiedAttr: "account"}, tc.signed)
		at := attrsOf(tc.name)
		if at["account"] != "typed" || at[signaling.VerifiedAttr] != nil {
			t.Fatalf("%s: attributes %v: want the page's, unverified", tc.name, at)
		}
	}
}
