package media

import (
	"fmt"
	"time"
)

// DTMF out (RFC 4733): each digit is a 100 ms event, one packet every
// 20 ms (durations 160 to 640), then the end packet (duration 800) sent
// three times, then 60 ms of pause before the next digit. The leg's audio
// is held back while its digits play and resumes after them as a new
// talkspurt.
const (
	dtmfEndTick    = 4  // the tick that sends the three end packets
	dtmfDigitTicks = 8  // ticks from one digit to the next
	dtmfMaxQueued  = 64 // digits a leg queues
	dtmfVolume     = 10 // -10 dBm0
)

// dtmfState is a leg's queue of digits to send. Guarded by e.routeMu.
type dtmfState struct {
	queue  []byte
	active bool  // the leg is in e.dtmfing
	start  int64 // engine clock when the first digit of queue started
	sent   int64 // ticks of queue[0] done
}

// dtmfCode maps a digit to its RFC 4733 event code.
func dtmfCode(d byte) (byte, bool) {
	switch {
	case d >= '0' && d <= '9':
		return d - '0', true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A', true
	case d >= 'a' && d <= 'd':
		return 12 + d - 'a', true
	}
	return 0, false
}

// dtmfDigit maps an RFC 4733 event code to its digit.
func dtmfDigit(ev byte) (byte, bool) {
	switch {
	case ev <= 9:
		return '0' + ev, true
	case ev == 10:
		return '*', true
	case ev == 11:
		return '#', true
	case ev <= 15:
		return 'A' + ev - 12, true
	}
	return 0, false
}

// SendDTMF sends digits (0-9, *, #, A-D) to the peer of an RTP leg as
// RFC 4733 telephone-events, paced by the engine clock (160 ms a digit),
// after any digits still queued. ErrNoDTMF: the peer did not negotiate
// telephone-event, or the leg is a WebRTC leg; ErrBadDTMF: a character
// that is not a digit, or more than 64 digits queued. While the peer holds
// the call (it does not receive), the events are not sent.
func (l *Leg) SendDTMF(digits string) error {
	if l.rtp == nil {
		return fmt.Errorf("media: leg %s: DTMF on a WebRTC leg: %w", l.id, ErrNoDTMF)
	}
	if l.isClosed() {
		return fmt.Errorf("media: leg %s: DTMF: %w", l.id, ErrClosed)
	}
	if p := l.rtp.peer.Load(); p == nil || p.outEvent < 0 {
		return fmt.Errorf("media: leg %s: %w", l.id, ErrNoDTMF)
	}
	for i := range len(digits) {
		if _, ok := dtmfCode(digits[i]); !ok {
			return fmt.Errorf("media: leg %s: DTMF %q: %w", l.id, digits, ErrBadDTMF)
		}
	}
	e := l.e
	e.routeMu.Lock()
	defer e.routeMu.Unlock()
	if l.gone {
		return fmt.Errorf("media: leg %s: DTMF: %w", l.id, ErrClosed)
	}
	d := &l.dtmf
	if len(d.queue)+len(digits) > dtmfMaxQueued {
		return fmt.Errorf("media: leg %s: more than %d DTMF digits queued: %w", l.id, dtmfMaxQueued, ErrBadDTMF)
	}
	if len(digits) == 0 {
		return nil
	}
	d.queue = append(d.queue, digits...)
	if !d.active {
		d.active, d.start, d.sent = true, e.now(), 0
		e.dtmfing = append(e.dtmfing, l)
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// dtmfFrames sends the telephone-event packets that are due. The caller
// holds e.routeMu; it reports whether any leg has digits left.
func (e *Engine) dtmfFrames(now int64) bool {
	for i := 0; i < len(e.dtmfing); i++ {
		l := e.dtmfing[i]
		d := &l.dtmf
		p := l.rtp.peer.Load()
		for len(d.queue) > 0 {
			due := (now-d.start)/int64(frameMillis*time.Millisecond) + 1
			if d.sent >= due {
				break
			}
			code, _ := dtmfCode(d.queue[0])
			switch k := d.sent; {
			case k < dtmfEndTick:
				l.out.writeEvent(p, code, uint16((k+1)*frameLen), false, k == 0, now)
			case k == dtmfEndTick:
				for range 3 {
					l.out.writeEvent(p, code, uint16((k+1)*frameLen), true, false, now)
				}
				l.digitsOut.Add(1)
			}
			d.sent++
			if d.sent == dtmfDigitTicks {
				d.queue = d.queue[1:]
				d.sent = 0
				d.start += dtmfDigitTicks * frameMillis * int64(time.Millisecond)
			}
		}
		if len(d.queue) == 0 {
			e.stopDTMFAt(i)
			i--
		}
	}
	return len(e.dtmfing) > 0
}

// stopDTMF drops l's queued digits. The caller holds e.routeMu.
func (e *Engine) stopDTMF(l *Leg) {
	for i, x := range e.dtmfing {
		if x == l {
			e.stopDTMFAt(i)
			return
		}
	}
}

func (e *Engine) stopDTMFAt(i int) {
	l := e.dtmfing[i]
	l.dtmf = dtmfState{}
	l.out.endEvents()
	last := len(e.dtmfing) - 1
	e.dtmfing[i] = e.dtmfing[last]
	e.dtmfing[last] = nil
	e.dtmfing = e.dtmfing[:last]
}

// writeEvent sends one telephone-event packet in the leg's stream: the
// next sequence number; the first packet of an event takes a new
// timestamp (as a new talkspurt does) and the marker bit, the others
// repeat it.
func (o *outStream) writeEvent(p *rtpPeer, code byte, dur uint16, end, first bool, now int64) {
	o.mu.Lock()
	if o.writer == nil || p == nil || p.outEvent < 0 {
		o.mu.Unlock()
		return
	}
	if first {
		o.evTS = o.lastTS + o.step(now)
	}
	o.sendingEvents = true
	seq := o.lastSeq + 1
	h := o.hdr
	h.PayloadType = uint8(p.outEvent)
	h.SequenceNumber = seq
	h.Timestamp = o.evTS
	h.Marker = first
	flags := byte(dtmfVolume)
	if end {
		flags |= 0x80
	}
	payload := [4]byte{code, flags, byte(dur >> 8), byte(dur)}
	n, err := o.writer.WriteRTP(&h, payload[:])
	o.lastSeq, o.lastTS, o.lastAt, o.lastLen = seq, o.evTS, now, int(dur)
	o.started = true
	o.mu.Unlock()
	if err == nil && n > 0 {
		o.leg.pktOut.Add(1)
	}
}

// endEvents lets audio through again after the digits, as a new talkspurt.
func (o *outStream) endEvents() {
	o.mu.Lock()
	o.sendingEvents, o.inSegment = false, false
	o.mu.Unlock()
}

// dtmfIn reports a received telephone-event once: on the first packet
// with a timestamp later than the last event's (updates and the end
// packets repeat it; a late packet of an earlier event is older).
func (l *Leg) dtmfIn(p rtpPacket) {
	r := l.rtp
	if len(p.payload) < 4 {
		return
	}
	if r.dtmfSeen && p.ssrc == r.dtmfSSRC && int32(p.ts-r.dtmfTS) <= 0 {
		return
	}
	r.dtmfSeen, r.dtmfSSRC, r.dtmfTS = true, p.ssrc, p.ts
	if d, ok := dtmfDigit(p.payload[0]); ok {
		l.digitsIn.Add(1)
		l.post(event{kind: evDTMF, digit: d})
	}
}
