package media

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rtpPacket is what the media path reads from an RTP packet, in place.
type rtpPacket struct {
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// parseRTP reads an RTP header (RFC 3550) without copying: it skips CSRCs
// and a header extension and strips padding.
func parseRTP(b []byte) (rtpPacket, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpPacket{}, false
	}
	hl := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 { // extension
		if len(b) < hl+4 {
			return rtpPacket{}, false
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(b[hl+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		pad := int(b[end-1])
		if pad == 0 || pad > end-hl {
			return rtpPacket{}, false
		}
		end -= pad
	}
	if hl > end {
		return rtpPacket{}, false
	}
	return rtpPacket{
		pt:      b[1] & 0x7F,
		seq:     binary.BigEndian.Uint16(b[2:]),
		ts:      binary.BigEndian.Uint32(b[4:]),
		ssrc:    binary.BigEndian.Uint32(b[8:]),
		payload: b[hl:end],
	}, true
}

// outStream is the RTP stream a leg sends to its browser. Its SSRC is
// fixed; its sequence numbers and timestamps are its own, so the stream
// stays continuous when what the leg hears changes (partner, music, new
// partner). Each change of source starts a segment: the first packet of a
// segment takes the next sequence number and a timestamp advanced by the
// time since the last packet (at least one packet's worth) and carries the
// marker bit; within a segment, the source's own sequence and timestamp
// steps (gaps, reordering) are kept.
type outStream struct {
	mu     sync.Mutex
	leg    *Leg
	law    *codecLaw
	writer webrtc.TrackLocalWriter // nil until the answer binds the track
	hdr    rtp.Header

	source uint64 // the only source whose packets are sent; 0: none

	inSegment       bool
	segSSRC         uint32
	inSeq0, outSeq0 uint16
	inTS0, outTS0   uint32
	started         bool // a packet has been sent
	lastSeq         uint16
	lastTS          uint32
	lastLen         int
	lastAt          int64 // engine clock when the packet with lastSeq was sent

	// Telephone-events (RTP legs): while sendingEvents, audio is held
	// back; evTS is the timestamp of the event being sent.
	sendingEvents bool
	evTS          uint32

	gain    float64
	gainLUT *[256]byte // nil when gain is 1
	scratch [1500]byte
}

func (o *outStream) init(l *Leg, law *codecLaw) {
	o.leg = l
	o.law = law
	o.gain = 1
	seq, ts := randomStart()
	o.lastSeq = seq - 1
	o.lastTS = ts
	o.hdr = rtp.Header{Version: 2, PayloadType: law.payloadType}
}

// setSource makes src the only source the stream takes packets from and
// starts a new segment.
func (o *outStream) setSource(src uint64) {
	o.mu.Lock()
	o.source = src
	o.inSegment = false
	o.mu.Unlock()
}

// write sends one packet from src, if src is what the leg hears now.
func (o *outStream) write(src uint64, ssrc uint32, seq uint16, ts uint32, payload []byte, now int64) {
	o.mu.Lock()
	if src != o.source || o.writer == nil || len(payload) > len(o.scratch) || o.sendingEvents {
		o.mu.Unlock()
		return
	}
	marker := false
	if !o.inSegment || ssrc != o.segSSRC {
		step := o.step(now)
		o.inSegment, o.segSSRC = true, ssrc
		o.inSeq0, o.outSeq0 = seq, o.lastSeq+1
		o.inTS0, o.outTS0 = ts, o.lastTS+step
		marker = true
	}
	outSeq := o.outSeq0 + (seq - o.inSeq0)
	outTS := o.outTS0 + (ts - o.inTS0)
	o.hdr.SequenceNumber = outSeq
	o.hdr.Timestamp = outTS
	o.hdr.Marker = marker
	p := payload
	if lut := o.gainLUT; lut != nil {
		p = o.scratch[:len(payload)]
		for i, b := range payload {
			p[i] = lut[b]
		}
	}
	n, err := o.writer.WriteRTP(&o.hdr, p)
	if int16(outSeq-o.lastSeq) > 0 || !o.started {
		o.lastSeq, o.lastTS, o.lastAt = outSeq, outTS, now
		o.lastLen = len(payload)
	}
	o.started = true
	o.mu.Unlock()
	if err == nil && n > 0 { // 0: DTLS is not up yet and pion dropped it
		o.leg.pktOut.Add(1)
		o.leg.bytesOut.Add(uint64(len(payload)))
	}
}

// step is how far the timestamp of a new segment (or event) is from the
// last packet sent: the time since it, at least one packet's worth.
func (o *outStream) step(now int64) uint32 {
	if !o.started {
		return frameLen
	}
	step := uint32(max(o.lastLen, 1))
	if gap := (now - o.lastAt) * sampleRate / int64(time.Second); gap > int64(step) {
		step = uint32(min(gap, math.MaxUint32/2))
	}
	return step
}

// localTrack is the leg's outgoing audio track. Unlike pion's
// TrackLocalStaticRTP it keeps the one binding and lets outStream write
// header and payload straight to SRTP.
type localTrack struct{ leg *Leg }

var _ webrtc.TrackLocal = (*localTrack)(nil)

func (t *localTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	o := &t.leg.out
	for _, c := range ctx.CodecParameters() {
		if c.ClockRate == sampleRate && equalFold(c.MimeType, o.law.mime) {
			o.mu.Lock()
			o.writer = ctx.WriteStream()
			o.hdr.SSRC = uint32(ctx.SSRC())
			o.hdr.PayloadType = uint8(c.PayloadType)
			o.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *localTrack) Unbind(webrtc.TrackLocalContext) error {
	o := &t.leg.out
	o.mu.Lock()
	o.writer = nil
	o.mu.Unlock()
	return nil
}

func (t *localTrack) ID() string                { return "audio" }
func (t *localTrack) RID() string               { return "" }
func (t *localTrack) StreamID() string          { return "contactd" }
func (t *localTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Bridge connects two legs: a hears b and b hears a. A sound playing to
// either stops, and the legs they were bridged to before stop hearing them
// (and hear nothing until bridged again or given a sound). Bridge(a, a)
// makes a hear itself (an echo test). Bridging a leg that has ended, or
// legs of two engines, does nothing.
func Bridge(a, b *Leg) {
	if a == nil || b == nil || a.e != b.e {
		return
	}
	e := a.e
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	if a.gone || b.gone {
		return
	}
	e.detach(a)
	e.detach(b)
	a.partner, b.partner = b, a
	// The stream must accept the new source before packets are sent to it.
	a.out.setSource(b.source)
	b.out.setSource(a.source)
	b.fwd.Store(a)
	a.fwd.Store(b)
	e.log.Debug("bridged", "a", a.id, "b", b.id)
}

// Play makes l hear s instead of what it heard: audio forwarded to it
// stops, and the leg it was bridged to stops hearing it (and hears nothing
// until bridged again or given a sound). Play(SoundSilence) leaves l
// hearing nothing. Each Play starts the sound from its beginning.
func (l *Leg) Play(s Sound) {
	l.play1(nil, s)
}

// PlayClip makes l hear c once, from its beginning, then then (music,
// ringback or silence), as Play would: audio forwarded to l stops, and
// the leg it was bridged to stops hearing it. A later Play, PlayClip or
// Bridge replaces both the clip and what was to follow. A nil clip is
// Play(then).
func (l *Leg) PlayClip(c *Clip, then Sound) {
	if c == nil || c.c.frames() == 0 {
		l.play1(nil, then)
		return
	}
	l.play1(c.c, then)
}

func (l *Leg) play1(c *clip, s Sound) {
	e := l.e
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	if l.gone {
		return
	}
	e.detach(l)
	if s < SoundSilence || s >= numSounds {
		s = SoundSilence
	}
	if c == nil && s == SoundSilence {
		return
	}
	token := e.nextSource.Add(1)
	l.play = playState{active: true, sound: s, clip: c, source: token, start: e.now()}
	l.out.setSource(token)
	e.playing = append(e.playing, l)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// SetOutputGain scales what l hears by g: each G.711 sample is decoded,
// multiplied, clamped and encoded again. 1 passes the bytes through
// unchanged (the default); 0 is silence. g is clamped to [0, 4]; NaN is
// ignored.
func (l *Leg) SetOutputGain(g float64) {
	if math.IsNaN(g) {
		return
	}
	g = min(max(g, 0), 4)
	var lut *[256]byte
	if g != 1 {
		lut = l.e.law.gainTable(g)
	}
	l.out.mu.Lock()
	l.out.gain, l.out.gainLUT = g, lut
	l.out.mu.Unlock()
}

// OutputGain is the gain set by SetOutputGain.
func (l *Leg) OutputGain() float64 {
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	return l.out.gain
}

// detach leaves l hearing nothing and nobody hearing l. The caller holds
// e.routeMu.
func (e *Engine) detach(l *Leg) {
	if p := l.partner; p != nil {
		p.partner, l.partner = nil, nil
		p.fwd.Store(nil)
		l.fwd.Store(nil)
		p.out.setSource(0)
		l.out.setSource(0)
	}
	if l.play.active {
		l.play = playState{}
		l.out.setSource(0)
		e.stopPlaying(l)
	}
}

// stopPlaying removes l from the playing legs. The caller holds
// e.routeMu.
func (e *Engine) stopPlaying(l *Leg) {
	for i, x := range e.playing {
		if x == l {
			last := len(e.playing) - 1
			e.playing[i] = e.playing[last]
			e.playing[last] = nil
			e.playing = e.playing[:last]
			return
		}
	}
}

// playState is where a leg is in the sound it plays.
type playState struct {
	active bool   // the leg is in e.playing
	sound  Sound  // what plays (after the clip, if there is one)
	clip   *clip  // a clip that plays once before sound (PlayClip)
	source uint64 // the token the leg's outStream accepts
	start  int64  // engine clock when Play was called
	sent   int64  // frames sent
	base   int64  // frames sent before sound started (the clip's length)
}

type playFrame struct {
	leg    *Leg
	source uint64
	seq    int64
	frame  []byte
}

// maxBurst is how many frames a late clock tick may send to one leg at
// once (a second's worth); further behind than that, the sound skips
// ahead. A browser's jitter buffer takes a burst better than a gap.
const maxBurst = 50

// playFrames sends every playing leg the frames that are due by now: frame
// n is due n×20 ms after Play, so a late tick catches up instead of
// slowing the sound down. It reports whether any leg plays.
func (e *Engine) playFrames() bool {
	now := e.now()
	e.routeMu.Lock()
	e.batch = e.batch[:0]
	for i := 0; i < len(e.playing); i++ {
		l := e.playing[i]
		p := &l.play
		due := (now-p.start)/int64(frameMillis*time.Millisecond) + 1
		if due-p.sent > maxBurst {
			p.sent = due - maxBurst
		}
		for ; p.sent < due; p.sent++ {
			c := p.clip
			if c != nil && int(p.sent-p.base) >= c.frames() {
				// The clip has played: what follows it starts now.
				p.clip, p.base = nil, p.sent
				c = nil
			}
			if c == nil {
				if p.sound == SoundSilence {
					break
				}
				c = e.clips[p.sound]
			}
			e.batch = append(e.batch, playFrame{
				leg:    l,
				source: p.source,
				seq:    p.sent,
				frame:  c.frame(int((p.sent - p.base) % int64(c.frames()))),
			})
		}
		if p.clip == nil && p.sound == SoundSilence {
			// A clip followed by silence has ended: the leg hears nothing
			// and keeps its stream's source until the next change.
			p.active = false
			e.stopPlaying(l)
			i--
		}
	}
	playing := len(e.playing) > 0
	if e.dtmfFrames(now) {
		playing = true
	}
	batch := e.batch
	e.routeMu.Unlock()
	for i, f := range batch {
		f.leg.out.write(f.source, 0, uint16(f.seq), uint32(f.seq*frameLen), f.frame, now)
		batch[i] = playFrame{}
	}
	return playing
}
