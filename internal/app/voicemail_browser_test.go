package app

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media/prompts"
)

// A phone caller's voice message (stored as the SIP edge stores it) is in
// the desk's left messages with a player: its length shows, the recording
// answers 200 audio/wav for the agent, and the keyboard plays it.
func TestTheDeskPlaysAVoiceMessage(t *testing.T) {
	browser := testutil.Browser(t)
	a := start(t, testConfig(t, ""), io.Discard)
	setPassword(t, a, "alice", "pw-alice")
	base := "http://" + a.Addr()

	set := prompts.Default()
	speech := append(set.Welcome(), set.Announcement(3, 4*time.Minute)...) // about 6 s
	id, err := a.edges.LeaveVoiceMessage(t.Context(), "sales", "Dana Caller",
		map[string]string{"callerId": "+4930123456", "dialled": "+4930999000"}, prompts.Encode(speech))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store().CreateLeftMessage(t.Context(), store.LeftMessage{ID: "m_text", Queue: "sales", Name: "Zoë",
		Email: "zoe@example.com", Text: "Please call me back about my invoice, any time after 3 pm.", CreatedAt: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().CreateLeftMessage(t.Context(), store.LeftMessage{ID: "m_done", Queue: "sales", Name: "Sam",
		Email: "sam@example.com", Text: "Answered already.", CreatedAt: time.Now().Add(-26 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().MarkLeftMessageHandled(t.Context(), "m_done", "bob", time.Now()); err != nil {
		t.Fatal(err)
	}
	length := fmt.Sprintf("0:%02d", len(speech)/prompts.SampleRate) // the desk's clock() floors

	alice := newPage(t, browser, "alice")
	alice.loginDesk(base, "alice", "pw-alice")
	player := `document.querySelector('#left-list [data-id="` + id + `"] .lm-player')`
	alice.until("the voice message with its player", player+` !== null`)
	alice.until("its length "+length, player+`.querySelector('.lm-dur').textContent === '`+length+`'`)
	alice.until("the written message beside it", `document.querySelector('#left-list [data-id="m_text"] .lm-text')?.textContent.includes('invoice')`)
	if got := alice.js(`document.querySelector('#left-list [data-id="m_text"] .lm-player') === null`); got != true {
		t.Error("a written message has a player")
	}
	if got := alice.js(player + `.querySelector('.lm-play').getAttribute('aria-label')`); !strings.Contains(got.(string), "Dana Caller") || !strings.Contains(got.(string), length) {
		t.Errorf("the play button says %q", got)
	}

	// The recording, fetched as the page's player fetches it.
	alice.js(`window.audioAnswer = ''; fetch('/api/left-messages/` + id + `/audio').then(async (r) =>
		{ window.audioAnswer = r.status + ' ' + r.headers.get('content-type') + ' ' + (await r.arrayBuffer()).byteLength; }); true`)
	alice.until("the recording to answer 200 audio/wav", `window.audioAnswer !== ''`)
	if got, want := alice.js(`window.audioAnswer`), "200 audio/wav "+strconv.Itoa(len(prompts.Encode(speech))); got != want {
		t.Fatalf("the recording answered %q, want %q", got, want)
	}

	if got := alice.js(`document.querySelector('#left-count').textContent`); got != "2" {
		t.Errorf("the count of open messages is %v, want 2", got)
	}
	alice.until("the handled message, marked", `document.querySelector('#left-list [data-id="m_done"]')?.classList.contains('is-handled')`)
	alice.noContrastFailures("the left messages")
	alice.shoot("desk-left-messages")
	// Tab to Play and press Enter: it plays and the position moves.
	alice.do(chromedp.Focus(`#left-list [data-id="`+id+`"] .lm-play`), chromedp.KeyEvent("\r"))
	alice.until("the message to play", player+`.classList.contains('is-playing') && `+player+`.querySelector('.lm-seek').valueAsNumber > 0`)
	alice.shoot("desk-left-messages-playing")
	alice.do(chromedp.KeyEvent(" ")) // Space pauses
	alice.until("the message to pause", `!`+player+`.classList.contains('is-playing')`)
	alice.noContrastFailures("the left messages, a message paused")
}
