package signaling

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Voice configures calls on the edges.
type Voice struct {
	// Legs makes the browsers' legs: BrowserLegsOn(the media engine).
	Legs BrowserLegs
	// ICEServers are handed to browsers (STUN/TURN) with their sessions.
	ICEServers []ICEServer
	// ReloadGrace is how long a call waits for the visitor or the owner
	// whose leg went away (a page reload closes the peer connection) to
	// open a new one before it ends; default 10 s. A leg that received no
	// audio for the media timeout ends the call at once: it has waited
	// long enough.
	ReloadGrace time.Duration
	// Dialer places phone calls for call_phone (click-to-call, dial.go);
	// nil: call_phone is unavailable.
	Dialer Dialer
	// DialRoles may type a number for call_phone (without one, only the
	// number in the visitor's context is called); empty: supervisor and
	// admin.
	DialRoles []store.Role
	// OnPhone says an agent takes calls on a SIP phone (voice_device:
	// sip): the SIP edge adds that agent's leg (AddLeg), so the desk is
	// never asked to open one (needLeg false).
	OnPhone func(routing.AgentID) bool
}

func (v Voice) withDefaults() Voice {
	if v.ReloadGrace <= 0 {
		v.ReloadGrace = 10 * time.Second
	}
	return v
}

// ICEServer is one STUN or TURN server as browsers take it.
type ICEServer struct {
	URLs       []string `json:"urls" yaml:"urls"`
	Username   string   `json:"username,omitempty" yaml:"username"`
	Credential string   `json:"credential,omitempty" yaml:"credential"`
}

// ErrNoVoice is returned for voice commands when voice is not enabled.
var ErrNoVoice = &Error{CodeUnavailable, "voice is not available on this server"}

// errNoCall: no call in the conversation (or it ended).
var errNoCall = &Error{CodeNotFound, "there is no call in this conversation"}

// calls is the server's calls, one per conversation at most.
type calls struct {
	seq   atomic.Uint64 // makes leg ids unique
	s     *Server
	voice Voice
	mu    sync.Mutex
	m     map[store.ConversationID]*call
	// phones: conversations whose visitor's voice is a phone we called
	// (dial.go).
	phones map[store.ConversationID]*phoneCall
}

func newCalls(s *Server) *calls {
	return &calls{s: s, m: map[store.ConversationID]*call{}, phones: map[store.ConversationID]*phoneCall{}}
}

func (cs *calls) enabled() bool { return cs.voice.Legs != nil }

func (cs *calls) get(id store.ConversationID) *call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.m[id]
}

// remove forgets c, unless another call took its place.
func (cs *calls) remove(c *call) {
	cs.mu.Lock()
	if cs.m[c.conv] == c {
		delete(cs.m, c.conv)
	}
	cs.mu.Unlock()
}

// active reports the conversations with a call, for the drain and tests.
func (cs *calls) active() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.m)
}

// sendTo delivers p to a participant's connections.
func (cs *calls) sendTo(conv store.ConversationID, who chat.Sender, p any) {
	if who == chat.SenderVisitor && cs.phoneOf(conv) != nil {
		return // the visitor talks on the phone: the widget opens no leg
	}
	h := cs.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if who == chat.SenderVisitor {
		h.toVisitor(string(conv), p)
	} else if a, ok := chat.AgentOf(who); ok {
		h.toAgent(a, p)
	}
}

type outMsg struct {
	who chat.Sender
	p   callOut
}

func (cs *calls) flush(conv store.ConversationID, msgs []outMsg) {
	for _, m := range msgs {
		cs.sendTo(conv, m.who, m.p)
	}
}

// closeAll ends every call (the server stops).
func (cs *calls) closeAll(cause string) {
	cs.mu.Lock()
	list := make([]*call, 0, len(cs.m))
	for _, c := range cs.m {
		list = append(list, c)
	}
	cs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	for _, c := range list {
		cs.end(ctx, c, cause, false)
	}
}

// snapshot sends a reconnecting client the calls it takes part in.
func (cs *calls) snapshot(c *conn) {
	if !cs.enabled() {
		return
	}
	cs.mu.Lock()
	var list []*call
	if c.agent == "" {
		if cl := cs.m[store.ConversationID(c.conversation)]; cl != nil {
			list = append(list, cl)
		}
	} else {
		for _, cl := range cs.m {
			list = append(list, cl)
		}
	}
	cs.mu.Unlock()
	who := chat.SenderVisitor
	if c.agent != "" {
		who = chat.AgentSender(routing.AgentID(c.agent))
	}
	for _, cl := range list {
		if c.agent != "" {
			if _, ok, _ := cs.s.chat.RoleOf(c.ctx, cl.conv, who); !ok {
				continue
			}
		}
		cl.mu.Lock()
		var p *callOut
		if !cl.ended && (cl.state != CallInvited || who == chat.SenderVisitor) {
			m := cl.msgFor(who, "")
			if cl.invited && who == chat.SenderVisitor {
				m.State = CallInvited
			}
			if m.NeedLeg != nil && !cs.onPhone(who) {
				// A desk that connects again has no leg of its own: the
				// server's may belong to the page that was closed.
				need := true
				m.NeedLeg = &need
			}
			p = &m
		}
		cl.mu.Unlock()
		if p != nil {
			c.send(p)
		}
	}
}

func (s *Server) iceServers() []ICEServer {
	if s.calls.voice.ICEServers == nil {
		return []ICEServer{}
	}
	return s.calls.voice.ICEServers
}

// onPhone: who is an agent whose voice is a SIP phone (Voice.OnPhone).
func (cs *calls) onPhone(who chat.Sender) bool {
	a, ok := chat.AgentOf(who)
	return ok && cs.voice.OnPhone != nil && cs.voice.OnPhone(a)
}
