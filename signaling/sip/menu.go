package sip

import (
	"time"

	"github.com/contactd/contactd/media"
)

// A number's menu ("for sales, press one; for support, press two"): the
// call is answered, the menu's clip plays on the caller's leg before it
// joins any call, and the first key pressed that the menu has picks the
// queue (with its skills and priority). A key the menu does not have
// plays InvalidChoice and the menu again; no key within MenuTimeout, the
// menu once more; still nothing, the number's own queue.

// menuChoice plays the menu and waits for a key; it returns the route
// chosen, or false if the dialog ended meanwhile.
func (c *inboundCall) menuChoice(leg Leg) (route, bool) {
	r := c.route
	e := c.e
	tries := 0
	play := func(invalid bool) {
		if invalid && e.cfg.InvalidChoice != nil {
			leg.PlayClip(e.cfg.InvalidChoice, media.SoundSilence)
			// The menu follows the apology: PlayClip replaces, so queue
			// it once the apology is out.
			c.after(e.cfg.InvalidChoice.Duration(), func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.inMenu {
					leg.PlayClip(r.MenuClip, media.SoundSilence)
				}
			})
			return
		}
		leg.PlayClip(r.MenuClip, media.SoundSilence)
	}
	play(false)
	timer := time.NewTimer(e.cfg.MenuTimeout + r.MenuClip.Duration())
	defer timer.Stop()
	for {
		select {
		case <-c.d.ctx.Done():
			return route{}, false
		case d := <-c.digits:
			for _, o := range r.Menu {
				if o.Key == d {
					out := r
					out.Queue, out.Skills, out.Priority = o.Queue, o.Skills, o.Priority
					e.m.MenuChoices.WithLabelValues("key").Inc()
					return out, true
				}
			}
			play(true)
			timer.Reset(e.cfg.MenuTimeout + r.MenuClip.Duration())
		case <-timer.C:
			tries++
			if tries >= 2 {
				e.m.MenuChoices.WithLabelValues("timeout").Inc()
				return r, true
			}
			play(false)
			timer.Reset(e.cfg.MenuTimeout + r.MenuClip.Duration())
		}
	}
}

// after runs f after d unless the dialog ended.
func (c *inboundCall) after(d time.Duration, f func()) {
	c.e.goBG(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			f()
		case <-c.d.ctx.Done():
		}
	})
}
