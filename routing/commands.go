package routing

// Command is an input of the engine. Commands are plain values so they can
// one day travel between nodes; Engine.Apply dispatches them with a switch.
type Command interface{ isCommand() }

// SetQueue creates or replaces a queue.
type SetQueue struct{ Config QueueConfig }

// RemoveQueue deletes a queue that has nothing waiting.
type RemoveQueue struct{ Queue QueueID }

// SetAgent creates or replaces an agent's routing configuration. A new
// agent starts offline.
type SetAgent struct{ Config AgentConfig }

// RemoveAgent deletes an agent who holds no interaction.
type RemoveAgent struct{ Agent AgentID }

// SetPresence changes what an agent chose: available, away (with a
// reason) or offline.
type SetPresence struct {
	Agent    AgentID
	Presence Presence
	Reason   string
}

// Enqueue places a new interaction into a queue.
type Enqueue struct {
	Interaction    InteractionID
	Queue          QueueID
	Channel        Channel
	Skills         []SkillReq // on top of the queue's
	PreferredAgent AgentID
	Priority       int // higher first; default 0
	// Absent says the customer is not connected yet (a widget session
	// whose page has not opened its connection): it waits, keeping its
	// place, but is offered to nobody and counted ahead of nobody until
	// SetAbsent makes it present.
	Absent bool
}

// SetAbsent says whether the customer of an interaction is away (page
// closed, connection lost) or back. While away, a waiting interaction
// keeps its place but is taken out of the waiting lists: pending offers
// are withdrawn, nobody is offered it, and it counts ahead of nobody; back,
// it is offered again from where it was. For interactions not waiting it
// is only remembered (a blind transfer of an away customer's chat waits
// away).
type SetAbsent struct {
	Interaction InteractionID
	Absent      bool
}

// Accept answers an offer with yes.
type Accept struct {
	Agent       AgentID
	Interaction InteractionID
}

// Decline answers an offer with no; routing offers it to somebody else.
type Decline struct {
	Agent       AgentID
	Interaction InteractionID
}

// Park answers an offer by putting the interaction into the shared parked
// list ("communication queue") from which any eligible agent may Take it.
type Park struct {
	Agent       AgentID
	Interaction InteractionID
}

// Take connects an agent to a parked interaction.
type Take struct {
	Agent       AgentID
	Interaction InteractionID
}

// Abandon says the customer left. While waiting it counts as abandoned; once
// connected it ends the interaction like End.
type Abandon struct{ Interaction InteractionID }

// End ends an interaction; its agent's slot goes into wrap-up if the queue
// has one.
type End struct{ Interaction InteractionID }

// WrapUpDone ends an agent's wrap-up of an interaction before its time
// limit.
type WrapUpDone struct {
	Agent       AgentID
	Interaction InteractionID
}

// TransferMode is blind (hand over as soon as the target accepts) or warm
// (the target joins as a consultation first).
type TransferMode string

// Transfer modes.
const (
	TransferBlind TransferMode = "blind"
	TransferWarm  TransferMode = "warm"
)

// Transfer moves an interaction from its agent to ToAgent or ToQueue (one of
// the two). To an agent, it is offered to that agent only and stays with the
// first agent if declined or not answered. To a queue, blind transfer puts it
// back into waiting at once with Priority raised to at least the given one;
// warm transfer routes a consultation through the queue while the first
// agent keeps the interaction.
type Transfer struct {
	Agent       AgentID
	Interaction InteractionID
	ToAgent     AgentID
	ToQueue     QueueID
	Mode        TransferMode
	Priority    int
}

// CompleteTransfer ends a warm transfer's consultation by handing the
// interaction to the consulted agent; the first agent leaves.
type CompleteTransfer struct {
	Agent       AgentID
	Interaction InteractionID
}

// CancelTransfer withdraws a pending transfer or ends a consultation; the
// first agent keeps the interaction.
type CancelTransfer struct {
	Agent       AgentID
	Interaction InteractionID
}

// SetChannel changes the medium of an interaction, e.g. a connected chat to
// which voice was added (by the visitor or the agent), and back to chat when
// the call ends while the chat goes on. The same channel is a no-op.
//
// A connected interaction moves, for the agent who holds it and for a warm
// transfer's consulted agent, from the old channel's count to the new one;
// if either has no room on the new channel the command fails with
// no_capacity (not_eligible when they take no such channel at all) and
// nothing changes. Only held interactions count for that room: an agent's
// pending offer of another interaction that no longer fits (on the new
// channel, or a chat when a call now blocks chats) is withdrawn and routed
// elsewhere. VoiceBlocksChat stops new chats, never the ones in progress.
//
// Offers of the interaction itself that are in flight are withdrawn and
// made again for the new channel: a waiting interaction or a warm transfer
// through a queue is matched again; a transfer to an agent is offered to
// that agent again if they have room for the new channel, and fails
// otherwise. A parked interaction just changes channel. An interaction in
// wrap-up has ended: wrong_state.
//
// Return says the interaction goes back to the channel it had before (a
// call added to a chat ended, the chat goes on): that never fails for want
// of room, since the agents had it on that channel before; they may be
// above capacity until something ends, and get no new offer meanwhile.
type SetChannel struct {
	Interaction InteractionID
	Channel     Channel
	Return      bool
}

// Tick fires the timers that are due; the loop sends it when its timer
// goes off.
type Tick struct{}

func (SetQueue) isCommand()         {}
func (RemoveQueue) isCommand()      {}
func (SetAgent) isCommand()         {}
func (RemoveAgent) isCommand()      {}
func (SetPresence) isCommand()      {}
func (Enqueue) isCommand()          {}
func (Accept) isCommand()           {}
func (Decline) isCommand()          {}
func (Park) isCommand()             {}
func (Take) isCommand()             {}
func (Abandon) isCommand()          {}
func (End) isCommand()              {}
func (WrapUpDone) isCommand()       {}
func (Transfer) isCommand()         {}
func (CompleteTransfer) isCommand() {}
func (CancelTransfer) isCommand()   {}
func (SetChannel) isCommand()       {}
func (SetAbsent) isCommand()        {}
func (Tick) isCommand()             {}

// timer kinds
type timerKind uint8

const (
	tOffer timerKind = iota + 1
	tMaxWait
	tStep
	tWrapUp
	tPositions
)

// timer is an entry of the engine's deadline heap. Whoever arms a timer
// keeps the pointer and removes it when it no longer applies, so the heap
// only holds live deadlines.
type timer struct {
	at   int64 // on the engine's clock (see Engine.setNow)
	in   *interaction
	ag   *agent
	q    *queue
	idx  int32
	kind timerKind
}

type timerHeap []*timer

func (h timerHeap) less(i, j int) bool { return h[i].at < h[j].at }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = int32(i), int32(j)
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		h.swap(i, m)
		i = m
	}
}

func (h *timerHeap) push(t *timer) {
	t.idx = int32(len(*h))
	*h = append(*h, t)
	h.up(int(t.idx))
}

// remove takes t out of the heap; a nil or already removed t is fine.
func (h *timerHeap) remove(t *timer) {
	if t == nil || t.idx < 0 || int(t.idx) >= len(*h) || (*h)[t.idx] != t {
		return
	}
	s := *h
	i, n := int(t.idx), len(s)-1
	if i != n {
		s.swap(i, n)
	}
	s[n] = nil
	*h = s[:n]
	if i != n {
		h.down(i)
		h.up(i)
	}
	t.idx = -1
}

func (h *timerHeap) pop() *timer {
	t := (*h)[0]
	h.remove(t)
	return t
}
