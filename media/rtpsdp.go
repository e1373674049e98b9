package media

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is the direction attribute of an SDP audio section, as its
// author sees it: SendOnly means the author sends and does not receive.
type Direction int

// Directions.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// reverse is the direction an answer takes to an offer of d (RFC 3264 6.1).
func (d Direction) reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

// receives tells whether the author of a description in direction d
// takes media.
func (d Direction) receives() bool { return d == SendRecv || d == RecvOnly }

// DefaultTelephoneEventPT is the payload type the engine offers for
// RFC 4733 telephone-event. In an answer it takes the offer's number.
const DefaultTelephoneEventPT = 101

// remoteSDP is what an RTP leg takes from the peer's description.
type remoteSDP struct {
	addr    netip.AddrPort // where to send RTP; invalid with c=0.0.0.0 (hold)
	rtcp    netip.AddrPort // where to send RTCP (a=rtcp, or port+1)
	audioPT uint8          // the peer's number for the engine's codec
	tePT    int            // the peer's telephone-event/8000, -1 if none
	dir     Direction      // as the peer wrote it, c=0.0.0.0 taken into account
	index   int            // the audio section used
	mlines  []string       // every section's "media port proto formats", for the answer
}

// parseRTPSDP reads an offer or an answer for an RTP leg: the first audio
// section over RTP/AVP that lists the engine's codec is used; any other
// section is rejected in the answer.
func parseRTPSDP(text string, law *codecLaw) (*remoteSDP, error) {
	if len(text) > maxSDPSize {
		return nil, fmt.Errorf("description of %d bytes (at most %d): %w", len(text), maxSDPSize, ErrBadSDP)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("empty description: %w", ErrBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return nil, fmt.Errorf("description: %v: %w", err, ErrBadSDP)
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("description has no media section: %w", ErrNoCommonCodec)
	}
	r := &remoteSDP{index: -1, tePT: -1}
	sessDir := directionOf(sd.Attributes, SendRecv)
	var found *sdp.MediaDescription
	for i, md := range sd.MediaDescriptions {
		proto := strings.Join(md.MediaName.Protos, "/")
		r.mlines = append(r.mlines, fmt.Sprintf("%s 0 %s %s", md.MediaName.Media, proto,
			strings.Join(md.MediaName.Formats, " ")))
		if found != nil || md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 ||
			!strings.EqualFold(proto, "RTP/AVP") {
			continue
		}
		pt, ok := codecPT(md, law)
		if !ok {
			continue
		}
		found, r.index, r.audioPT = md, i, pt
	}
	if found == nil {
		return nil, fmt.Errorf("no RTP/AVP audio section offers %s/8000: %w", law.name, ErrNoCommonCodec)
	}
	md := found
	r.tePT = eventPT(md)
	r.dir = directionOf(md.Attributes, sessDir)

	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return nil, fmt.Errorf("audio section has no connection address: %w", ErrBadSDP)
	}
	host, _, _ := strings.Cut(ci.Address.Address, "/") // multicast TTL: not for us, but parse
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("connection address %q: %w", ci.Address.Address, ErrBadSDP)
	}
	ip = ip.Unmap()
	port := md.MediaName.Port.Value
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("audio port %d: %w", port, ErrBadSDP)
	}
	if ip.IsUnspecified() {
		// RFC 2543 hold: the peer takes no media.
		switch r.dir {
		case SendRecv:
			r.dir = SendOnly
		case RecvOnly:
			r.dir = Inactive
		}
	} else if ip.IsMulticast() {
		return nil, fmt.Errorf("multicast connection address %s: %w", ip, ErrBadSDP)
	} else {
		r.addr = netip.AddrPortFrom(ip, uint16(port))
		r.rtcp = netip.AddrPortFrom(ip, uint16(min(port+1, 65535)))
		if v, ok := md.Attribute("rtcp"); ok {
			// a=rtcp:port [nettype addrtype address] (RFC 3605)
			f := strings.Fields(v)
			if len(f) == 0 {
				return nil, fmt.Errorf("empty a=rtcp: %w", ErrBadSDP)
			}
			if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p <= 65535 {
				rip := ip
				if len(f) == 4 {
					if a, err := netip.ParseAddr(f[3]); err == nil && !a.IsUnspecified() {
						rip = a.Unmap()
					}
				}
				r.rtcp = netip.AddrPortFrom(rip, uint16(p))
			}
		}
	}
	return r, nil
}

// directionOf finds a direction attribute, or returns def.
func directionOf(attrs []sdp.Attribute, def Direction) Direction {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv":
			return SendRecv
		case "sendonly":
			return SendOnly
		case "recvonly":
			return RecvOnly
		case "inactive":
			return Inactive
		}
	}
	return def
}

// rtpmaps maps the section's payload types to their encoding
// ("PCMU/8000").
func rtpmaps(md *sdp.MediaDescription) map[string]string {
	m := map[string]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if pt, enc, ok := strings.Cut(a.Value, " "); ok {
			m[pt] = strings.TrimSpace(enc)
		}
	}
	return m
}

// codecPT returns the section's payload type for the engine's codec: by
// rtpmap, or by the static number without one.
func codecPT(md *sdp.MediaDescription, law *codecLaw) (uint8, bool) {
	maps := rtpmaps(md)
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		if enc, ok := maps[f]; ok {
			name, rate, _ := strings.Cut(enc, "/")
			rate, _, _ = strings.Cut(rate, "/")
			if strings.EqualFold(name, law.name) && rate == "8000" {
				return uint8(pt), true
			}
			continue
		}
		if pt == int(law.payloadType) {
			return uint8(pt), true
		}
	}
	return 0, false
}

// eventPT returns the section's payload type for telephone-event/8000, or
// -1.
func eventPT(md *sdp.MediaDescription) int {
	maps := rtpmaps(md)
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 96 || pt > 127 {
			continue
		}
		name, rate, _ := strings.Cut(maps[f], "/")
		if strings.EqualFold(name, "telephone-event") && rate == "8000" {
			return pt
		}
	}
	return -1
}

// localSDP is the description an RTP leg sends: an offer, or the answer
// to r.
type localSDP struct {
	sessID, version uint64
	ip              netip.Addr
	port            int
	law             *codecLaw
	audioPT         uint8
	tePT            int // -1: no telephone-event
	dir             Direction
}

func (s localSDP) String(r *remoteSDP) string {
	af := "IP4"
	if s.ip.Is6() {
		af = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=contactd %d %d IN %s %s\r\ns=contactd\r\nc=IN %s %s\r\nt=0 0\r\n",
		s.sessID, s.version, af, s.ip, af, s.ip)
	audio := func() {
		fmt.Fprintf(&b, "m=audio %d RTP/AVP %d", s.port, s.audioPT)
		if s.tePT >= 0 {
			fmt.Fprintf(&b, " %d", s.tePT)
		}
		fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/8000\r\n", s.audioPT, s.law.name)
		if s.tePT >= 0 {
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", s.tePT, s.tePT)
		}
		fmt.Fprintf(&b, "a=ptime:20\r\na=rtcp:%d\r\na=%s\r\n", s.port+1, s.dir)
	}
	if r == nil {
		audio()
		return b.String()
	}
	for i, m := range r.mlines {
		if i == r.index {
			audio()
			continue
		}
		fmt.Fprintf(&b, "m=%s\r\n", m)
	}
	return b.String()
}
