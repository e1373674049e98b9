package main

// Registering the agents' phones in -mode sip and sip-media: a REGISTER per
// account with digest authentication (RFC 3261 section 22, MD5, qop=auth),
// as a phone does, sent from the socket that answers for every phone
// (phonePool): contactd sends a phone's INVITEs to where its REGISTER came
// from (a phone behind NAT is reached there), so the REGISTER must come
// from the socket that answers. (sipp 3.6 cannot do this for many accounts:
// its [authentication] keyword does not take the credentials from an
// injection file's fields.)

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// phoneAccount is one agent's phone.
type phoneAccount struct {
	user, password string
}

// sipTransport sends a request and returns the first final response to it
// (matched by Call-ID), retransmitting as over UDP.
type sipTransport interface {
	roundTrip(ctx context.Context, callID string, req []byte, to *net.UDPAddr) (sipResponse, error)
	localAddr() *net.UDPAddr
}

// registerPhones registers every account with contactd at to over t,
// parallel at a time, and returns how many succeeded and the first error.
func registerPhones(ctx context.Context, t sipTransport, to *net.UDPAddr, accounts []phoneAccount, parallel int) (int64, error) {
	var ok atomic.Int64
	var mu sync.Mutex
	var first error
	work := make(chan phoneAccount)
	var wg sync.WaitGroup
	for range max(1, parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				if err := registerPhone(ctx, t, to, a); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("register %s: %w", a.user, err)
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for _, a := range accounts {
		select {
		case work <- a:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return ok.Load(), first
}

// registerPhone sends REGISTER, answers the 401's challenge and waits for
// the 200. The Contact is t's address.
func registerPhone(ctx context.Context, t sipTransport, to *net.UDPAddr, a phoneAccount) error {
	local := t.localAddr()
	callID, tag := randHex(8)+"@ccload", randHex(4)
	uri := fmt.Sprintf("sip:%s", to)
	build := func(cseq int, auth string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\n", uri)
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", local, randHex(8))
		fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", a.user, to.IP, tag)
		fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", a.user, to.IP)
		fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", callID, cseq)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", a.user, local)
		if auth != "" {
			fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
		}
		b.WriteString("Max-Forwards: 70\r\nExpires: 3600\r\nUser-Agent: ccload\r\nContent-Length: 0\r\n\r\n")
		return []byte(b.String())
	}
	res, err := t.roundTrip(ctx, callID, build(1, ""), to)
	if err != nil {
		return err
	}
	if res.status == 200 {
		return nil
	}
	if res.status != 401 {
		return fmt.Errorf("REGISTER answered %d", res.status)
	}
	ch := parseChallenge(res.header("WWW-Authenticate"))
	if ch["nonce"] == "" {
		return errors.New("401 without a digest nonce")
	}
	auth := digestAuthorization(a.user, a.password, "REGISTER", uri, ch, randHex(8))
	res, err = t.roundTrip(ctx, callID, build(2, auth), to)
	if err != nil {
		return err
	}
	if res.status != 200 {
		return fmt.Errorf("REGISTER with credentials answered %d", res.status)
	}
	return nil
}

// sipResponse is the part of a SIP response ccload reads.
type sipResponse struct {
	status  int
	headers []string // "Name: value" lines
}

func (r sipResponse) header(name string) string {
	for _, h := range r.headers {
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// parseChallenge reads the parameters of a Digest challenge.
func parseChallenge(v string) map[string]string {
	out := map[string]string{}
	v = strings.TrimSpace(v)
	if len(v) < 7 || !strings.EqualFold(v[:7], "Digest ") {
		return out
	}
	v = v[7:]
	for len(v) > 0 {
		v = strings.TrimLeft(v, " ,")
		k, rest, ok := strings.Cut(v, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		rest = strings.TrimLeft(rest, " ")
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			val, v = rest[1:1+end], rest[2+end:]
		} else {
			val, v, _ = strings.Cut(rest, ",")
			val = strings.TrimSpace(val)
		}
		out[k] = val
	}
	return out
}

// digestAuthorization is the Authorization header value answering ch
// (MD5; qop=auth when offered).
func digestAuthorization(user, password, method, uri string, ch map[string]string, cnonce string) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := h(user + ":" + ch["realm"] + ":" + password)
	ha2 := h(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5`, user, ch["realm"], ch["nonce"], uri)
	if strings.Contains(ch["qop"], "auth") {
		const nc = "00000001"
		fmt.Fprintf(&b, `, response="%s", qop=auth, nc=%s, cnonce="%s"`, h(ha1+":"+ch["nonce"]+":"+nc+":"+cnonce+":auth:"+ha2), nc, cnonce)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, h(ha1+":"+ch["nonce"]+":"+ha2))
	}
	if o := ch["opaque"]; o != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, o)
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
