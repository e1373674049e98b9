package app

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
)

// trunkUAS is the provider in the click-to-call tests: a sipgo UAS on
// 127.0.0.1:0 (UDP) that challenges every INVITE with 407, checks the
// digest of the retry, then answers as mode says (183 with SDP then 200,
// or a final error), with the customer's phone's RTP behind it.
type trunkUAS struct {
	t       *testing.T
	ua      *sipgo.UserAgent
	cli     *sipgo.Client
	addr    string
	tr      string       // udp or tcp
	mode    atomic.Int32 // a final status; 200 answers
	invites atomic.Int32 // INVITEs received (the challenged one included)
	rtp     *rtpPeer
	mu      sync.Mutex
	inv     *sip.Request // the authorised INVITE
	tag     string
	badAuth []string
	acks    chan struct{}
	byes    chan struct{}
	release chan struct{} // mode 1: rings until this is closed, then answers
}

const trunkUser, trunkPass, trunkRealm, trunkNonce = "c2c-account", "trunk-secret-1", "carrier.test", "n0nce42"

func newTrunkUAS(t *testing.T, transport string) *trunkUAS {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("trunk"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	u := &trunkUAS{t: t, ua: ua, cli: cli, tr: transport, rtp: newRTPPeer(t),
		acks: make(chan struct{}, 4), byes: make(chan struct{}, 4), release: make(chan struct{})}
	u.mode.Store(200)
	srv.OnInvite(u.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { u.acks <- struct{}{} })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		u.byes <- struct{}{}
	})
	var closer io.Closer
	if transport == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u.addr, closer = ln.Addr().String(), ln
		go srv.ServeTCP(ln)
	} else {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u.addr, closer = pc.LocalAddr().String(), pc
		go srv.ServeUDP(pc)
	}
	t.Cleanup(func() { u.rtp.close(); ua.Close(); closer.Close() })
	return u
}

var digestField = regexp.MustCompile(`(\w+)="?([^",]*)"?`)

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

func (u *trunkUAS) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.invites.Add(1)
	h := req.GetHeader("Proxy-Authorization")
	if h == nil {
		res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
		res.AppendHeader(sip.NewHeader("Proxy-Authenticate", `Digest realm="`+trunkRealm+`", nonce="`+trunkNonce+`", algorithm=MD5`))
		tx.Respond(res)
		return
	}
	f := map[string]string{}
	for _, m := range digestField.FindAllStringSubmatch(h.Value(), -1) {
		f[m[1]] = m[2]
	}
	want := md5hex(md5hex(trunkUser+":"+trunkRealm+":"+trunkPass) + ":" + trunkNonce + ":" + md5hex("INVITE:"+f["uri"]))
	if f["username"] != trunkUser || f["response"] != want {
		u.mu.Lock()
		u.badAuth = append(u.badAuth, h.Value())
		u.mu.Unlock()
		tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	tag := sip.GenerateTagN(8)
	u.mu.Lock()
	u.inv, u.tag = req, tag
	u.mu.Unlock()
	if u.mode.Load() == 0 {
		// Rings and rings: only a CANCEL ends it (487 from the
		// transaction layer).
		res := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
		res.To().Params.Add("tag", tag)
		tx.Respond(res)
		<-tx.Done() // the handler's return would end the transaction
		return
	}
	if code := int(u.mode.Load()); code >= 300 {
		res := sip.NewResponseFromRequest(req, code, "", nil)
		res.To().Params.Add("tag", tag)
		tx.Respond(res)
		return
	}
	answer := u.rtp.offer("sendrecv")
	codes := []int{180, 183, 200}
	if u.mode.Load() == 1 {
		res := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
		res.To().Params.Add("tag", tag)
		tx.Respond(res)
		select {
		case <-u.release:
		case <-tx.Done():
			return
		}
		codes = codes[1:]
	}
	for _, code := range codes {
		var body []byte
		if code != 180 {
			body = []byte(answer)
		}
		res := sip.NewResponseFromRequest(req, code, "", body)
		res.To().Params.Add("tag", tag)
		contact := sip.Uri{Scheme: "sip", User: "customer", Host: "127.0.0.1", Port: netPort(u.addr), UriParams: sip.NewParams()}
		if u.tr == "tcp" {
			contact.UriParams.Add("transport", "tcp")
		}
		res.AppendHeader(&sip.ContactHeader{Address: contact})
		if body != nil {
			res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		}
		tx.Respond(res)
		if code == 183 {
			// Early media: the customer's phone sends before the answer.
			u.rtp.send(string(req.Body()), 0xA1)
		}
	}
}

func netPort(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}

// hangUp: the customer hangs up (BYE to the edge, within the dialog).
func (u *trunkUAS) hangUp(t *testing.T, to string) {
	t.Helper()
	u.mu.Lock()
	inv, tag := u.inv, u.tag
	u.mu.Unlock()
	target := inv.Contact().Address
	bye := sip.NewRequest(sip.BYE, target)
	from := inv.To().AsFrom()
	from.Params = sip.NewParams()
	from.Params.Add("tag", tag)
	toH := inv.From().AsTo()
	cid := inv.CallID()
	bye.AppendHeader(&from)
	bye.AppendHeader(&toH)
	bye.AppendHeader(cid)
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
	bye.SetTransport(strings.ToUpper(u.tr))
	bye.SetDestination(to)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := u.cli.Do(ctx, bye)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the customer's BYE: %v %v", res, err)
	}
}

// c2cConfig: SIP on, a trunk with outbound settings at the UAS, +1555
// allowed, a caller ID.
func c2cConfig(t *testing.T, uas *trunkUAS) config.Config {
	cfg := sipConfig(t)
	cfg.Trunks[0].Host = "127.0.0.1"
	cfg.Trunks[0].OutboundProxy = uas.addr
	cfg.Trunks[0].Transport = uas.tr
	cfg.Trunks[0].Username, cfg.Trunks[0].Password = trunkUser, trunkPass
	cfg.DialAllow = []string{"+1555", "+1"}
	cfg.DialCallerID = "+15550100"
	cfg.DialCallerName = "Acme Support"
	cfg.DialRingTimeout = 10 * time.Second
	return cfg
}

// chatWithPhone: a visitor whose context has phone, in a chat alice took.
func chatWithPhone(t *testing.T, base string, alice *wsClient, phone string) (string, *wsClient) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"queue": "sales", "name": "Ann", "channel": "chat", "attributes": map[string]string{"phone": phone}})
	req, _ := http.NewRequest("POST", base+"/api/widget/session", bytes.NewReader(body))
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("widget session: %d %s", resp.StatusCode, b)
	}
	var out struct{ Conversation, Token string }
	json.Unmarshal(b, &out)
	vis := visitor(t, base, out.Token)
	alice.waitFor("offer", map[string]any{"conversation": out.Conversation})
	alice.must("accept", map[string]any{"interaction": out.Conversation})
	alice.waitFor("assigned", map[string]any{"conversation": out.Conversation})
	return out.Conversation, vis
}

func events(t *testing.T, a *App, conv, name string) []store.Message {
	t.Helper()
	msgs, err := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Message
	for _, m := range msgs {
		if m.Kind == store.MsgEvent && m.Event == name {
			out = append(out, m)
		}
	}
	return out
}

func TestClickToCallReachesTheCustomersPhone(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run("over "+tr, func(t *testing.T) { clickToCall(t, tr) })
	}
}

func clickToCall(t *testing.T, tr string) {
	uas := newTrunkUAS(t, tr)
	a, base, alice := sipWorld(t, c2cConfig(t, uas))
	edge := sipAddr(t, a, tr).String()

	// Answered: 407 answered with the trunk's credentials, early media,
	// 200, audio both ways with payloads unchanged; the chat goes on.
	conv, vis := chatWithPhone(t, base, alice, "+1 555 765-4321")
	first := alice.doID("c2c-1", "call_phone", map[string]any{"conversation": conv})
	if first["type"] != "ack" || first["result"].(map[string]any)["number"] != "+15557654321" {
		t.Fatalf("call_phone: %v", first)
	}
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	ear := joinCall(t, alice, conv, 0xB2)
	alice.waitFor("phone", map[string]any{"conversation": conv, "state": "connected"})
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
	select {
	case <-uas.acks:
	case <-time.After(10 * time.Second):
		t.Fatal("no ACK for the 200")
	}
	// The same command id again: the first reply, and no second call.
	if again := alice.doID("c2c-1", "call_phone", map[string]any{"conversation": conv}); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("call_phone sent again: %v, want the first reply %v", again, first)
	}
	if n := uas.invites.Load(); n != 2 {
		t.Fatalf("%d INVITEs, want the challenged one and its retry", n)
	}
	uas.mu.Lock()
	inv, bad := uas.inv, uas.badAuth
	uas.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad digest: %v", bad)
	}
	if inv.Recipient.User != "+15557654321" || inv.From().Address.User != "+15550100" || inv.From().DisplayName != "Acme Support" {
		t.Fatalf("INVITE to %s from %s", inv.Recipient.String(), inv.From().Value())
	}
	if pai := inv.GetHeader("P-Asserted-Identity"); pai == nil || !bytes.Contains([]byte(pai.Value()), []byte("sip:+15550100@")) {
		t.Fatalf("P-Asserted-Identity: %v", pai)
	}
	ear.hears("the agent hears the customer, payloads unchanged", 0xA1, 25)
	uas.rtp.hears("the customer hears the agent, payloads unchanged", 0xB2, 25)
	vis.must("send", map[string]any{"text": "still here in the chat"})
	alice.waitFor("message", map[string]any{"conversation": conv, "text": "still here in the chat"})
	// The visitor's widget is told nothing of the call (it would open a
	// leg of its own), and may not offer one.
	if r := vis.do("call_offer", map[string]any{"sdp": "v=0"}); r["type"] != "error" {
		t.Fatalf("the visitor offered beside the phone: %v", r)
	}

	// The customer hangs up: the voice ends, the chat goes on.
	uas.hangUp(t, edge)
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended"})
	alice.waitFor("phone", map[string]any{"conversation": conv, "state": "ended", "text": "The customer hung up; the chat goes on."})
	waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
	rec, _ := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
	if rec.Status == store.ConvEnded {
		t.Fatal("the customer's BYE ended the chat")
	}
	vis.must("send", map[string]any{"text": "after the call"})
	alice.waitFor("message", map[string]any{"conversation": conv, "text": "after the call"})
	if ev := events(t, a, conv, "phone_dialled"); len(ev) != 1 || ev[0].Data["number"] != "+15557654321" {
		t.Fatalf("phone_dialled: %v", ev)
	}
	waitUntil(t, "phone_call_ended recorded", func() bool {
		ev := events(t, a, conv, "phone_call_ended")
		return len(ev) == 1 && ev[0].Data["outcome"] == "answered" && ev[0].Data["cause"] == "phone_hung_up" && ev[0].Data["seconds"] != ""
	})

	// Busy: the agent is told, the conversation records it, the chat goes on.
	uas.mode.Store(486)
	alice.must("call_phone", map[string]any{"conversation": conv})
	m := alice.waitFor("phone", map[string]any{"conversation": conv, "state": "failed"})
	if m["outcome"] != "busy" || m["code"] != float64(486) {
		t.Fatalf("busy: %v", m)
	}
	waitUntil(t, "busy recorded", func() bool {
		ev := events(t, a, conv, "phone_call_ended")
		return len(ev) == 2 && ev[1].Data["outcome"] == "busy" && ev[1].Data["code"] == "486"
	})
	uas.mode.Store(403)
	alice.must("call_phone", map[string]any{"conversation": conv})
	m = alice.waitFor("phone", map[string]any{"conversation": conv, "state": "failed", "outcome": "forbidden"})
	if m["code"] != float64(403) {
		t.Fatalf("403: %v", m)
	}

	// End ends both: the phone gets a BYE and the conversation ends.
	uas.mode.Store(200)
	alice.must("call_phone", map[string]any{"conversation": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	joinCall(t, alice, conv, 0xB2)
	alice.waitFor("phone", map[string]any{"conversation": conv, "state": "connected"})
	alice.must("end", map[string]any{"conversation": conv})
	select {
	case <-uas.byes:
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE after the agent ended")
	}
	waitUntil(t, "the conversation ended", func() bool {
		rec, _ := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
		return rec.Status == store.ConvEnded
	})
	waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
	waitUntil(t, "the metrics", func() bool {
		n := metricValues(t, a)
		return n["cc_sip_calls_active/outbound"] == 0 && n["cc_sip_requests_sent_total/INVITE/2xx"] == 2 &&
			n["cc_sip_requests_sent_total/INVITE/4xx"] == 2
	})
}

func TestClickToCallRefusesBeforeAnyInvite(t *testing.T) {
	uas := newTrunkUAS(t, "udp")
	cfg := c2cConfig(t, uas)
	cfg.DialAllow = []string{"+1"}
	a, base, alice := sipWorld(t, cfg)
	_ = a
	for _, c := range []struct{ name, phone, typed, code string }{
		{"outside the allowlist", "+442079460000", "", "forbidden"},
		{"premium rate", "+19005551234", "", "forbidden"},
		{"CR LF in the number", "+1555\r\nX-Evil: 1", "", "bad_request"},
		{"letters", "call me maybe", "", "bad_request"},
		{"no phone in context", "", "", "bad_request"},
		{"a typed number without a dialling role", "+15557654321", "+15557654322", "forbidden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conv, _ := chatWithPhone(t, base, alice, c.phone)
			f := map[string]any{"conversation": conv}
			if c.typed != "" {
				f["number"] = c.typed
			}
			r := alice.do("call_phone", f)
			if r["type"] != "error" || r["code"] != c.code {
				t.Fatalf("call_phone: %v, want %s", r, c.code)
			}
			alice.must("end", map[string]any{"conversation": conv})
			alice.must("wrapup_done", map[string]any{"conversation": conv})
		})
	}
	if n := uas.invites.Load(); n != 0 {
		t.Fatalf("%d INVITEs sent for refused numbers", n)
	}
}

func TestClickToCallNoAnswerNotFoundAndATypedNumber(t *testing.T) {
	uas := newTrunkUAS(t, "udp")
	cfg := c2cConfig(t, uas)
	cfg.DialRingTimeout = time.Second // the setting under test
	cfg.DialRoles = []string{"agent"} // alice may type a number
	cfg.DialCountryCode = "1"
	a, base, alice := sipWorld(t, cfg)
	conv, _ := chatWithPhone(t, base, alice, "")

	uas.mode.Store(0)
	res := alice.must("call_phone", map[string]any{"conversation": conv, "number": "0555 765 4321"})
	if res["number"] != "+15557654321" {
		t.Fatalf("call_phone: %v", res)
	}
	alice.waitFor("phone", map[string]any{"conversation": conv, "state": "ringing"})
	m := alice.waitFor("phone", map[string]any{"conversation": conv, "state": "failed"})
	if m["outcome"] != "no_answer" || m["text"] != "Nobody answered." {
		t.Fatalf("no answer: %v", m)
	}
	waitUntil(t, "the CANCEL counted", func() bool {
		return metricValues(t, a)["cc_sip_requests_sent_total/INVITE/cancelled"] == 1
	})

	uas.mode.Store(404)
	alice.must("call_phone", map[string]any{"conversation": conv, "number": "+1 555 000 0000"})
	m = alice.waitFor("phone", map[string]any{"conversation": conv, "state": "failed"})
	if m["outcome"] != "not_found" || m["code"] != float64(404) {
		t.Fatalf("404: %v", m)
	}
	waitUntil(t, "both recorded", func() bool {
		ev := events(t, a, conv, "phone_call_ended")
		return len(ev) == 2 && ev[0].Data["outcome"] == "no_answer" && ev[1].Data["outcome"] == "not_found"
	})
	waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
	rec, _ := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
	if rec.Status == store.ConvEnded {
		t.Fatal("a failed call ended the chat")
	}
}
