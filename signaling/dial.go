package signaling

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Click-to-call (call_phone): the agent handling a chat calls the
// visitor's phone. The number is the visitor context's phone field, or
// one the agent types when the account holds one of Voice.DialRoles. The
// Dialer (the SIP edge, wired by internal/app) normalises it to E.164,
// checks it against the allowed destinations, and calls it as the
// conversation's visitor (Server.AddLeg): the phone's leg is the
// visitor's, the agent's desk opens its browser leg as for any call
// (call, needLeg), and the call plan bridges them once the phone
// answers. The chat goes on beside the call.
//
// The agents of the conversation get "phone" messages (dialling,
// ringing, connected, failed with the outcome and a text, ended); the
// conversation's log gets phone_dialled (number, by) and
// phone_call_ended (number, outcome, code, seconds). A call that fails
// or that the customer hangs up ends the voice only: the chat goes on.
// End ends both (the conversation's end ends its call, and the phone
// gets a BYE, or a CANCEL while it rings).

// Dialer places phone calls for call_phone.
type Dialer interface {
	// Dial normalises d.Number, checks it, and calls it as d's
	// conversation's visitor; it returns the number dialled (E.164) once
	// the INVITE is on its way. Errors wrap ErrBadNumber or
	// ErrDialNotAllowed when the number is refused (nothing was sent).
	Dial(ctx context.Context, d DialRequest) (number string, err error)
}

// DialRequest is a call_phone for the Dialer.
type DialRequest struct {
	Conversation store.ConversationID
	Queue        routing.QueueID // its caller ID
	Agent        routing.AgentID
	Number       string // as typed or in the context
	Progress     DialProgress
}

// DialProgress is what the Dialer reports of a call it placed.
type DialProgress struct {
	// Dialling: the number passed the checks (E.164); called before the
	// INVITE is sent, on the caller of Dial.
	Dialling func(number string)
	Ringing  func()
	Answered func()
	// Failed: never answered; outcome busy, no_answer, not_found,
	// forbidden, declined, cancelled, failed; text for the agent.
	Failed func(code int, outcome, text string)
	// Ended: an answered call is over; cause phone_hung_up (the customer),
	// call_ended (our side), server_stopped.
	Ended func(cause string)
}

// Errors a Dialer wraps.
var (
	ErrBadNumber      = &Error{CodeBadRequest, "not a telephone number"}
	ErrDialNotAllowed = &Error{CodeForbidden, "this number may not be called"}
)

// Phone states in "phone" messages.
const (
	PhoneDialling  = "dialling"
	PhoneRinging   = "ringing"
	PhoneConnected = "connected"
	PhoneFailed    = "failed"
	PhoneEnded     = "ended"
)

// Conversation events of click-to-call.
const (
	EvPhoneDialled   = "phone_dialled"    // data: number, by
	EvPhoneCallEnded = "phone_call_ended" // data: number, outcome, code, seconds
)

// phoneCall is a conversation's phone call.
type phoneCall struct {
	number   string
	agent    routing.AgentID
	state    string
	answered time.Time
	done     bool
}

// phoneOut is a "phone" message.
type phoneOut struct {
	Code         int                  `json:"code,omitempty"`
	Conversation store.ConversationID `json:"conversation"`
	Number       string               `json:"number"`
	Outcome      string               `json:"outcome,omitempty"`
	Since        string               `json:"since,omitempty"`
	State        string               `json:"state"`
	Text         string               `json:"text,omitempty"`
	Type         string               `json:"type"`
}

func (cs *calls) phoneOf(conv store.ConversationID) *phoneCall {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.phones[conv]
}

type callPhoneCmd struct {
	Number string `json:"number"`
}

type callPhoneResult struct {
	Number string `json:"number"`
}

// mayDial: the account may type a number.
func (cs *calls) mayDial(r roles) bool {
	allowed := roleSupervisor | roleAdmin
	if len(cs.voice.DialRoles) > 0 {
		allowed = rolesOf(store.Agent{Roles: cs.voice.DialRoles}) &^ roleAccount
	}
	return r.has(allowed)
}

func cmdCallPhone(ctx context.Context, s *Server, r *req, m *callPhoneCmd) (any, error) {
	cs := s.calls
	if !cs.enabled() || cs.voice.Dialer == nil {
		return nil, &Error{CodeUnavailable, "calling phones is not set up on this server (a SIP trunk with outbound settings)"}
	}
	if err := s.mustOwn(ctx, r); err != nil {
		return nil, err
	}
	rec, parts, err := s.chat.Info(ctx, r.conv)
	if err != nil {
		return nil, err
	}
	if rec.Status == store.ConvEnded {
		return nil, chat.ErrEnded
	}
	if _, ok := parts[chat.SenderVisitor]; !ok || strings.HasPrefix(string(r.conv), chat.OperatorPrefix) {
		return nil, fmt.Errorf("%w: there is no visitor to call", chat.ErrWrongRole)
	}
	number := strings.TrimSpace(m.Number)
	if number != "" {
		if !cs.mayDial(r.c.roles) {
			return nil, forbidden("your role may call only the number in the visitor's context")
		}
	} else {
		number = rec.Attributes["phone"]
		if strings.TrimSpace(number) == "" {
			return nil, badRequest("the visitor's context has no phone number")
		}
	}
	cs.mu.Lock()
	if c := cs.m[r.conv]; (c != nil && !c.ended) || cs.phones[r.conv] != nil {
		cs.mu.Unlock()
		return nil, fmt.Errorf("%w: a call is already under way", errWrongCallState)
	}
	pc := &phoneCall{agent: r.agent, state: PhoneDialling}
	cs.phones[r.conv] = pc
	cs.mu.Unlock()
	conv := r.conv
	dialled, err := cs.voice.Dialer.Dial(ctx, DialRequest{Conversation: conv, Queue: rec.Queue, Agent: r.agent, Number: number,
		Progress: DialProgress{
			Dialling: func(n string) {
				cs.mu.Lock()
				pc.number = n
				cs.mu.Unlock()
				if _, err := s.chat.CallEvent(ctx, conv, r.who, EvPhoneDialled, map[string]string{"number": n, "by": string(r.agent)}); err != nil {
					s.log.Warn("call event not stored", "conversation", conv, "err", err)
				}
				cs.phoneState(conv, PhoneDialling, 0, "", "")
			},
			Ringing:  func() { cs.phoneState(conv, PhoneRinging, 0, "", "") },
			Answered: func() { cs.phoneState(conv, PhoneConnected, 0, "", "") },
			Failed: func(code int, outcome, text string) {
				cs.phoneDoneBy(conv, code, outcome, text, "phone_"+outcome)
			},
			Ended: func(cause string) {
				text := "The call ended."
				if cause == "phone_hung_up" {
					text = "The customer hung up; the chat goes on."
				}
				cs.phoneDoneBy(conv, 0, "", text, cause)
			},
		}})
	if err != nil {
		cs.mu.Lock()
		dialling := pc.number != "" && !pc.done
		cs.mu.Unlock()
		if dialling {
			// Checked and recorded as dialled, but not sent (no port, the
			// call refused the leg): the log says so too.
			cs.phoneDone(ctx, conv, 0, "failed", "The call could not be placed.", "not_sent", true)
		}
		cs.mu.Lock()
		if cs.phones[conv] == pc {
			delete(cs.phones, conv)
		}
		cs.mu.Unlock()
		return nil, err
	}
	return callPhoneResult{Number: dialled}, nil
}

// phoneState tells the conversation's agents where its phone call is.
func (cs *calls) phoneState(conv store.ConversationID, state string, code int, outcome, text string) {
	cs.mu.Lock()
	pc := cs.phones[conv]
	if pc == nil || pc.done {
		cs.mu.Unlock()
		return
	}
	p := pc.msg(cs, conv, state, code, outcome, text)
	cs.mu.Unlock()
	cs.sendPhone(conv, p)
}

// msg is the "phone" message of state; the caller holds cs.mu.
func (pc *phoneCall) msg(cs *calls, conv store.ConversationID, state string, code int, outcome, text string) phoneOut {
	if state == PhoneConnected && pc.answered.IsZero() {
		pc.answered = cs.s.now()
	}
	pc.state = state
	p := phoneOut{Code: code, Conversation: conv, Number: pc.number, Outcome: outcome, State: state, Text: text, Type: "phone"}
	if !pc.answered.IsZero() {
		p.Since = rfc3339(pc.answered)
	}
	return p
}

// sendPhone sends p to the conversation's agents.
func (cs *calls) sendPhone(conv store.ConversationID, p phoneOut) {
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	_, parts, err := cs.s.chat.Info(ctx, conv)
	if err != nil {
		return
	}
	for who := range parts {
		if _, ok := chat.AgentOf(who); ok {
			cs.sendTo(conv, who, p)
		}
	}
}

// phoneDone: the phone call is over (never answered, or hung up): the
// agents hear why, the log records it, and (endCall) the call ends: the
// voice only, a chat goes on.
func (cs *calls) phoneDone(ctx context.Context, conv store.ConversationID, code int, outcome, text, cause string, endCall bool) {
	cs.mu.Lock()
	pc := cs.phones[conv]
	if pc == nil || pc.done {
		cs.mu.Unlock()
		return
	}
	pc.done = true
	secs := 0
	if !pc.answered.IsZero() {
		secs = int(cs.s.now().Sub(pc.answered).Round(time.Second).Seconds())
	}
	answered := !pc.answered.IsZero()
	if outcome == "" {
		outcome = "cancelled"
		if answered {
			outcome = "answered"
		}
	}
	state := PhoneEnded
	if !answered {
		state = PhoneFailed
	}
	p := pc.msg(cs, conv, state, code, outcome, text)
	cs.mu.Unlock()
	if endCall {
		cs.endWith(ctx, conv, cause)
	}
	cs.mu.Lock()
	if cs.phones[conv] == pc {
		delete(cs.phones, conv)
	}
	cs.mu.Unlock()
	// Told once the conversation may be called again.
	cs.sendPhone(conv, p)
	data := map[string]string{"number": p.Number, "outcome": outcome, "seconds": strconv.Itoa(secs), "cause": cause}
	if code > 0 {
		data["code"] = strconv.Itoa(code)
	}
	if _, err := cs.s.chat.CallEvent(ctx, conv, chat.SenderSystem, EvPhoneCallEnded, data); err != nil {
		cs.s.log.Info("phone call event not stored", "conversation", conv, "err", err)
	}
}

// phoneDoneBy is phoneDone from the Dialer's reports, on the server's time.
func (cs *calls) phoneDoneBy(conv store.ConversationID, code int, outcome, text, cause string) {
	ctx, cancel := context.WithTimeout(cs.s.baseCtx, CommandTimeout)
	defer cancel()
	cs.phoneDone(ctx, conv, code, outcome, text, cause, true)
}
