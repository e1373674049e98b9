package signaling

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// roomWithConsult is c1 with a visitor, ann as owner and bob consulted.
func roomWithConsult(id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error) {
	if id != "c1" {
		return store.Conversation{}, nil, chat.ErrUnknownConversation
	}
	return store.Conversation{ID: id, Queue: "sales", Status: store.ConvActive}, map[chat.Sender]chat.Role{
		chat.SenderVisitor: chat.RoleVisitor, chat.AgentSender("ann"): chat.RoleOwner, chat.AgentSender("bob"): chat.RoleConsult}, nil
}

func TestOnlyTheOwnerInvitesIntoAConversation(t *testing.T) {
	e := newEdge(t, Config{})
	e.f.info = roomWithConsult
	e.f.agents["carl"] = store.Agent{ID: "carl", Roles: []store.Role{store.RoleAgent}}
	for _, tc := range []struct {
		name  string
		agent routing.AgentID
		typ   string
		extra map[string]any
	}{
		{"a stranger asking the visitor to a call", "carl", "call_invite", nil},
		{"a consulted colleague asking the visitor to a call", "bob", "call_invite", nil},
		{"a stranger handing the chat to a colleague", "carl", "transfer", map[string]any{"toAgent": "carl", "mode": "warm", "note": "mine now"}},
		{"a consulted colleague handing the chat on", "bob", "transfer", map[string]any{"toQueue": "sales", "mode": "blind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := e.dial(t, tc.agent, "")
			if err != nil {
				t.Fatal(err)
			}
			c.next("hello")
			e.f.reset()
			fields := map[string]any{"conversation": "c1"}
			for k, v := range tc.extra {
				fields[k] = v
			}
			if r := c.do(tc.typ, fields); r == nil || r["code"] != CodeForbidden {
				t.Fatalf("got %v, want forbidden", r)
			}
			if acted := e.f.acted(); len(acted) > 0 {
				t.Fatalf("the refused %s still did %v", tc.typ, acted)
			}
			e.s.hub.mu.Lock()
			note, ok := e.s.hub.notes["c1"]
			e.s.hub.mu.Unlock()
			if ok {
				t.Fatalf("a refused transfer left the note %q for the colleague's offer", note)
			}
		})
	}
	t.Run("the owner's invitation goes on to the call (no voice here)", func(t *testing.T) {
		c, _, err := e.dial(t, "ann", "")
		if err != nil {
			t.Fatal(err)
		}
		c.next("hello")
		if r := c.do("call_invite", map[string]any{"conversation": "c1"}); r["code"] != CodeUnavailable {
			t.Fatalf("got %v, want unavailable (the server has no voice)", r)
		}
	})
}

func TestVisitorsActOnlyInTheirOwnConversation(t *testing.T) {
	e := newEdge(t, Config{})
	e.f.info = conversationOf
	c, _, err := e.dial(t, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	c.next("hello")
	e.f.reset()
	if r := c.do("send", map[string]any{"conversation": "c2", "text": "hi"}); r["code"] != CodeForbidden {
		t.Fatalf("a visitor sending into another conversation: %v", r)
	}
	if r := c.do("send", map[string]any{"text": "hi", "note": true}); r["code"] != CodeForbidden {
		t.Fatalf("a visitor sending a private note: %v", r)
	}
	if acted := e.f.acted(); len(acted) > 0 {
		t.Fatalf("refused commands did %v", acted)
	}
}

func TestLoginNeedsAnAllowedOrigin(t *testing.T) {
	e := newEdge(t, Config{AllowedOrigins: []string{"https://shop.example"}})
	hash, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	a := e.f.agents["ann"]
	a.PasswordHash = hash
	e.f.agents["ann"] = a
	for _, tc := range []struct {
		name, origin string
		want         int
	}{
		{"without Origin", "", http.StatusForbidden},
		{"from a foreign site", "https://evil.example", http.StatusForbidden},
		{"from the server's own page", e.url, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.f.reset()
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/api/login", strings.NewReader(`{"id":"ann","password":"pw"}`))
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("login %s: %d, want %d", tc.name, resp.StatusCode, tc.want)
			}
			made := slices.Contains(e.f.acted(), "CreateSession")
			if made != (tc.want == http.StatusOK) {
				t.Fatalf("login %s: session created: %v", tc.name, made)
			}
		})
	}
	t.Run("logout without Origin", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/api/logout", nil)
		req.AddCookie(e.cookie(t, "ann"))
		e.f.reset()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || slices.Contains(e.f.acted(), "DeleteSession") {
			t.Fatalf("logout without Origin: %d, calls %v", resp.StatusCode, e.f.acted())
		}
	})
}

func TestErrorsCarryTheirCodeFromWhereTheyAreMade(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("send: %w", chat.ErrOnHold), CodeOnHold},
		{fmt.Errorf("%w: only the owner", chat.ErrWrongRole), CodeForbidden},
		{chat.ErrInvalidText, CodeInvalidText},
		{chat.ErrNotCommitted, CodeUnavailable},
		{&routing.Error{Code: routing.CodeNotAssigned}, CodeForbidden},
		{fmt.Errorf("accept: %w", &routing.Error{Code: routing.CodeOfferExpired}), CodeOfferExpired},
		{fmt.Errorf("contactd stops: %w", ErrDraining), CodeDraining},
		{fmt.Errorf("%w: pending", errWrongCallState), CodeWrongState},
		{badRequest("x"), CodeBadRequest},
		{context.DeadlineExceeded, CodeUnavailable},
		{errBoom, CodeInternal},
	} {
		if got, _ := codeOf(tc.err); got != tc.code {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.code)
		}
	}
	for _, c := range []routing.Code{routing.CodeInvalid, routing.CodeUnknownQueue, routing.CodeUnknownAgent, routing.CodeUnknownSkill,
		routing.CodeUnknownInteraction, routing.CodeDuplicate, routing.CodeNotOffered, routing.CodeOfferExpired, routing.CodeAlreadyAccepted,
		routing.CodeNotAssigned, routing.CodeWrongState, routing.CodeAgentUnavailable, routing.CodeNoCapacity, routing.CodeNotEligible, routing.CodeClosed} {
		if _, ok := routingCodes[c]; !ok {
			t.Errorf("routing's %s has no protocol code", c)
		}
	}
}

// docTable reads the rows of the markdown table under heading (up to the
// next heading): the first cell of each row, unquoted, and the rest.
func docTable(t *testing.T, heading string) map[string][]string {
	t.Helper()
	f, err := os.Open("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			in = strings.TrimLeft(line, "# ") == heading
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[strings.Trim(cells[0], "`")] = cells[1:]
	}
	return rows
}

var codeRe = regexp.MustCompile("`([a-z_]+)`")

func TestTheProtocolDocumentsTheCommandTableAndNothingElse(t *testing.T) {
	rows := docTable(t, "Commands")
	for typ, row := range commands {
		cells, ok := rows[typ]
		if !ok {
			t.Errorf("%s is not documented under Commands", typ)
			continue
		}
		// | type | who | conversation | sent again | fields | result |
		if len(cells) < 5 {
			t.Errorf("%s: the row has %d cells", typ, len(cells)+1)
			continue
		}
		if cells[0] != row.Roles.String() {
			t.Errorf("%s: the docs say it is for %q, the table %q", typ, cells[0], row.Roles.String())
		}
		if want := map[bool]string{true: "yes", false: "no"}[row.Conv]; cells[1] != want {
			t.Errorf("%s: conversation %q in the docs, %q in the table", typ, cells[1], want)
		}
		if want := repeatDoc[row.Repeat]; cells[2] != want {
			t.Errorf("%s: sent again %q in the docs, %q in the table", typ, cells[2], want)
		}
	}
	for typ := range rows {
		if _, ok := commands[typ]; !ok {
			t.Errorf("the docs list %s, which is no command", typ)
		}
	}
}

// repeatDoc is how docs/PROTOCOL.md says what a repeated id does.
var repeatDoc = map[repeat]string{repeatCached: "first reply", repeatRead: "runs again", repeatChat: "first reply", repeatActs: "acts again",
	repeatStored: "first reply, after a restart too"}

func TestTheProtocolDocumentsTheHTTPTableAndNothingElse(t *testing.T) {
	rows := docTable(t, "HTTP")
	for _, rt := range routes {
		cells, ok := rows[rt.Pattern]
		if !ok {
			t.Errorf("%s is not documented under HTTP", rt.Pattern)
			continue
		}
		if !strings.HasPrefix(cells[0], rt.Roles.String()) {
			t.Errorf("%s: the docs say it is for %q, the table %q", rt.Pattern, cells[0], rt.Roles.String())
		}
	}
	for p := range rows {
		if !slices.ContainsFunc(routes, func(rt route) bool { return rt.Pattern == p }) {
			t.Errorf("the docs list %s, which is no route", p)
		}
	}
}

func TestTheProtocolListsEveryErrorCode(t *testing.T) {
	f, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(f)
	i := strings.Index(doc, "### Error codes")
	j := strings.Index(doc[i:], "\n### ")
	listed := map[string]bool{}
	for _, m := range codeRe.FindAllStringSubmatch(doc[i:i+j], -1) {
		listed[m[1]] = true
	}
	for _, c := range slices.Concat(slices.Collect(maps.Values(routingCodes)), []string{ErrDraining.Code, chat.ErrOnHold.Code, chat.ErrInvalidText.Code, chat.ErrConflict.Code, CodeUnknownType, CodeRateLimited, CodeInternal, CodeUnauthorized}) {
		if !listed[c] {
			t.Errorf("the code %s is not in the docs' list", c)
		}
	}
}

func TestACallThatChangesSomethingWithASessionNeedsAnAllowedOrigin(t *testing.T) {
	e := newEdge(t, Config{})
	body := `{"queue":"sales","name":"V","email":"v@example.com","text":"call me"}`
	for _, tc := range []struct {
		name    string
		session bool
		want    int
	}{
		{"with a session and no Origin", true, http.StatusForbidden},
		{"without a session (a program, not a browser)", false, http.StatusCreated},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/api/widget/leave-message", strings.NewReader(body))
		if tc.session {
			req.AddCookie(e.cookie(t, "ann"))
		}
		e.f.reset()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if stored := slices.Contains(e.f.acted(), "CreateLeftMessage"); stored != (tc.want == http.StatusCreated) {
			t.Errorf("%s: stored %v", tc.name, stored)
		}
	}
}
