package media

import (
	"io"
	"sync"
)

// recordQueue bounds the audio a recording holds while its writer is slow:
// 250 packets, five seconds. Past that, packets are not recorded.
const recordQueue = 250

// recorder writes what a leg receives, decoded to 16-bit little-endian
// linear PCM, on a goroutine of its own, so a slow writer never stalls the
// media path.
type recorder struct {
	law     *codecLaw
	mu      sync.Mutex
	closed  bool
	ch      chan []byte
	done    chan struct{}
	stopped sync.Once
	err     error
}

// Record writes what the leg receives from its peer (not what it hears)
// to w as 16-bit little-endian linear PCM at 8 kHz mono, from now until
// stop is called or the leg ends, for voicemail. Packets are written in
// the order they arrive, without filling gaps; telephone-events are not
// recorded. A second Record stops the first. stop returns once everything
// recorded has been written to w; it may be called more than once. w is
// written on a goroutine of the recording; if it falls five seconds
// behind, audio is dropped.
func (l *Leg) Record(w io.Writer) (stop func()) {
	r := &recorder{law: l.e.law, ch: make(chan []byte, recordQueue), done: make(chan struct{})}
	go r.run(w)
	if old := l.rec.Swap(r); old != nil {
		old.stop()
	}
	if l.isClosed() {
		// The leg's teardown may have run already.
		if l.rec.CompareAndSwap(r, nil) {
			r.stop()
		}
	}
	return func() {
		l.rec.CompareAndSwap(r, nil)
		r.stop()
	}
}

func (r *recorder) run(w io.Writer) {
	defer close(r.done)
	for b := range r.ch {
		if r.err == nil {
			_, r.err = w.Write(b)
		}
	}
}

// add queues one packet's payload, decoded.
func (r *recorder) add(payload []byte) {
	b := make([]byte, 2*len(payload))
	for i, c := range payload {
		v := uint16(r.law.decode[c])
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.ch <- b:
	default:
	}
}

func (r *recorder) stop() {
	r.stopped.Do(func() {
		r.mu.Lock()
		r.closed = true
		close(r.ch)
		r.mu.Unlock()
	})
	<-r.done
}
