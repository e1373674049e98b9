package sip

import (
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/signaling/callplan"
)

// Announcements: a caller waiting in a queue (its leg told ringback,
// not bridged) hears its position and estimated wait every
// AnnounceInterval, from the prompts (Config.Announcement), then goes
// back to what the plan said. The position comes from routing's Position
// effects (Edge.Position).

var sounds = [...]media.Sound{callplan.Silence: media.SoundSilence, callplan.Ringback: media.SoundRingback, callplan.Music: media.SoundMusic}

// Position records where conv's caller waits (routing's Position effect:
// position from 1, wait -1 when unknown). It does not block: call it from
// routing's effect sink.
func (e *Edge) Position(conv store.ConversationID, position int, wait time.Duration) {
	e.mu.Lock()
	c := e.byConv[conv]
	e.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	c.position, c.wait = position, wait
	c.mu.Unlock()
}

// announce runs while the call lives: every AnnounceInterval, a waiting
// caller hears the announcement.
func (c *inboundCall) announce() {
	e := c.e
	if e.cfg.AnnounceInterval <= 0 || e.cfg.Announcement == nil {
		return
	}
	t := time.NewTicker(e.cfg.AnnounceInterval)
	defer t.Stop()
	for {
		select {
		case <-c.d.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		leg, pos, wait, tone, waiting := c.leg, c.position, c.wait, c.tone, c.toldTone
		c.mu.Unlock()
		// Only while queued (ringback): music means the caller talked to
		// an agent before (hold, a transfer), when the last position is
		// stale.
		if leg == nil || pos <= 0 || !waiting || tone != callplan.Ringback {
			continue
		}
		clip := e.cfg.Announcement(pos, wait, c.route.MessageKey)
		// Under the call's lock: a Hear or a bridge that comes meanwhile
		// replaces the clip, never the other way round.
		c.mu.Lock()
		if c.toldTone && c.tone == tone {
			leg.PlayClip(clip, sounds[tone])
			e.m.Announcements.Inc()
		}
		c.mu.Unlock()
	}
}
