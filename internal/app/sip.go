package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/prompts"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/sip"
)

// newSIP builds the SIP edge (started by Start, closed first by Close).
// Voice must be on: phone calls are voice legs on the media engine.
func (a *App) newSIP() error {
	set, err := prompts.Load(a.cfg.PromptsDir)
	if err != nil {
		return err
	}
	cfgTrunks := a.cfg.Trunks
	if len(cfgTrunks) == 0 && a.cfg.Demo {
		cfgTrunks = demoTrunks
	}
	trunks := make([]sip.Trunk, len(cfgTrunks))
	for i, t := range cfgTrunks {
		st := sip.Trunk{Name: t.Name, Username: t.Username, Password: t.Password,
			Host: t.Host, OutboundProxy: t.OutboundProxy, Transport: t.Transport, DialAllow: dialAllow(a.cfg, t)}
		for _, s := range t.Sources {
			p, err := config.ParseSource(s)
			if err != nil {
				return fmt.Errorf("trunks[%d] (%s): sources %q: %w", i, t.Name, s, err)
			}
			st.Sources = append(st.Sources, p)
		}
		for _, n := range t.Numbers {
			sn := sip.Number{Number: n.Number, Queue: routing.QueueID(n.Queue), Skills: n.Skills,
				Priority: n.Priority, Answer: sip.AnswerMode(n.Answer)}
			if n.MessageKey != "" {
				sn.MessageKey = rune(n.MessageKey[0])
			}
			if len(n.Menu) > 0 {
				var opts []prompts.MenuOption
				for k, o := range n.Menu {
					mo := prompts.MenuOption{Key: o.Key[0]}
					if o.Label != "" {
						pcm, err := prompts.ReadFile(o.Label)
						if err != nil {
							return fmt.Errorf("trunks[%d] (%s): number %s: menu[%d]: label: %w", i, t.Name, n.Number, k, err)
						}
						mo.Label = pcm
					}
					opts = append(opts, mo)
					sn.Menu = append(sn.Menu, sip.MenuOption{Key: rune(o.Key[0]), Queue: routing.QueueID(o.Queue), Skills: o.Skills, Priority: o.Priority})
				}
				sn.MenuClip = a.media.NewClip(append(set.Welcome(), set.Menu(opts)...))
			}
			st.Numbers = append(st.Numbers, sn)
		}
		trunks[i] = st
	}
	eng := a.media
	cfg := sip.Config{PublicAddr: a.cfg.SIPPublicAddr, Domain: a.cfg.SIPDomain, UserAgent: a.cfg.SIPUserAgent,
		DropUnknown: a.cfg.SIPDropUnknown, Trunks: trunks, AnnounceInterval: a.cfg.AnnounceInterval,
		Announcement: func(pos int, wait time.Duration, key rune) *media.Clip {
			pcm := set.Announcement(pos, wait)
			if key != 0 {
				pcm = append(pcm, set.LeaveMessageOffer(byte(key))...)
			}
			return eng.NewClip(pcm)
		},
		InvalidChoice: eng.NewClip(set.InvalidChoice()), AfterTone: eng.NewClip(set.LeaveMessageAfterTone()),
		MessageRecorded: eng.NewClip(set.MessageRecorded()), MaxMessage: signaling.MaxVoiceMessage}
	if a.sipCfg != nil {
		a.sipCfg(&cfg)
	}
	e, err := sip.New(cfg, a.sipLogger(), phoneCalls{coord: a.coord, chat: a.chat, edges: a.edges},
		rtpLegs{a.media}, sip.NewMetrics(a.reg), a.sipHardening(trunks, a.sipHooks))
	if err != nil {
		return err
	}
	e.SetAgentPhones(agentPhones{a})
	a.sip = e
	return nil
}

// demoTrunks: with --demo and no trunk configured, calls from this
// machine to 100 go to sales and to 200 to support (try it with sipp or
// a softphone on the same host).
var demoTrunks = []config.Trunk{{Name: "demo", Sources: []string{"127.0.0.1/32", "::1/128"}, Numbers: []config.TrunkNumber{
	{Number: "100", Queue: "sales", Answer: config.AnswerEarlyMedia},
	{Number: "200", Queue: "support", Answer: config.AnswerEarlyMedia},
}}}

// rtpMedia sets the media engine's RTP settings for phone calls: the
// rtp_ports range, the public address of sip_public_addr (else the first
// of media_public_ips) in their SDP, and the host of media_addr, when it
// names one, as the address RTP binds.
func rtpMedia(m *media.Config, c config.Config) {
	if lo, hi, err := c.RTPPortRange(); err == nil {
		m.RTPPortMin, m.RTPPortMax = lo, hi
	}
	switch {
	case c.SIPPublicAddr != "":
		host := c.SIPPublicAddr
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		m.RTPPublicIP = host
	case len(c.MediaPublicIPs) > 0:
		m.RTPPublicIP = c.MediaPublicIPs[0]
	}
	if h, _, err := net.SplitHostPort(c.MediaAddr); err == nil && h != "" {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			m.RTPAddr = h
		}
	}
}

// sipPositions passes routing's Position effects to the SIP edge (its
// callers' announcements). On the routing goroutine: it does not block.
func (a *App) sipPositions(effs []routing.Effect) {
	for _, f := range effs {
		if p, ok := f.(routing.Position); ok {
			a.sip.Position(store.ConversationID(p.Interaction), p.Position, p.EstimatedWait)
		}
	}
}

// startSIP opens the SIP listeners (sip_listen).
func (a *App) startSIP() error {
	if a.sip == nil {
		return nil
	}
	ls, err := a.cfg.SIPListeners()
	if err != nil {
		return fmt.Errorf("sip_listen: %w", err)
	}
	listen := make([]sip.Listen, len(ls))
	for i, l := range ls {
		listen[i] = sip.Listen{Transport: l.Transport, Addr: l.Addr}
	}
	if err := a.sip.Start(listen); err != nil {
		return err
	}
	a.log.Info("SIP on", "listen", a.sip.Addrs(), "trunks", len(a.cfg.Trunks), "demoTrunk", len(a.cfg.Trunks) == 0 && a.cfg.Demo)
	return nil
}

// phoneCalls is the SIP edge's way into the contact center: the chat
// coordinator starts and ends the caller's conversation, the browser
// edges' call plan takes the caller's leg.
type phoneCalls struct {
	coord *chat.Coordinator
	chat  *chat.Service
	edges *signaling.Server
}

var _ sip.Calls = phoneCalls{}

func (p phoneCalls) StartCaller(ctx context.Context, c sip.Caller) (store.ConversationID, error) {
	rec, err := p.coord.StartCaller(ctx, chat.Caller{ID: c.ID, Queue: c.Queue, Skills: c.Skills, Priority: c.Priority, Name: c.Name, Attributes: c.Attributes})
	return rec.ID, err
}

func (p phoneCalls) AddLeg(ctx context.Context, conv store.ConversationID, leg signaling.Leg) (signaling.LegReports, error) {
	return p.edges.AddLeg(ctx, conv, chat.SenderVisitor, leg)
}

func (p phoneCalls) CallerLeft(ctx context.Context, conv store.ConversationID) error {
	// The call ends first, as the caller's hang-up: once the conversation
	// has ended its call_ended (cause, talk time) could not be stored.
	p.edges.EndCall(ctx, conv, "hangup_visitor")
	return p.coord.VisitorLeft(ctx, conv)
}

// LeaveMessage stores a caller's recording as a left message (WAV).
func (p phoneCalls) LeaveMessage(ctx context.Context, queue routing.QueueID, name string, attrs map[string]string, pcm []byte) error {
	_, err := p.edges.LeaveVoiceMessage(ctx, queue, name, attrs, prompts.WrapPCM(pcm))
	return err
}

// Hold is the hold of the desk's button, on behalf of the conversation's
// owner.
func (p phoneCalls) Hold(ctx context.Context, conv store.ConversationID, on bool) error {
	_, parts, err := p.chat.Info(ctx, conv)
	if err != nil {
		return err
	}
	for who, role := range parts {
		if a, ok := chat.AgentOf(who); ok && role == chat.RoleOwner {
			_, err := p.chat.Hold(ctx, conv, a, on)
			return err
		}
	}
	return fmt.Errorf("no agent holds the call yet")
}
