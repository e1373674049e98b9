package main

// The agents' phones of -mode sip and sip-media (-sip-agents phones): one
// UDP socket on 127.0.0.1 answers for every agent's phone. Each account
// registers with digest from that socket (sipregister.go); an INVITE from
// contactd is answered 200 at once with an SDP, the ACK is taken, a BYE (or
// CANCEL) is answered 200. In -mode sip the SDP names a socket that
// discards what it gets (no media); in sip-media each call gets a plain RTP
// peer, found by the caller's number in From (contactd rings the phone
// with the caller's number): the phone sends the agent's flow and hears
// the caller's.

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

// phonePool is the agents' phones.
type phonePool struct {
	r    *runner
	conn *net.UDPConn
	// call finds the call a caller's number belongs to (sip-media); nil:
	// no media.
	call    func(number string) *voiceCall
	discard *net.UDPConn // the media address of -mode sip's answers

	mu      sync.Mutex
	calls   map[string]*phoneLeg        // by Call-ID
	pending map[string]chan sipResponse // REGISTERs by Call-ID
	wg      sync.WaitGroup

	invites, answered, acked, byes, cancels atomic.Int64
}

// phoneLeg is one call on an agent's phone.
type phoneLeg struct {
	peer  *mediatest.RTPPeer // sip-media only
	ok    []byte             // our 200, sent again for a retransmitted INVITE
	acked chan struct{}
	once  sync.Once
	// With -ring: the INVITE, our 180, and the timer of the answer; the
	// pool's mu guards answered.
	inv      sipMessage
	ringing  []byte
	timer    *time.Timer
	answered bool
}

// newPhonePool opens the phones' socket.
func newPhonePool(r *runner, call func(string) *voiceCall) (*phonePool, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	pp := &phonePool{r: r, conn: conn, call: call, calls: map[string]*phoneLeg{}, pending: map[string]chan sipResponse{}}
	if call == nil {
		if pp.discard, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			conn.Close()
			return nil, err
		}
		pp.wg.Add(1)
		go func() {
			defer pp.wg.Done()
			buf := make([]byte, 2048)
			for {
				if _, err := pp.discard.Read(buf); errors.Is(err, net.ErrClosed) {
					return
				}
			}
		}()
	}
	pp.wg.Add(1)
	go pp.read()
	return pp, nil
}

// register registers the agents' phones from the pool's socket.
func (pp *phonePool) register(ctx context.Context, to *net.UDPAddr) (int64, error) {
	o := pp.r.o
	accounts := make([]phoneAccount, o.agents)
	for k := range accounts {
		accounts[k] = phoneAccount{user: sipUsername(o.agentPrefix, k+1), password: sipPassword(o.agentPassword, k+1)}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return registerPhones(rctx, pp, to, accounts, 32)
}

func (pp *phonePool) localAddr() *net.UDPAddr { return pp.conn.LocalAddr().(*net.UDPAddr) }

// roundTrip sends a request from the pool's socket and waits for the
// first final response with its Call-ID, retransmitting every 500 ms, 6
// tries.
func (pp *phonePool) roundTrip(ctx context.Context, callID string, req []byte, to *net.UDPAddr) (sipResponse, error) {
	ch := make(chan sipResponse, 4)
	pp.mu.Lock()
	pp.pending[callID] = ch
	pp.mu.Unlock()
	defer func() {
		pp.mu.Lock()
		delete(pp.pending, callID)
		pp.mu.Unlock()
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for try := 0; ; {
		select {
		case res := <-ch:
			if res.status < 200 {
				continue
			}
			return res, nil
		case <-ctx.Done():
			return sipResponse{}, ctx.Err()
		case <-t.C:
			if try == 6 {
				return sipResponse{}, errors.New("no answer after 6 tries")
			}
			try++
			if _, err := pp.conn.WriteToUDP(req, to); err != nil {
				return sipResponse{}, err
			}
			t.Reset(500 * time.Millisecond)
		}
	}
}

// close closes the phones and waits for their goroutines.
func (pp *phonePool) close() {
	_ = pp.conn.Close()
	if pp.discard != nil {
		_ = pp.discard.Close()
	}
	pp.wg.Wait()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for id, l := range pp.calls {
		if l.peer != nil {
			l.peer.Close()
		}
		delete(pp.calls, id)
	}
}

// figures are what the phones saw, as a uas's: INVITEs received, calls
// completed (ACKed, then ended by a BYE), and those not (no ACK, or
// CANCELled).
func (pp *phonePool) figures() *SIPFigures {
	f := &SIPFigures{Attempted: pp.invites.Load(), Successful: pp.byes.Load()}
	f.Failed = pp.cancels.Load()
	pp.mu.Lock()
	f.Unfinished = int64(len(pp.calls))
	pp.mu.Unlock()
	return f
}

func (pp *phonePool) read() {
	defer pp.wg.Done()
	r := pp.r
	buf := make([]byte, 65536)
	for {
		n, from, err := pp.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m, ok := parseSIPMessage(buf[:n])
		if !ok {
			r.st.fail("phone_bad_sip")
			continue
		}
		id := m.header("Call-ID")
		if m.method == "" {
			pp.mu.Lock()
			ch := pp.pending[id]
			pp.mu.Unlock()
			if ch != nil {
				select {
				case ch <- sipResponse{status: m.status, headers: m.headers}:
				default:
				}
			}
			continue
		}
		switch m.method {
		case "INVITE":
			pp.invite(m, id, from)
		case "ACK":
			pp.mu.Lock()
			l := pp.calls[id]
			pp.mu.Unlock()
			if l != nil {
				l.once.Do(func() { pp.acked.Add(1); close(l.acked) })
			}
		case "BYE", "CANCEL":
			_, _ = pp.conn.WriteToUDP(okTo(m, "", "", ""), from)
			pp.mu.Lock()
			l := pp.calls[id]
			delete(pp.calls, id)
			unanswered := l != nil && !l.answered
			if unanswered {
				l.timer.Stop()
			}
			pp.mu.Unlock()
			if l == nil {
				continue
			}
			if unanswered {
				_, _ = pp.conn.WriteToUDP(statusTo(l.inv, 487, "Request Terminated", l.ok), from)
			}
			if m.method == "BYE" {
				pp.byes.Add(1)
			} else {
				pp.cancels.Add(1)
			}
			l.once.Do(func() { close(l.acked) })
			if l.peer != nil {
				go l.peer.Close()
			}
		default:
			_, _ = pp.conn.WriteToUDP(okTo(m, "", "", ""), from)
		}
	}
}

// invite answers an INVITE (or its retransmission) with 200 and an SDP.
func (pp *phonePool) invite(m sipMessage, id string, from *net.UDPAddr) {
	r := pp.r
	pp.mu.Lock()
	l := pp.calls[id]
	var again []byte
	if l != nil {
		again = l.ok
		if !l.answered {
			again = l.ringing
		}
	}
	pp.mu.Unlock()
	if l != nil {
		_, _ = pp.conn.WriteToUDP(again, from)
		return
	}
	pp.invites.Add(1)
	local := pp.localAddr()
	l = &phoneLeg{acked: make(chan struct{})}
	var sdp string
	if pp.call != nil {
		c := pp.call(callerNumber(m.header("From")))
		if c == nil {
			r.st.fail("phone_unknown_call")
		}
		peer, err := mediatest.NewRTPPeer("PCMU")
		if err != nil {
			r.st.fail("phone_rtp")
			return
		}
		if err := peer.SetRemote(m.body); err != nil {
			r.st.fail("phone_bad_offer")
			peer.Close()
			return
		}
		if c != nil {
			peer.OnPacket(r.listener(&c.up))
			peer.StartSending(r.payloader(&c.down))
		}
		l.peer, sdp = peer, peer.SDP("sendrecv")
	} else {
		a := pp.discard.LocalAddr().(*net.UDPAddr)
		sdp = fmt.Sprintf("v=0\r\no=ccload 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", a.Port)
	}
	l.ok = okTo(m, randHex(4), fmt.Sprintf("sip:agent@%s", local), sdp)
	l.inv = m
	if ring := pp.r.o.ring; ring > 0 {
		// 180 at once, 200 after the ring (unless CANCELled meanwhile).
		l.ringing = statusTo(m, 180, "Ringing", l.ok)
		pp.mu.Lock()
		pp.calls[id] = l
		l.timer = time.AfterFunc(ring, func() {
			pp.mu.Lock()
			if pp.calls[id] != l {
				pp.mu.Unlock()
				return
			}
			l.answered = true
			pp.mu.Unlock()
			pp.answer(l, from)
		})
		pp.mu.Unlock()
		_, _ = pp.conn.WriteToUDP(l.ringing, from)
		return
	}
	l.answered = true
	pp.mu.Lock()
	pp.calls[id] = l
	pp.mu.Unlock()
	pp.answer(l, from)
}

// answer sends the 200 of l, again until the ACK.
func (pp *phonePool) answer(l *phoneLeg, from *net.UDPAddr) {
	pp.answered.Add(1)
	_, _ = pp.conn.WriteToUDP(l.ok, from)
	// Our 200 again until the ACK (RFC 3261 13.3.1.4), for 4 s.
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for range 8 {
			select {
			case <-l.acked:
				return
			case <-t.C:
				_, _ = pp.conn.WriteToUDP(l.ok, from)
			}
		}
	}()
}

// callerNumber is the user part of a From header's URI.
func callerNumber(from string) string {
	v := from
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "sip:"), "sips:")
	if i := strings.IndexByte(v, '@'); i >= 0 {
		return v[:i]
	}
	return ""
}

// startPhones opens the agents' phones of -mode sip-media and registers
// them; it returns what closes them.
func (vr *voiceRun) startPhones(ctx context.Context) (func(), error) {
	r := vr.r
	pp, err := newPhonePool(r, func(number string) *voiceCall {
		vr.mu.Lock()
		defer vr.mu.Unlock()
		return vr.byPhone[number]
	})
	if err != nil {
		return nil, err
	}
	n, err := pp.register(ctx, vr.sipTarget)
	r.logf("phones: %d of %d registered (contact %s)", n, r.o.agents, pp.localAddr())
	if err != nil {
		r.logf("phones: %v", err)
		r.st.fail("phone_not_registered")
	}
	return pp.close, nil
}

// startRTPBaseline connects n pairs of plain RTP peers directly (no
// contactd), the baseline of phone-to-phone calls, and returns what closes
// them.
func (vr *voiceRun) startRTPBaseline(n int) (int, func()) {
	r := vr.r
	live := new(atomic.Bool)
	live.Store(true)
	var peers []*mediatest.RTPPeer
	closeAll := func() {
		for _, p := range peers {
			p.Close()
		}
	}
	for i := range n {
		a, err := mediatest.NewRTPPeer("PCMU")
		if err != nil {
			r.st.fail("baseline")
			continue
		}
		b, err := mediatest.NewRTPPeer("PCMU")
		if err != nil {
			a.Close()
			r.st.fail("baseline")
			continue
		}
		peers = append(peers, a, b)
		if a.SetRemote(b.SDP("sendrecv")) != nil || b.SetRemote(a.SDP("sendrecv")) != nil {
			r.st.fail("baseline")
			continue
		}
		ab := &flow{id: uint32(2*maxCalls + 2*i), live: live, m: &vr.direct}
		ba := &flow{id: uint32(2*maxCalls + 2*i + 1), live: live, m: &vr.direct}
		b.OnPacket(r.listener(ab))
		a.OnPacket(r.listener(ba))
		a.StartSending(r.payloader(ab))
		b.StartSending(r.payloader(ba))
	}
	return len(peers) / 2, closeAll
}

// statusTo is a response to the INVITE inv with the To tag of our 200
// (ok): a 180, or the 487 of a CANCELled INVITE.
func statusTo(inv sipMessage, code int, reason string, ok []byte) []byte {
	tag := ""
	if m, good := parseSIPMessage(ok); good {
		if _, t, found := strings.Cut(m.header("To"), ";tag="); found {
			tag = t
		}
	}
	b := okTo(inv, tag, "", "")
	return []byte(strings.Replace(string(b), "SIP/2.0 200 OK", fmt.Sprintf("SIP/2.0 %d %s", code, reason), 1))
}
