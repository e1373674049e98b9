package signaling

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/contactd/contactd/internal/store"
)

// roles is a set of the roles a caller holds: visitor, or the staff roles
// of an account (an account may hold several, or none).
type roles uint8

const (
	roleVisitor roles = 1 << iota
	roleAgent
	roleSupervisor
	roleAdmin
	roleAccount // any logged-in account, whatever its roles (none included)

	anyStaff = roleAgent | roleSupervisor | roleAdmin
	anyone   = roleVisitor | anyStaff | roleAccount
)

// allRoles names every role, in the order docs list them.
var allRoles = []struct {
	r    roles
	name string
}{{roleVisitor, "visitor"}, {roleAgent, "agent"}, {roleSupervisor, "supervisor"}, {roleAdmin, "admin"}}

func (r roles) has(any roles) bool { return r&any != 0 }

func (r roles) String() string {
	switch r {
	case anyone:
		return "anyone"
	case roleAccount:
		return "any account"
	}
	var names []string
	for _, x := range allRoles {
		if r.has(x.r) {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ", ")
}

// rolesOf is the set of staff roles of an account; unknown role names
// grant nothing.
func rolesOf(a store.Agent) roles {
	r := roleAccount
	for _, x := range a.Roles {
		switch x {
		case store.RoleAgent:
			r |= roleAgent
		case store.RoleSupervisor:
			r |= roleSupervisor
		case store.RoleAdmin:
			r |= roleAdmin
		}
	}
	return r
}

// repeat says what a command sent again with the same id does.
type repeat uint8

const (
	repeatCached repeat = iota // it changes something: the first reply is sent again, nothing acts twice
	repeatRead                 // a read: it runs again
	repeatChat                 // the chat service knows the id (send): it answers the first result
	repeatActs                 // it acts again (call_offer: a new leg replaces the first)
	// repeatStored is repeatCached across restarts too: the id and the
	// first reply are kept in the store (Config.Commands). For the
	// commands that hand a conversation between routing and chat.
	repeatStored
)

// command is one row of the command table: everything the edge knows of
// a WebSocket command's type. The table decides decoding, who may send
// it, whether it acts on a conversation, what a repeated id does, and is
// what docs/PROTOCOL.md is checked against.
type command struct {
	Type  string
	Roles roles // who may send it; the others get forbidden
	// Conv: it acts on one conversation; a visitor's own, or the one an
	// agent names in the field conversation (missing: bad_request).
	Conv   bool
	Repeat repeat
	Silent bool // no reply when it succeeds, and the id may be left out (typing, ice)
	// decode reads the command's own fields and returns it bound to its
	// handler.
	decode func(data []byte) (bound, error)
}

// bound is a decoded command ready to run.
type bound func(ctx context.Context, s *Server, r *req) (any, error)

// def makes a table row whose message decodes into a T and runs h.
func def[T any](typ string, who roles, conv bool, rp repeat, h func(ctx context.Context, s *Server, r *req, m *T) (any, error)) command {
	return command{Type: typ, Roles: who, Conv: conv, Repeat: rp, decode: func(data []byte) (bound, error) {
		m := new(T)
		if err := json.Unmarshal(data, m); err != nil {
			return nil, badRequest("not a valid command: " + err.Error())
		}
		return func(ctx context.Context, s *Server, r *req) (any, error) { return h(ctx, s, r, m) }, nil
	}}
}

func silent(c command) command { c.Silent = true; return c }

// Shorthands for the table.
const (
	onConv = true
	noConv = false
	talk   = roleVisitor | roleAgent // the two sides of a conversation
)

// commands is the browser protocol's command table (docs/PROTOCOL.md,
// "Commands" and "Voice"). Visitors act on their own conversation only;
// agents take and handle interactions. Supervisors and administrators
// send none of these unless the account also holds the agent role.
var commands = tableOf(
	def("send", talk, onConv, repeatChat, cmdSend),
	silent(def("typing", talk, onConv, repeatRead, cmdTyping)),
	def("end", talk, onConv, repeatStored, cmdEnd),
	def("resume", talk, noConv, repeatRead, cmdResume),
	def("presence", roleAgent, noConv, repeatCached, cmdPresence),
	def("accept", roleAgent, noConv, repeatStored, cmdAccept),
	def("decline", roleAgent, noConv, repeatCached, cmdDecline),
	def("park", roleAgent, noConv, repeatCached, cmdPark),
	def("take", roleAgent, noConv, repeatStored, cmdTake),
	def("hold", roleAgent, onConv, repeatCached, cmdHold),
	def("unhold", roleAgent, onConv, repeatCached, cmdUnhold),
	def("wrapup_done", roleAgent, onConv, repeatCached, cmdWrapUpDone),
	def("transfer", roleAgent, onConv, repeatStored, cmdTransfer),
	def("transfer_complete", roleAgent, onConv, repeatStored, cmdTransferComplete),
	def("transfer_cancel", roleAgent, onConv, repeatCached, cmdTransferCancel),
	def("history", roleAgent, onConv, repeatRead, cmdHistory),
	def("operator_chat", roleAgent, noConv, repeatCached, cmdOperatorChat),
	def("call_offer", talk, onConv, repeatActs, cmdCallOffer),
	silent(def("ice", talk, onConv, repeatRead, cmdICE)),
	def("call_hangup", talk, onConv, repeatCached, cmdCallHangup),
	def("call_decline", roleVisitor, onConv, repeatCached, cmdCallDecline),
	def("call_invite", roleAgent, onConv, repeatCached, cmdCallInvite),
	def("call_gain", roleAgent, onConv, repeatCached, cmdCallGain),
	def("call_phone", roleAgent, onConv, repeatCached, cmdCallPhone),
)

func tableOf(cs ...command) map[string]command {
	m := make(map[string]command, len(cs))
	for _, c := range cs {
		if _, dup := m[c.Type]; dup {
			panic("signaling: command " + c.Type + " twice in the table")
		}
		m[c.Type] = c
	}
	return m
}
