package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
)

// Open left messages stay listed however many newer ones are handled, on
// both stores, and an agent marks one handled.
func TestOpenLeftMessagesStayListedAndAreMarkedHandled(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, _, _ := chatWorld(t, cfg)
		ctx := t.Context()
		now := time.Now().UTC()
		open := store.LeftMessage{ID: "m-open", Queue: "sales", Name: "Ann", Email: "ann@example.com", Text: "call me", CreatedAt: now.Add(-time.Hour)}
		if err := a.Store().CreateLeftMessage(ctx, open); err != nil {
			t.Fatal(err)
		}
		for i := range 250 {
			id := fmt.Sprintf("m-%03d", i)
			if err := a.Store().CreateLeftMessage(ctx, store.LeftMessage{ID: id, Queue: "sales", Name: "B", Email: "b@example.com", Text: "hi", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := a.Store().MarkLeftMessageHandled(ctx, id, "bob", now); err != nil {
				t.Fatal(err)
			}
		}
		hc := login(t, base, "alice", "pw-alice")
		list := func() map[string]store.LeftMessage {
			t.Helper()
			resp, err := hc.Get(base + "/api/left-messages")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Items []store.LeftMessage }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			out := map[string]store.LeftMessage{}
			for _, m := range body.Items {
				out[m.ID] = m
			}
			return out
		}
		if m, ok := list()["m-open"]; !ok || m.HandledBy != "" {
			t.Fatalf("the open message behind 250 handled ones: listed %v, %+v", ok, m)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/left-messages/m-open/handled", nil)
		req.Header.Set("Origin", base)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("mark handled: %d", resp.StatusCode)
		}
		if m, ok := list()["m-open"]; ok && m.HandledBy == "" {
			t.Fatalf("still listed as open after the mark: %+v", m)
		}
		got, err := a.Store().ListLeftMessages(ctx, store.LeftMessageFilter{ID: "m-open"}, 1)
		if err != nil || len(got) != 1 || got[0].HandledBy != "alice" || got[0].HandledAt.IsZero() {
			t.Fatalf("stored after the mark: %+v %v", got, err)
		}
	})
}
