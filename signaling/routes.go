package signaling

import (
	"net/http"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// route is one row of the HTTP table: every call the edge serves, who may
// make it, and whether it only reads. docs/PROTOCOL.md ("HTTP") is checked
// against it.
type route struct {
	Pattern string // as http.ServeMux takes it: "METHOD /path"
	// Roles: anyone, or the roles an account needs (a session is required:
	// 401 without one, 403 without one of the roles).
	Roles roles
	Read  bool // changes nothing; a call that does, with a session, needs an allowed Origin
	serve func(s *Server, w http.ResponseWriter, r *http.Request, who caller)
}

// caller is who makes an HTTP call: an account with its session, or
// nobody known (visitors and logging in).
type caller struct {
	account store.Agent
	session string // the session's token hash
	roles   roles
}

// routes is the HTTP table. The WebSocket decides per connection: a
// visitor's token, or a session of an account holding a staff role.
var routes = []route{
	{"GET /ws", roleVisitor | anyStaff, false, (*Server).serveWS},
	{"POST /api/login", anyone, false, (*Server).login},
	{"POST /api/logout", anyone, false, (*Server).logout},
	{"GET /api/me", roleAccount, true, (*Server).me},
	{"GET /api/config/desk", anyStaff, true, (*Server).deskConfig},
	{"GET /api/left-messages", roleAgent, true, (*Server).leftMessages},
	{"POST /api/left-messages/{id}/handled", roleAgent, false, (*Server).markLeftMessageHandled},
	{"GET /api/left-messages/{id}/audio", roleAgent, true, (*Server).leftMessageAudio},
	{"POST /api/widget/session", anyone, false, (*Server).widgetSession},
	{"GET /api/widget/config", anyone, true, (*Server).widgetConfig},
	{"POST /api/widget/leave-message", anyone, false, (*Server).leaveMessage},
	{"OPTIONS /api/widget/", anyone, true, (*Server).preflight},
}

// Register adds the routes to mux, each behind its role check.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range routes {
		mux.HandleFunc(rt.Pattern, s.guard(rt))
	}
}

// guard checks the caller's roles before the route's handler runs: the
// one place where HTTP calls are authorised.
func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var who caller
		if a, hash, ok := s.session(r); ok {
			who = caller{account: a, session: hash, roles: rolesOf(a)}
		}
		switch {
		case rt.Roles == anyone || rt.Roles.has(roleVisitor):
			// Open, or decided by the handler (the WebSocket).
		case who.roles == 0:
			fail(w, http.StatusUnauthorized, CodeUnauthorized, "log in first")
			return
		case !who.roles.has(rt.Roles):
			fail(w, http.StatusForbidden, CodeForbidden, "this is for "+rt.Roles.String())
			return
		}
		// A call that changes something, made with a session, comes from
		// an allowed page (the cookie is SameSite=Strict; this is the
		// second defence against cross-site requests).
		if !rt.Read && r.Method != http.MethodGet && who.session != "" && !s.staffOrigin(r) {
			fail(w, http.StatusForbidden, CodeForbidden, "origin not allowed")
			return
		}
		rt.serve(s, w, r, who)
	}
}

// serves says whether the account is an agent of the queue: it has every
// skill the queue requires, at its level. A queue without requirements is
// served by every agent.
func serves(a store.Agent, q routing.QueueConfig) bool {
	if !rolesOf(a).has(roleAgent) {
		return false
	}
	for _, req := range q.Skills {
		if l := a.Skills[req.Skill]; l == 0 || l < req.MinLevel {
			return false
		}
	}
	return true
}
