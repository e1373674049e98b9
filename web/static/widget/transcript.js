// The transcript: drawing messages, sending, typing notifications.
// The widget's parts share one context w (frame.js).
import { linkify, WIDGET_SCHEMES } from '/shared/linkify.js';
import { h, clear, announce } from '/shared/dom.js';
import { parseTime, timeOfDay, initials } from '/shared/format.js';

export function createTranscript(w) {
  const { el, ui, seen, t } = w;
  // transcript rendering

  function timeText(m) {
    return timeOfDay(parseTime(m?.time) || new Date());
  }

  function ownBubble(text, m) {
    const body = h('div', { class: 'bubble' });
    body.textContent = text;
    return h('li', { class: 'msg msg-own', dataset: { sender: 'visitor' } },
      h('span', { class: 'sr-only', text: t('you') + ': ' }),
      body,
      h('div', { class: 'msg-meta' }, h('span', { class: 'msg-time', text: timeText(m) }), h('span', { class: 'msg-state' })));
  }

  function agentBubble(m) {
    const body = h('div', { class: 'bubble' });
    body.append(linkify(m.text || '', { schemes: WIDGET_SCHEMES }));
    const name = m.senderName || w.nameOf(m.sender);
    return h('li', { class: 'msg msg-agent', dataset: { sender: m.sender || '' } },
      h('span', { class: 'msg-avatar', 'aria-hidden': 'true', text: initials(name) }),
      h('div', { class: 'msg-col' },
        h('span', { class: 'msg-name', text: name }),
        body,
        h('div', { class: 'msg-meta' }, h('span', { class: 'msg-time', text: timeText(m) }))));
  }

  function addSystem(text, seq) {
    const li = h('li', { class: 'sys', dataset: { sender: 'system' } }, h('span', { text }));
    insertBubble(li, typeof seq === 'number' ? seq : null);
  }

  // insertBubble keeps the transcript in seq order; unsent messages stay last.
  function insertBubble(li, seq) {
    const tr = el.transcript;
    const stick = tr.scrollHeight - tr.scrollTop - tr.clientHeight < 60 || li.classList.contains('msg-own');
    if (seq !== null && seq !== undefined) {
      li.dataset.seq = String(seq);
      let before = null;
      for (const n of el.transcript.children) {
        const s = n.dataset.seq ? Number(n.dataset.seq) : Infinity;
        if (s > seq) { before = n; break; }
      }
      el.transcript.insertBefore(li, before);
    } else {
      el.transcript.append(li);
    }
    regroup(li);
    if (stick) scrollToEnd();
  }

  // regroup marks runs of messages from one sender so only the first shows
  // the name and avatar, and only the last the time.
  function regroup(li) {
    for (const n of [li.previousElementSibling, li, li.nextElementSibling]) {
      if (!n || !n.classList.contains('msg')) continue;
      const prev = n.previousElementSibling;
      const next = n.nextElementSibling;
      n.classList.toggle('run-first', !(prev && prev.classList.contains('msg') && prev.dataset.sender === n.dataset.sender));
      n.classList.toggle('run-last', !(next && next.classList.contains('msg') && next.dataset.sender === n.dataset.sender));
    }
  }

  function scrollToEnd() {
    const tr = el.transcript;
    tr.scrollTop = tr.scrollHeight;
  }

  // sending

  function addPending(text, id) {
    const li = ownBubble(text, null);
    li.classList.add('is-pending');
    li.dataset.id = id;
    li.dataset.text = text;
    li.querySelector('.msg-state').textContent = t('sending');
    insertBubble(li, null);
    return li;
  }

  function findPendingByText(text) {
    for (const li of el.transcript.querySelectorAll('.msg-own.is-pending')) {
      if (li.dataset.text === text) return li;
    }
    return null;
  }

  function confirmPending(li, m) {
    if (!li.classList.contains('is-pending')) return;
    li.classList.remove('is-pending', 'is-failed');
    li.querySelector('.msg-state').textContent = '';
    li.querySelector('.msg-time').textContent = timeText(m);
    li.remove();
    seen.add(m.seq);
    insertBubble(li, m.seq);
  }

  function trackSend(li, promise) {
    promise.then(
      (res) => {
        if (!li.isConnected) return;
        const seq = Number(res?.seq);
        if (li.classList.contains('is-pending') && Number.isFinite(seq)) {
          if (seen.has(seq)) {
            // The message event came first and was drawn on its own: keep one.
            const other = el.transcript.querySelector(`[data-seq="${seq}"]`);
            if (other && other !== li) { li.remove(); return; }
          }
          seen.add(seq);
          confirmPending(li, { seq, time: new Date().toISOString() });
          if (w.rec) {
            w.rec.messages.push({ conversation: w.rec.conversation, seq, sender: 'visitor', kind: 'text', text: li.dataset.text, time: new Date().toISOString() });
            w.rec.messages.sort((a, b) => a.seq - b.seq);
            w.rec.lastSeq = Math.max(w.rec.lastSeq || 0, seq);
            w.save();
          }
        }
      },
      (err) => {
        if (!li.isConnected || err.code === 'closed') return;
        failPending(li, err);
      },
    );
  }

  function failPending(li, err) {
    li.classList.remove('is-pending');
    li.classList.add('is-failed');
    const state = clear(li.querySelector('.msg-state'));
    const reason = errorText(err.code);
    state.append(h('span', { text: reason + ' ' }));
    if (err.code !== 'ended' && err.code !== 'too_long' && err.code !== 'invalid_text') {
      state.append(h('button', {
        type: 'button',
        class: 'link-btn retry',
        text: t('retry'),
        onclick: () => {
          // An error reply means nothing was stored: a new id sends it anew.
          const text = li.dataset.text;
          li.remove();
          sendText(text);
        },
      }));
    }
    announce(el.live, reason);
  }

  function errorText(code) {
    return {
      on_hold: t('errOnHold'),
      too_long: t('errTooLong'),
      invalid_text: t('errInvalid'),
      ended: t('errEnded'),
      rate_limited: t('errRate'),
      draining: t('errDraining'),
      unauthorized: t('errExpired'),
      timeout: t('errTimeout'),
    }[code] || t('errSend');
  }

  function sendText(text) {
    if (!w.client || !w.rec) return;
    const id = w.client.newId();
    const li = addPending(text, id);
    trackSend(li, w.client.request('send', { text }, { id, timeout: 0 }));
  }

  el.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = el.input.value.replace(/\s+$/u, '').replace(/^\s*\n/u, '');
    if (!text.trim() || ui.held || ui.phase === 'ended') return;
    if (new TextEncoder().encode(text).length > w.MAX_TEXT_BYTES) {
      flashHint(t('errTooLong'));
      return;
    }
    el.input.value = '';
    autosize();
    stopTyping();
    sendText(text);
    el.input.focus();
  });

  el.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      el.composer.requestSubmit();
    }
  });

  let hintTimer = 0;
  function flashHint(text) {
    clearTimeout(hintTimer);
    el.hint.textContent = text;
    el.hint.classList.add('is-error');
    hintTimer = setTimeout(() => {
      el.hint.classList.remove('is-error');
      clear(el.hint).append(h('span', { text: t('enterHint') }));
    }, 4000);
  }

  // The textarea grows with its text up to five lines (rows, not styles).
  const fieldSizing = globalThis.CSS?.supports?.('field-sizing', 'content');
  function autosize() {
    if (fieldSizing) return;
    el.input.rows = 1;
    const lh = parseFloat(getComputedStyle(el.input).lineHeight) || 20;
    const pad = el.input.scrollHeight - el.input.clientHeight;
    const lines = Math.round((el.input.scrollHeight - Math.max(0, pad)) / lh);
    el.input.rows = Math.min(5, Math.max(1, lines));
  }

  // typing

  let typingOn = false;
  let typingSentAt = 0;
  let typingIdle = 0;
  el.input.addEventListener('input', () => {
    autosize();
    if (!w.client || ui.phase === 'ended') return;
    if (el.input.value.trim() === '') {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (!typingOn || now - typingSentAt > 3000) {
      if (w.client.notify('typing', { on: true })) {
        typingOn = true;
        typingSentAt = now;
      }
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
  });

  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingOn) w.client?.notify('typing', { on: false });
    typingOn = false;
  }

  function onTyping(m) {
    if (!w.rec || (m.conversation && m.conversation !== w.rec.conversation) || m.sender === 'visitor') return;
    if (!m.on) {
      clearTyping();
      return;
    }
    const name = w.nameOf(m.sender, ui.agent?.name);
    clear(el.typing).append(
      h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
      h('span', { text: t('isTyping', { name }) }),
    );
    el.typing.classList.add('is-on');
    clearTimeout(ui.typingTimer);
    ui.typingTimer = setTimeout(clearTyping, 6000);
  }

  function clearTyping() {
    clearTimeout(ui.typingTimer);
    el.typing.classList.remove('is-on');
    clear(el.typing);
  }

  return { addPending, addSystem, agentBubble, autosize, clearTyping, confirmPending, errorText, failPending, findPendingByText, flashHint, insertBubble, onTyping, ownBubble, regroup, scrollToEnd, sendText, stopTyping, timeText, trackSend };
}
