package signaling

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// markHandled posts the mark-handled call as id with origin ("" for none).
func (e *edge) markHandled(t *testing.T, id routing.AgentID, msg, origin string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/api/left-messages/"+msg+"/handled", nil)
	req.AddCookie(e.cookie(t, id))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAnAgentMarksALeftMessageOfItsQueuesHandled(t *testing.T) {
	e := newEdge(t, Config{AllowedOrigins: []string{"https://shop.example"}, Queues: []routing.QueueConfig{
		{ID: "billing", Skills: []routing.SkillReq{{Skill: "billing", MinLevel: 1}}}, {ID: "sales"}}})
	e.f.left = []store.LeftMessage{{ID: "m1", Queue: "billing"}, {ID: "m2", Queue: "sales"}}
	for _, tc := range []struct {
		name   string
		who    routing.AgentID
		msg    string
		origin string
		want   int
	}{
		{"without Origin", "ann", "m1", "", http.StatusForbidden},
		{"from an embedding site", "ann", "m1", "https://shop.example", http.StatusForbidden},
		{"by a supervisor", "sue", "m2", "self", http.StatusForbidden},
		{"of a queue the agent does not serve", "bob", "m1", "self", http.StatusNotFound},
		{"unknown", "ann", "m9", "self", http.StatusNotFound},
		{"by an agent of its queue", "ann", "m1", "self", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := tc.origin
			if origin == "self" {
				origin = e.url
			}
			if got := e.markHandled(t, tc.who, tc.msg, origin); got != tc.want {
				t.Fatalf("%d, want %d", got, tc.want)
			}
		})
	}
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.f.left[0].HandledBy != "ann" || e.f.left[0].HandledAt.IsZero() || e.f.left[1].HandledBy != "" {
		t.Fatalf("left messages after the calls: %+v", e.f.left)
	}
}

// Open messages are listed however many handled ones are newer: the
// listing asks the store for open ones, not for the newest of all.
func TestOpenLeftMessagesAreListedBehindManyHandledOnes(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{{ID: "sales"}}})
	now := time.Now()
	for i := range 300 {
		e.f.left = append(e.f.left, store.LeftMessage{ID: fmt.Sprintf("h%03d", i), Queue: "sales", CreatedAt: now, HandledBy: "bob", HandledAt: now})
	}
	e.f.left = append(e.f.left, store.LeftMessage{ID: "old-open", Queue: "sales", CreatedAt: now.Add(-time.Hour)})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/api/left-messages", nil)
	req.AddCookie(e.cookie(t, "ann"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Items []store.LeftMessage }
	decodeJSON(t, resp, &body)
	if n := len(body.Items); n != leftHandledShown+1 || body.Items[n-1].ID != "old-open" {
		t.Fatalf("%d items, the last %+v; want %d handled and the open one last", n, body.Items[n-1], leftHandledShown)
	}
}
