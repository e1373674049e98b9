package sip

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/contactd/contactd/media"
)

// A caller waiting in a queue who presses the number's MessageKey leaves
// a voice message instead: the caller leaves the queue (an abandon: the
// call lets go of the leg, which the edge keeps), hears AfterTone, and
// what they say is recorded until they hang up or MaxMessage passes
// (then MessageRecorded and a BYE). The recording is stored as a left
// message of the number's queue (Calls.LeaveMessage), with the caller's
// name and the call's context.

// lockedBuffer is written by the recording's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (c *inboundCall) voiceMessage() {
	e, d := c.e, c.d
	c.mu.Lock()
	leg, conv := c.leg, c.conv
	c.mu.Unlock()
	d.log.Info("the caller leaves a voice message")
	// Leave the queue; the call ends and lets the leg go.
	c.left(conv)
	select {
	case <-c.detached:
	case <-d.ctx.Done():
		leg.Close()
		return
	case <-time.After(10 * time.Second):
		d.log.Warn("the call did not let the leg go: no voice message")
		leg.Close()
		d.hangUp(e.ctx, errCallEnded)
		return
	}
	leg.PlayClip(e.cfg.AfterTone, media.SoundSilence)
	if !c.sleep(e.cfg.AfterTone.Duration()) {
		leg.Close()
		return
	}
	var buf lockedBuffer
	stop := leg.Record(&buf)
	timedOut := c.sleep(e.cfg.MaxMessage) // false: the caller hung up
	stop()
	pcm := buf.bytes()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stored := false
	if len(pcm) > 0 {
		if err := e.calls.LeaveMessage(ctx, c.route.Queue, c.name, c.attrs, pcm); err != nil {
			d.log.Warn("voice message not stored", "err", err)
		} else {
			stored = true
			e.m.VoiceMessages.Inc()
		}
	}
	if timedOut && stored && e.cfg.MessageRecorded != nil {
		leg.PlayClip(e.cfg.MessageRecorded, media.SoundSilence)
		c.sleep(e.cfg.MessageRecorded.Duration())
	}
	leg.Close()
	d.hangUp(e.ctx, errCallEnded)
}

// sleep waits for d; false if the dialog ended first.
func (c *inboundCall) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.d.ctx.Done():
		return false
	}
}
