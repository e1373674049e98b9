package app

import (
	"context"
	"errors"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
	"github.com/contactd/contactd/signaling/sip"
)

// Agents on SIP phones (voice_device: sip): routing's voice offers to
// them ring their registered phones through the SIP edge
// (signaling/sip/agentphone.go); answering is the agent's accept.

// ReasonPhoneUnregistered is the away reason of an agent on a SIP phone
// who was offered a call with no phone registered.
const ReasonPhoneUnregistered = "phone not registered"

// phoneEffect passes routing's effects to the agents' phones, after their
// chat side is written (the coordinator's observer), so that an Assigned
// finds the agent a participant.
func (a *App) phoneEffect(f routing.Effect) {
	if a.sip == nil || a.sipReg == nil {
		return
	}
	switch f := f.(type) {
	case routing.Offer:
		if f.Channel != routing.ChannelVoice || !a.onSIPPhone(f.Agent) {
			return
		}
		contacts := a.sipReg.Contacts(f.Agent)
		if len(contacts) == 0 {
			// A mature contact center does not ring a phone that is not
			// there: the agent goes away with the reason (the offer is
			// withdrawn and goes to somebody else), and is available
			// again by the desk once the phone is back. Declining alone
			// would bring the same offer back at once to an agent who is
			// the only one.
			a.log.Warn("an agent on a SIP phone was offered a call with no phone registered: set away", "agent", f.Agent)
			go func() {
				ctx, cancel := context.WithTimeout(a.edgeCtx, signaling.CommandTimeout)
				defer cancel()
				if err := a.router.Do(ctx, routing.SetPresence{Agent: f.Agent, Presence: routing.PresenceAway, Reason: ReasonPhoneUnregistered}); err != nil {
					a.log.Warn("agent not set away", "agent", f.Agent, "err", err)
				}
			}()
			return
		}
		rec, _, err := a.chat.Info(a.edgeCtx, store.ConversationID(f.Interaction))
		if err != nil {
			a.log.Warn("no caller for the agent's phone", "conversation", f.Interaction, "err", err)
		}
		name := rec.VisitorName
		number := rec.Attributes["phone"]
		if name == "" {
			name = number
		}
		a.sip.RingAgent(sip.Ring{Conv: store.ConversationID(f.Interaction), Agent: f.Agent, Name: name, Number: number,
			Contacts: contacts, Deadline: f.Deadline})
	case routing.OfferEnded:
		a.sip.StopRinging(store.ConversationID(f.Interaction), f.Agent)
	case routing.Assigned:
		a.sip.AgentAssigned(store.ConversationID(f.Interaction), f.Agent)
	}
}

// onSIPPhone: the agent takes calls on a SIP phone.
func (a *App) onSIPPhone(id routing.AgentID) bool {
	if !a.cfg.SIPOn() {
		return false
	}
	for _, ag := range a.cfg.Agents {
		if ag.ID == id {
			return ag.VoiceDevice == config.VoiceSIP
		}
	}
	return false
}

// agentPhones is the SIP edge's way to act for an agent on a phone: the
// same routing commands and call controls as the desk's.
type agentPhones struct{ a *App }

var _ sip.AgentPhones = agentPhones{}

func (p agentPhones) Answer(ctx context.Context, conv store.ConversationID, agent routing.AgentID) (bool, error) {
	err := p.a.router.Do(ctx, routing.Accept{Agent: agent, Interaction: routing.InteractionID(conv)})
	if err == nil {
		return false, nil
	}
	// Accepted in the desk meanwhile: the phone's leg joins all the same.
	if role, ok, rerr := p.a.chat.RoleOf(ctx, conv, chat.AgentSender(agent)); rerr == nil && ok &&
		(role == chat.RoleOwner || role == chat.RoleConsult) {
		return true, nil
	}
	return false, err
}

func (p agentPhones) Decline(ctx context.Context, conv store.ConversationID, agent routing.AgentID) error {
	return p.a.router.Do(ctx, routing.Decline{Agent: agent, Interaction: routing.InteractionID(conv)})
}

func (p agentPhones) AddLeg(ctx context.Context, conv store.ConversationID, agent routing.AgentID, leg signaling.Leg) (signaling.LegReports, error) {
	return p.a.edges.AddLeg(ctx, conv, chat.AgentSender(agent), leg)
}

func (p agentPhones) HungUp(ctx context.Context, conv store.ConversationID, agent routing.AgentID) error {
	return p.a.edges.AgentEnds(ctx, conv, agent)
}

func (p agentPhones) Hold(ctx context.Context, conv store.ConversationID, agent routing.AgentID, on bool) error {
	_, err := p.a.chat.Hold(ctx, conv, agent, on)
	return err
}

// Transfer: target is an agent's id or SIP username, else a queue's id
// (routing knows its queues: an unknown one is ErrUnknownTarget).
func (p agentPhones) Transfer(ctx context.Context, conv store.ConversationID, agent routing.AgentID, target string) error {
	cmd := routing.Transfer{Agent: agent, Interaction: routing.InteractionID(conv), Mode: routing.TransferBlind}
	if _, err := p.a.st.GetAgent(ctx, routing.AgentID(target)); err == nil {
		cmd.ToAgent = routing.AgentID(target)
	}
	for _, ag := range p.a.cfg.Agents {
		if ag.SIPUsername != "" && ag.SIPUsername == target {
			cmd.ToAgent = ag.ID
		}
	}
	if cmd.ToAgent == "" {
		cmd.ToQueue = routing.QueueID(target)
	}
	err := p.a.router.Do(ctx, cmd)
	var re *routing.Error
	if errors.As(err, &re) && (re.Code == routing.CodeUnknownQueue || re.Code == routing.CodeUnknownAgent) {
		return sip.ErrUnknownTarget
	}
	return err
}
