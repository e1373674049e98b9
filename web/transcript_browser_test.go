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
// message items), with a layout at the end, in the best of three runs, and
// answers the milliseconds it took and whether the list came out whole and
// in order. Messages arrive in order, as a replay sends them, with a few
// out of order and a few repeated.
const renderScript = `(async (n) => {
  const { createConversation } = await import('/shared/conversation.js');
  const { createTranscriptView } = await import('/shared/transcript-view.js');
  const { newTranscript, messageItem, systemItem } = await import('/desk/transcript.js');
  let best = Infinity, ok = false;
  for (let run = 0; run < 3; run++) {
    const wrap = document.createElement('div');
    wrap.style.cssText = 'height:400px;overflow:auto';
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
    // A few swapped pairs and repeats, as a resume after a reconnect gives.
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
    const took = performance.now() - t0;
    best = Math.min(best, took);
    const seqs = [...ol.children].map((li) => Number(li.dataset.seq));
    ok = seqs.length === n && seqs.every((s, i) => s === i + 1);
    wrap.remove();
  }
  return { ms: best, ok };
})`

// A conversation of 13,000 messages must not freeze the desk: drawing it
// costs time linear in its length. The measure is relative (13 times the
// messages may take at most about three times 13 the time of 1,000), so a
// loaded machine slows both sides alike; a walk over the list for each
// message (the old transcript insert) made it grow with the square.
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
		Ms float64 `json:"ms"`
		OK bool    `json:"ok"`
	}
	draw := func(n int) result {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, 120*time.Second)
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
	ratio := large.Ms / max(small.Ms, 1)
	t.Logf("1,000 messages: %.1f ms; 13,000: %.1f ms; ratio %.1f (linear: 13, quadratic: 169)", small.Ms, large.Ms, ratio)
	if ratio > 40 {
		t.Fatalf("13,000 messages took %.1f times as long as 1,000 (%.1f ms vs %.1f ms): drawing is not linear", ratio, large.Ms, small.Ms)
	}
}
