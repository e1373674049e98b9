package main

// The agents' phones of -mode sip-media -sip-agents phones: one UDP socket
// on 127.0.0.1 answers for every agent's phone (each account registered
// with digest, its Contact this socket). An INVITE from contactd is
// answered 200 at once with a plain RTP peer's SDP; the call is found by
// the caller's number in From (contactd rings the phone with the caller's
// number), and the phone sends the agent's flow and hears the caller's. A
// BYE ends it.

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
	vr    *voiceRun
	conn  *net.UDPConn
	mu    sync.Mutex
	calls map[string]*phoneLeg // by Call-ID
	wg    sync.WaitGroup
}

// phoneLeg is one call on an agent's phone.
type phoneLeg struct {
	peer  *mediatest.RTPPeer
	ok    []byte // our 200, sent again for a retransmitted INVITE
	acked chan struct{}
	once  sync.Once
}

// startPhones opens the phones' socket, registers every agent's phone and
// returns what stops them.
func (vr *voiceRun) startPhones(ctx context.Context) (func(), error) {
	r := vr.r
	o := r.o
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(8 << 20)
	pp := &phonePool{vr: vr, conn: conn, calls: map[string]*phoneLeg{}}
	pp.wg.Add(1)
	go pp.read()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	accounts := make([]phoneAccount, o.agents)
	for k := range accounts {
		accounts[k] = phoneAccount{user: sipUsername(o.agentPrefix, k+1), password: sipPassword(o.agentPassword, k+1), contactPort: port}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	n, err := registerPhones(rctx, vr.sipTarget, accounts, 16)
	cancel()
	r.logf("phones: %d of %d registered (contact 127.0.0.1:%d)", n, o.agents, port)
	if err != nil {
		r.logf("phones: %v", err)
		r.st.fail("phone_not_registered")
	}
	return pp.close, nil
}

func (pp *phonePool) close() {
	_ = pp.conn.Close()
	pp.wg.Wait()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for id, l := range pp.calls {
		l.peer.Close()
		delete(pp.calls, id)
	}
}

func (pp *phonePool) read() {
	defer pp.wg.Done()
	r := pp.vr.r
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
		if m.method == "" {
			continue // responses: the phones send no requests
		}
		id := m.header("Call-ID")
		switch m.method {
		case "INVITE":
			pp.invite(m, id, from)
		case "ACK":
			pp.mu.Lock()
			l := pp.calls[id]
			pp.mu.Unlock()
			if l != nil {
				l.once.Do(func() { close(l.acked) })
			}
		case "BYE", "CANCEL":
			_, _ = pp.conn.WriteToUDP(okTo(m, "", "", ""), from)
			pp.mu.Lock()
			l := pp.calls[id]
			delete(pp.calls, id)
			pp.mu.Unlock()
			if l != nil {
				l.once.Do(func() { close(l.acked) })
				go l.peer.Close()
			}
		default:
			_, _ = pp.conn.WriteToUDP(okTo(m, "", "", ""), from)
		}
	}
}

// invite answers an INVITE (or its retransmission) with 200 and an RTP
// peer's SDP.
func (pp *phonePool) invite(m sipMessage, id string, from *net.UDPAddr) {
	vr, r := pp.vr, pp.vr.r
	pp.mu.Lock()
	l := pp.calls[id]
	pp.mu.Unlock()
	if l != nil {
		_, _ = pp.conn.WriteToUDP(l.ok, from)
		return
	}
	number := callerNumber(m.header("From"))
	vr.mu.Lock()
	c := vr.byPhone[number]
	vr.mu.Unlock()
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
	local := pp.conn.LocalAddr().(*net.UDPAddr)
	l = &phoneLeg{peer: peer, acked: make(chan struct{})}
	l.ok = okTo(m, randHex(4), fmt.Sprintf("sip:agent@%s", local), peer.SDP("sendrecv"))
	pp.mu.Lock()
	pp.calls[id] = l
	pp.mu.Unlock()
	if c != nil {
		peer.OnPacket(r.listener(&c.up))
		peer.StartSending(r.payloader(&c.down))
	}
	_, _ = pp.conn.WriteToUDP(l.ok, from)
	// Our 200 again until the ACK (RFC 3261 13.3.1.4), up to 4 s.
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
