package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/contactd/contactd/internal/testutil"
)

// renderScript draws n messages in a real page through the desk's own path
// (the shared conversation model, the transcript view and the desk's
// message items) and answers how many list nodes it visited (sibling
// steps and items iterated from a live collection, counted by wrapping
// the DOM's own getters), the milliseconds it took, and whether the list
// came out whole and in order. Messages arrive in order, as a replay sends
// them, with a few swapped and a few repeated.
const renderScript = `(async (n) => {
  const { createConversation } = await import('/shared/conversation.js');
  const { createTranscriptView } = await import('/shared/transcript-view.js');
  const { newTranscript, messageItem, systemItem } = await import('/desk/transcript.js');
  let visits = 0;
  for (const [proto, name] of [[Element.prototype, 'previousElementSibling'], [Element.prototype, 'nextElementSibling'],
    [Node.prototype, 'previousSibling'], [Node.prototype, 'nextSibling'], [Node.prototype, 'firstChild'], [Node.prototype, 'lastChild']]) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    Object.defineProperty(proto, name, { ...d, get() { visits++; return d.get.call(this); } });
  }
  for (const C of [HTMLCollection, NodeList]) {
    const it = C.prototype[Symbol.iterator];
    C.prototype[Symbol.iterator] = function* () { for (const x of it.call(this)) { visits++; yield x; } };
  }
  const wrap = document.createElement('div');
  wrap.className = 'transcript-wrap';
  wrap.style.height = '400px';
  document.body.append(wrap);
  const ol = newTranscript();
  wrap.append(ol);
  const conv = createConversation({ id: 'c' });
  const view = createTranscriptView(ol);
  const msgs = [];
  for (let i = 1; i <= n; i++) {
    msgs.push(i % 50 === 0
      ? { seq: i, kind: 'event', event: 'hold', sender: 'agent:a', time: '2026-12-07T10:00:00Z' }
      : { seq: i, kind: 'text', sender: i % 3 ? 'visitor' : 'agent:a', text: 'message ' + i + ' see www.example.com', time: '2026-12-07T10:00:00Z' });
  }
  for (let i = 10; i + 1 < n; i += 997) [msgs[i], msgs[i + 1]] = [msgs[i + 1], msgs[i]];
  for (let i = 5; i < n; i += 1009) msgs.push(msgs[i]);
  const t0 = performance.now();
  for (const m of msgs) {
    const placed = conv.add(m);
    if (!placed.added) continue;
    const li = m.kind === 'event' ? systemItem('On hold', m) : messageItem(m, { mine: false, name: 'Ann' });
    view.put(li, m.seq, placed.before);
  }
  wrap.scrollTop = wrap.scrollHeight; // one layout, as the desk does once per frame
  const ms = performance.now() - t0;
  const counted = visits;
  const seqs = Array.prototype.map.call(ol.children, (li) => Number(li.dataset.seq));
  return { visits: counted, ms, ok: seqs.length === n && seqs.every((s, i) => s === i + 1) };
})`

// A conversation of 13,000 messages must not freeze the desk: drawing it
// costs work linear in its length. The measure is the DOM nodes visited,
// not the wall clock (this machine is shared): 13 times the messages may
// visit at most twice 13 times the nodes of 1,000. The old transcript
// insert walked the list for every message, which grows with the square
// (about 6,500 visits per message at 13,000).
func TestLongTranscriptRendersInLinearTime(t *testing.T) {
	browser := testutil.Browser(t)
	srv := httptest.NewServer(http.FileServerFS(FS()))
	t.Cleanup(srv.Close)

	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The tab lives as long as the context of its first Run: its own.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Visits float64 `json:"visits"`
		Ms     float64 `json:"ms"`
		OK     bool    `json:"ok"`
	}
	draw := func(n int) result {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Minute) // 13,000 items take a while on a loaded machine
		defer rcancel()
		// An HTML page to import modules into (the favicon is an SVG document).
		if _, err := chromedp.Run(rctx, chromedp.Navigate(srv.URL+"/desk/index.html")); err != nil {
			t.Fatal(err)
		}
		r, err := chromedp.Run(rctx, chromedp.Evaluate[result](renderScript+`(`+strconv.Itoa(n)+`)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("drawing %d messages: %v", n, err)
		}
		if !r.OK {
			t.Fatalf("drawing %d messages: the list is not whole and in seq order", n)
		}
		return r
	}
	small := draw(1000)
	large := draw(13000)
	ratio := large.Visits / max(small.Visits, 1)
	t.Logf("1,000 messages: %.0f nodes visited, %.0f ms; 13,000: %.0f nodes, %.0f ms; ratio %.1f (linear: 13, quadratic: 169)",
		small.Visits, small.Ms, large.Visits, large.Ms, ratio)
	if small.Visits < 1000 {
		t.Fatalf("only %.0f node visits counted for 1,000 messages: the count does not see the drawing", small.Visits)
	}
	if ratio > 26 {
		t.Fatalf("13,000 messages visited %.1f times the nodes of 1,000 (%.0f vs %.0f): drawing is not linear", ratio, large.Visits, small.Visits)
	}
}
