package signaling

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// The policy, written out apart from the table it checks: who may send
// each command. Visitors act in their own conversation; agents take and
// handle interactions; supervisors and administrators send none of these
// unless they hold the agent role too.
var wantCommandRoles = map[string]string{
	"send": "visitor agent", "typing": "visitor agent", "end": "visitor agent", "resume": "visitor agent",
	"presence": "agent", "accept": "agent", "decline": "agent", "park": "agent", "take": "agent",
	"hold": "agent", "unhold": "agent", "wrapup_done": "agent", "transfer": "agent",
	"transfer_complete": "agent", "transfer_cancel": "agent", "history": "agent", "operator_chat": "agent",
	"call_offer": "visitor agent", "ice": "visitor agent", "call_hangup": "visitor agent",
	"call_decline": "visitor", "call_invite": "agent", "call_gain": "agent", "call_phone": "agent",
}

// Fields that let each command get past decoding.
var sampleFields = map[string]map[string]any{
	"send": {"text": "hi"}, "typing": {"on": true}, "resume": {"after": 0}, "presence": {"presence": "available"},
	"accept": {"interaction": "c1"}, "decline": {"interaction": "c1"}, "park": {"interaction": "c1"}, "take": {"interaction": "c1"},
	"transfer": {"toQueue": "sales", "mode": "blind"}, "history": {"after": 0}, "operator_chat": {"agent": "bob"},
	"call_offer": {"sdp": "v=0"}, "ice": {"candidate": map[string]any{"candidate": ""}}, "call_gain": {"gain": 1},
}

func TestTheCommandTableHoldsThePolicy(t *testing.T) {
	for typ, want := range wantCommandRoles {
		row, ok := commands[typ]
		if !ok {
			t.Errorf("%s is not in the table", typ)
			continue
		}
		var got []string
		for _, r := range allRoles {
			if row.Roles.has(r.r) {
				got = append(got, r.name)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s may be sent by %q, want %q", typ, got, want)
		}
	}
	for typ := range commands {
		if _, ok := wantCommandRoles[typ]; !ok {
			t.Errorf("%s is in the table but not in the policy of this test", typ)
		}
	}
}

// conversationOf is c1 with a visitor and ann as its owner.
func conversationOf(id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error) {
	if id != "c1" {
		return store.Conversation{}, nil, chat.ErrUnknownConversation
	}
	return store.Conversation{ID: id, Queue: "sales", Status: store.ConvActive},
		map[chat.Sender]chat.Role{chat.SenderVisitor: chat.RoleVisitor, chat.AgentSender("ann"): chat.RoleOwner}, nil
}

func TestEveryCommandUnderEveryRole(t *testing.T) {
	e := newEdge(t, Config{})
	e.f.info = conversationOf
	for _, who := range []struct {
		name  string
		agent routing.AgentID
		conv  string
		role  string
	}{
		{"a visitor", "", "c1", "visitor"},
		{"an agent", "ann", "", "agent"},
		{"a supervisor", "sue", "", "supervisor"},
		{"an administrator", "adam", "", "admin"},
	} {
		t.Run(who.name, func(t *testing.T) {
			c, _, err := e.dial(t, who.agent, who.conv)
			if err != nil {
				t.Fatal(err)
			}
			c.next("hello")
			for typ := range commands {
				fields := map[string]any{"conversation": "c1"}
				for k, v := range sampleFields[typ] {
					fields[k] = v
				}
				allowed := slices.Contains(strings.Fields(wantCommandRoles[typ]), who.role)
				e.f.reset()
				r := c.do(typ, fields)
				switch {
				case !allowed && (r == nil || r["code"] != CodeForbidden):
					t.Errorf("%s sent %s: %v, want forbidden", who.name, typ, r)
				case !allowed && len(e.f.acted()) > 0:
					t.Errorf("%s's refused %s still called %v", who.name, typ, e.f.acted())
				case allowed && r != nil && (r["code"] == CodeForbidden || r["code"] == CodeUnknownType || r["code"] == CodeBadRequest):
					t.Errorf("%s sent %s: %v, want it to run", who.name, typ, r)
				}
			}
		})
	}
	t.Run("an account holding no staff role", func(t *testing.T) {
		_, resp, err := e.dial(t, "nora", "")
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("the desk of an account without roles: %v %v, want 403", resp, err)
		}
	})
}

func TestSupervisorsAndAdministratorsGetNoAgentDesk(t *testing.T) {
	e := newEdge(t, Config{})
	for _, id := range []routing.AgentID{"sue", "adam"} {
		c, _, err := e.dial(t, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if h := c.next("hello"); h["role"] != "staff" {
			t.Fatalf("%s's hello: %v, want role staff", id, h)
		}
		// No presence of their own: the next message is the shared list.
		for {
			m := c.next("parked")
			if m != nil {
				break
			}
		}
		if r := c.do("accept", map[string]any{"interaction": "c1"}); r["code"] != CodeForbidden {
			t.Fatalf("%s accepting: %v", id, r)
		}
	}
	if acted := e.f.acted(); slices.Contains(acted, "Do") {
		t.Fatalf("routing was asked on behalf of staff without the agent role: %v", acted)
	}
}

func TestEveryEndpointUnderEveryRole(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{{ID: "sales"}}})
	hash, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	ann := e.f.agents["ann"]
	ann.PasswordHash = hash
	e.f.agents["ann"] = ann
	// The policy: who may make each call (anyone: no account needed).
	want := map[string]string{
		"GET /ws":                              "visitor agent supervisor admin",
		"POST /api/login":                      "anyone",
		"POST /api/logout":                     "anyone",
		"GET /api/me":                          "any account",
		"GET /api/config/desk":                 "agent supervisor admin",
		"GET /api/left-messages":               "agent",
		"GET /api/left-messages/{id}/audio":    "agent",
		"POST /api/left-messages/{id}/handled": "agent",
		"POST /api/widget/session":             "anyone",
		"GET /api/widget/config":               "anyone",
		"POST /api/widget/leave-message":       "anyone",
		"OPTIONS /api/widget/":                 "anyone",
	}
	if len(want) != len(routes) {
		t.Fatalf("%d routes, the policy of this test has %d", len(routes), len(want))
	}
	callers := []struct {
		name, role string
		agent      routing.AgentID
	}{
		{"nobody logged in", "visitor", ""},
		{"an agent", "agent", "ann"},
		{"a supervisor", "supervisor", "sue"},
		{"an administrator", "admin", "adam"},
		{"an account holding no staff role", "none", "nora"},
	}
	for _, rt := range routes {
		policy, ok := want[rt.Pattern]
		if !ok {
			t.Errorf("%s is not in the policy of this test", rt.Pattern)
			continue
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		for _, c := range callers {
			body := "{}"
			if path == "/api/login" {
				body = `{"id":"ann","password":"pw"}` // a wrong one is 401 for everybody
			}
			req, _ := http.NewRequestWithContext(t.Context(), method, e.url+path, strings.NewReader(body))
			req.Header.Set("Origin", e.url)
			if c.agent != "" {
				req.AddCookie(e.cookie(t, c.agent))
			} else if path == "/ws" {
				tok, _ := e.sign.Sign("c1", e.s.now().Add(3600e9))
				req.URL.RawQuery = "token=" + tok
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var allowed bool
			switch {
			case policy == "anyone":
				allowed = true
			case policy == "any account":
				allowed = c.agent != ""
			default:
				allowed = slices.Contains(strings.Fields(policy), c.role)
			}
			refused := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
			if allowed == refused {
				t.Errorf("%s by %s: %d, allowed: %v", rt.Pattern, c.name, resp.StatusCode, allowed)
			}
			if refused && c.agent == "" && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s without a session: %d, want 401", rt.Pattern, resp.StatusCode)
			}
		}
	}
}

func TestLeftMessagesReachOnlyTheAgentsOfTheirQueue(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{
		{ID: "billing", Skills: []routing.SkillReq{{Skill: "billing", MinLevel: 1}}}, {ID: "sales"}}})
	e.f.left = []store.LeftMessage{{ID: "m1", Queue: "billing"}, {ID: "m2", Queue: "sales"}, {ID: "m3", Queue: "gone"}}
	for id, want := range map[routing.AgentID]string{"ann": "m1 m2 m3", "bob": "m2 m3"} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/api/left-messages", nil)
		req.AddCookie(e.cookie(t, id))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Items []store.LeftMessage }
		decodeJSON(t, resp, &body)
		var got []string
		for _, m := range body.Items {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%s sees %v, want %s", id, got, want)
		}
	}
}

func TestOnlyAgentsAreSignedOutWhenTheirDeskStaysClosed(t *testing.T) {
	e := newEdge(t, Config{VisitorGrace: time.Millisecond})
	signedOut := make(chan routing.AgentID, 4)
	e.f.do = func(cmd routing.Command) error {
		if p, ok := cmd.(routing.SetPresence); ok && p.Presence == routing.PresenceOffline {
			signedOut <- p.Agent
		}
		return nil
	}
	for _, id := range []routing.AgentID{"sue", "ann"} {
		c, _, err := e.dial(t, id, "")
		if err != nil {
			t.Fatal(err)
		}
		c.next("hello")
		c.ws.CloseNow()
		testutil.Eventually(t, "the desk of "+string(id)+" to be gone after the grace", func() bool {
			e.s.hub.mu.Lock()
			defer e.s.hub.mu.Unlock()
			return len(e.s.hub.agents) == 0 && len(e.s.hub.away) == 0
		})
	}
	// sue's timer ran before ann's desk opened: only ann was signed out.
	if got := <-signedOut; got != "ann" {
		t.Fatalf("signed out %s, want ann only", got)
	}
	select {
	case got := <-signedOut:
		t.Fatalf("signed out %s as well", got)
	default:
	}
}
