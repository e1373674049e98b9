package app

import (
	"io"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
)

// An agent marks a left message handled from the desk's list: the item
// shows who handled it, the count of open ones drops, and the store has
// the mark.
func TestTheDeskMarksALeftMessageHandled(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()
	for _, m := range []store.LeftMessage{
		{ID: "m_one", Queue: "sales", Name: "Zoë", Email: "zoe@example.com", Text: "Please call me back.", CreatedAt: time.Now().Add(-time.Hour)},
		{ID: "m_two", Queue: "sales", Name: "Sam", Email: "sam@example.com", Text: "Another question.", CreatedAt: time.Now().Add(-2 * time.Hour)},
	} {
		if err := a.Store().CreateLeftMessage(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	alice := newPage(t, browser, "alice")
	alice.loginDesk(base, "alice", "pw-alice")
	alice.until("two open messages", `document.querySelector('#left-count').textContent === '2'`)
	alice.press(`#left-list [data-id="m_one"] .lm-done`)
	alice.until("the message shown handled", `document.querySelector('#left-list [data-id="m_one"]').classList.contains('is-handled')`)
	if got := alice.js(`document.querySelector('#left-list [data-id="m_one"] .lm-handled').textContent`); got != "Handled by Alice Martin" {
		t.Errorf("the handled message says %q", got)
	}
	if got := alice.js(`[document.querySelector('#left-count').textContent, !!document.querySelector('#left-list [data-id="m_one"] .lm-done'), !!document.querySelector('#left-list [data-id="m_two"] .lm-done')].join(' ')`); got != "1 false true" {
		t.Errorf("count, button on the handled one, button on the open one: %v; want 1, false, true", got)
	}
	got, err := a.Store().ListLeftMessages(t.Context(), store.LeftMessageFilter{ID: "m_one"}, 1)
	if err != nil || len(got) != 1 || got[0].HandledBy != "alice" {
		t.Fatalf("stored: %+v %v; want handled by alice", got, err)
	}
}
