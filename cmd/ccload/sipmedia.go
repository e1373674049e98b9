package main

// SIP media mode (-mode sip-media): voice mode (voice.go) with phone
// callers. Each call is a SIP caller in ccload (its own UDP socket for SIP,
// a plain RTP peer, mediatest.RTPPeer, for its audio) calling contactd's
// trunk number "early" (183 with early media at once, 200 when an agent is
// bridged); the agent takes it in the browser (ccload's desk agents and
// pion peers, as in voice mode: -sip-agents browser) or on a phone
// (-sip-agents phones: ccload's own SIP phones, sipphones.go, registered
// with digest and answering every call with an RTP peer).
//
// Both sides send one 20 ms G.711 frame every 20 ms, each payload carrying
// the marker, send time, flow and sequence of voicestats.go, so loss and
// one-way delay are measured as in voice mode; a call counts from the
// caller's 200 OK (when contactd bridged the agent). The payload after its
// head is μ-law silence (0xFF) on both sides: a packet whose payload comes
// out changed (contactd applied a gain, or transcoded) is counted as
// altered. The direct baseline is pion pairs for browser agents and plain
// RTP peer pairs for phones.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactd/contactd/media/mediatest"
)

// phoneNumber is the caller ID of call idx: the agent's offer carries it
// (visitor.attributes.phone), which is how the agent's side finds the call.
func phoneNumber(idx int) string { return fmt.Sprintf("+1999%07d", idx) }

// sipDialog is the SIP side of one call from ccload (caller) or to it
// (a phone): what the requests it sends within the dialog need.
type sipDialog struct {
	c        *net.UDPConn
	local    *net.UDPAddr
	remote   *net.UDPAddr // where in-dialog requests go (the Contact)
	uri      string       // the remote target
	callID   string
	from, to string // header values with tags, from our side's view
	cseq     int
}

// request builds an in-dialog request of ours.
func (d *sipDialog) request(method string, cseq int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, d.uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", d.local, randHex(8))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", d.from, d.to, d.callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:ccload@%s>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", d.local)
	return []byte(b.String())
}

// sipMessage is a SIP message ccload received: a request or a response.
type sipMessage struct {
	method  string // requests
	status  int    // responses
	headers []string
	body    string
	raw     []byte
}

func (m sipMessage) header(name string) string {
	return sipResponse{headers: m.headers}.header(name)
}

// cseqMethod is the method of the CSeq header.
func (m sipMessage) cseqMethod() string {
	f := strings.Fields(m.header("CSeq"))
	if len(f) == 2 {
		return f[1]
	}
	return ""
}

// parseSIPMessage reads a request or a response.
func parseSIPMessage(b []byte) (sipMessage, bool) {
	head, body, _ := strings.Cut(string(b), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	m := sipMessage{body: body, raw: b}
	if len(lines) == 0 {
		return m, false
	}
	m.headers = lines[1:]
	if strings.HasPrefix(lines[0], "SIP/2.0 ") {
		if _, err := fmt.Sscanf(lines[0], "SIP/2.0 %d", &m.status); err != nil {
			return m, false
		}
		return m, true
	}
	f := strings.Fields(lines[0])
	if len(f) != 3 || f[2] != "SIP/2.0" {
		return m, false
	}
	m.method = f[0]
	return m, true
}

// okTo answers request m with a 200 OK (no body unless sdp), copying Via,
// From, To (with toTag when it has none), Call-ID and CSeq.
func okTo(m sipMessage, toTag, contact, sdp string) []byte {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, h := range m.headers {
		k, _, _ := strings.Cut(h, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq", "record-route":
			b.WriteString(h + "\r\n")
		case "to", "t":
			if toTag != "" && !strings.Contains(h, ";tag=") {
				h += ";tag=" + toTag
			}
			b.WriteString(h + "\r\n")
		}
	}
	if contact != "" {
		fmt.Fprintf(&b, "Contact: <%s>\r\n", contact)
	}
	if sdp != "" {
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
	} else {
		b.WriteString("Content-Length: 0\r\n\r\n")
	}
	return []byte(b.String())
}

// contactAddr reads the host:port of a Contact header value (sip: URI,
// UDP), for in-dialog requests.
func contactAddr(v string) (uri string, addr *net.UDPAddr, err error) {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	uri = strings.TrimSpace(v)
	hp := strings.TrimPrefix(uri, "sip:")
	if i := strings.IndexByte(hp, '@'); i >= 0 {
		hp = hp[i+1:]
	}
	if i := strings.IndexByte(hp, ';'); i >= 0 {
		hp = hp[:i]
	}
	if !strings.Contains(hp, ":") {
		hp += ":5060"
	}
	addr, err = net.ResolveUDPAddr("udp", hp)
	return uri, addr, err
}

// phoneCaller is a call's caller: its SIP socket and RTP peer.
type phoneCaller struct {
	vr   *voiceRun
	c    *voiceCall
	d    sipDialog
	peer *mediatest.RTPPeer

	branch   string        // the INVITE's Via branch
	prov     atomic.Bool   // a provisional answer came
	answered chan struct{} // 200 OK received (and ACKed)
	ansOnce  sync.Once
	ended    chan string // contactd hung up (BYE) or refused: why
	byeOK    chan struct{}
	byeOnce  sync.Once
}

// phoneCall runs call idx from the caller's INVITE to its BYE; it holds
// one of the runner's tokens until the call is answered or failed.
func (vr *voiceRun) phoneCall(ctx, setup context.Context, idx int) {
	r := vr.r
	released := false
	release := func() {
		if !released {
			released = true
			<-r.tokens
		}
	}
	defer release()
	c := &voiceCall{idx: idx}
	c.up = flow{id: uint32(2 * idx), live: &c.live, m: &vr.calls}
	c.down = flow{id: uint32(2*idx + 1), live: &c.live, m: &vr.calls}
	number := phoneNumber(idx)
	vr.mu.Lock()
	vr.byPhone[number] = c
	vr.mu.Unlock()
	defer func() {
		vr.mu.Lock()
		delete(vr.byPhone, number)
		if c.conv != "" && vr.byConv[c.conv] == c {
			delete(vr.byConv, c.conv)
		}
		vr.mu.Unlock()
	}()

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		r.st.fail("caller_socket")
		return
	}
	defer conn.Close()
	peer, err := mediatest.NewRTPPeer("PCMU")
	if err != nil {
		r.st.fail("caller_rtp")
		return
	}
	defer peer.Close()
	peer.OnPacket(r.listener(&c.down))
	target := vr.sipTarget
	pc := &phoneCaller{vr: vr, c: c, peer: peer, answered: make(chan struct{}), ended: make(chan string, 1), byeOK: make(chan struct{})}
	local := conn.LocalAddr().(*net.UDPAddr)
	pc.d = sipDialog{c: conn, local: local, remote: target, uri: fmt.Sprintf("sip:%s@%s", vr.sipNumber, target),
		callID: randHex(10) + "@ccload", from: fmt.Sprintf(`"ccload %d" <sip:%s@%s>;tag=%s`, idx, number, local, randHex(4)),
		to: fmt.Sprintf("<sip:%s@%s>", vr.sipNumber, target), cseq: 1}
	sdp := peer.SDP("sendrecv")
	branch := "z9hG4bK" + randHex(8)
	pc.branch = branch
	var inv strings.Builder
	fmt.Fprintf(&inv, "INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", pc.d.uri, local, branch)
	fmt.Fprintf(&inv, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n", pc.d.from, pc.d.to, pc.d.callID)
	fmt.Fprintf(&inv, "Contact: <sip:ccload@%s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", local, len(sdp), sdp)

	readDone := make(chan struct{})
	rctx, stopRead := context.WithCancel(ctx)
	go func() { defer close(readDone); pc.read(rctx) }()
	defer func() {
		stopRead()
		_ = conn.SetReadDeadline(time.Now())
		<-readDone
	}()

	t0 := r.now()
	r.st.connected.Add(1)
	invite := []byte(inv.String())
	sctx, cancel := context.WithTimeout(ctx, 3*callStepWait)
	defer cancel()
	// INVITE retransmissions (timer A) until a response.
	retrans := time.NewTicker(500 * time.Millisecond)
	defer retrans.Stop()
	_, _ = conn.WriteToUDP(invite, target)
	for sent := 1; ; {
		select {
		case <-pc.answered:
		case cause := <-pc.ended:
			r.st.fail("call_refused:" + cause)
			return
		case <-retrans.C:
			if pc.provisional() || sent >= 7 {
				continue
			}
			sent++
			_, _ = conn.WriteToUDP(invite, target)
			continue
		case <-r.stop:
			r.st.failRun("call_not_answered")
			return
		case <-sctx.Done():
			r.st.fail("call_answer_timeout")
			return
		}
		break
	}
	retrans.Stop()
	at := r.now()
	vr.answer.add(at - t0)
	release()
	peer.StartSending(r.payloader(&c.up))
	c.live.Store(true)
	r.st.joined.Add(1)
	r.st.setup.add(at - t0)
	if int64(at) <= r.winFrom.Load() {
		r.st.joinedByWin.Add(1)
	}
	select {
	case <-r.stop:
	case cause := <-pc.ended:
		c.live.Store(false)
		r.st.fail("call_ended:" + cause)
		return
	case <-ctx.Done():
		return
	}
	c.live.Store(false)
	// Hang up: BYE until its 200 (or the hard stop).
	pc.d.cseq++
	bye := pc.d.request("BYE", pc.d.cseq)
	hctx, hcancel := context.WithTimeout(ctx, endWait)
	defer hcancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	_, _ = conn.WriteToUDP(bye, pc.d.remote)
	for {
		select {
		case <-pc.byeOK:
			return
		case <-pc.ended:
			return // contactd hung up meanwhile
		case <-tick.C:
			_, _ = conn.WriteToUDP(bye, pc.d.remote)
		case <-hctx.Done():
			r.st.cleanupErrors.Add(1)
			return
		}
	}
}

// provisional says whether a provisional answer came (then the INVITE is
// not retransmitted).
func (pc *phoneCaller) provisional() bool {
	return pc.prov.Load()
}

// read handles what contactd sends the caller: provisional answers (the
// 183's SDP sets where RTP goes), the 200 (ACKed, each retransmission
// too), the 200 to our BYE, a BYE from contactd (200, the call ended), and
// final refusals.
func (pc *phoneCaller) read(ctx context.Context) {
	r := pc.vr.r
	buf := make([]byte, 65536)
	for ctx.Err() == nil {
		n, from, err := pc.d.c.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			continue
		}
		m, ok := parseSIPMessage(buf[:n])
		if !ok {
			r.st.fail("caller_bad_sip")
			continue
		}
		if m.method != "" {
			switch m.method {
			case "BYE":
				_, _ = pc.d.c.WriteToUDP(okTo(m, "", "", ""), from)
				select {
				case pc.ended <- "bye_from_contactd":
				default:
				}
			case "ACK":
			default:
				_, _ = pc.d.c.WriteToUDP(okTo(m, "", "", ""), from)
			}
			continue
		}
		switch meth := m.cseqMethod(); {
		case meth == "BYE" && m.status >= 200:
			pc.byeOnce.Do(func() { close(pc.byeOK) })
		case meth != "INVITE":
		case m.status < 200:
			pc.prov.Store(true)
			if m.body != "" {
				_ = pc.peer.SetRemote(m.body)
			}
		case m.status < 300:
			if m.body != "" {
				_ = pc.peer.SetRemote(m.body)
			}
			pc.ansOnce.Do(func() {
				pc.d.to = m.header("To")
				if uri, addr, err := contactAddr(m.header("Contact")); err == nil {
					pc.d.uri, pc.d.remote = uri, addr
				}
			})
			_, _ = pc.d.c.WriteToUDP(pc.d.request("ACK", 1), pc.d.remote)
			select {
			case <-pc.answered:
			default:
				close(pc.answered)
			}
		default:
			// A final refusal: its ACK is part of the INVITE transaction
			// (same branch, the response's To).
			var ack strings.Builder
			fmt.Fprintf(&ack, "ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", pc.d.uri, pc.d.local, pc.branch)
			fmt.Fprintf(&ack, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", pc.d.from, m.header("To"), pc.d.callID)
			_, _ = pc.d.c.WriteToUDP([]byte(ack.String()), from)
			select {
			case pc.ended <- fmt.Sprint(m.status):
			default:
			}
		}
	}
}

// noteOffer: an agent was offered a phone call: the conversation is the
// call's from now on (the agent's leg finds it by conversation).
func (vr *voiceRun) noteOffer(conv, phone string) {
	vr.mu.Lock()
	defer vr.mu.Unlock()
	if c := vr.byPhone[phone]; c != nil {
		c.conv = conv
		vr.byConv[conv] = c
	}
}
