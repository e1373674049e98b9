// The transcript: drawing messages, sending, typing notifications.
// The widget's parts share one context w (frame.js).
import { linkify, WIDGET_SCHEMES } from '/shared/linkify.js';
import { h, clear, announce } from '/shared/dom.js';
import { parseTime, timeOfDay, initials } from '/shared/format.js';

export function createTranscript(w) {
  const { el, ui, t } = w;
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

  function addSystem(text, seq, before) {
    const li = h('li', { class: 'sys', dataset: { sender: 'system' } }, h('span', { text }));
    insertBubble(li, typeof seq === 'number' ? seq : null, before);
  }

  // insertBubble places an item as the conversation model says (before the
  // seq `before`, or after every stored one; unsent ones stay last) and
  // follows the end when the reader was there: read once per frame, so a
  // replay of many messages does not force a layout for each.
  let follow = null;
  function insertBubble(li, seq, before = null) {
    if (!follow) {
      const tr = el.transcript;
      follow = { stick: tr.scrollHeight - tr.scrollTop - tr.clientHeight < 60 };
      let done = false;
      const run = () => {
        if (done) return;
        done = true;
        if (follow?.stick) scrollToEnd();
        follow = null;
      };
      requestAnimationFrame(run);
      setTimeout(run, 100);
    }
    if (li.classList.contains('msg-own')) follow.stick = true;
    if (seq !== null && seq !== undefined) w.view.put(li, seq, before);
    else w.view.putUnsent(li);
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
    w.conv.addPending({ id, text });
    w.unsent.set(id, li);
    insertBubble(li, null);
    return li;
  }

  // settle turns a drawn unsent message into a stored one.
  function settle(li, m) {
    li.classList.remove('is-pending', 'is-failed');
    li.querySelector('.msg-state').textContent = '';
    li.querySelector('.msg-time').textContent = timeText(m);
  }

  // trackSend settles a send by its ack, unless the stored message came
  // back first (then the model has settled it already).
  function trackSend(li, promise) {
    const id = li.dataset.id;
    const conv = w.conv;
    promise.then(
      (res) => {
        const time = new Date().toISOString();
        const a = conv.acked(id, Number(res?.seq), time);
        w.unsent.delete(id);
        if (!a || !li.isConnected || conv !== w.conv) return;
        if (a.duplicate) {
          w.view.remove(li); // drawn on its own already: keep one
          return;
        }
        settle(li, { time });
        insertBubble(li, a.pending.seq, a.before);
        if (w.rec) {
          w.rec.messages.push({ conversation: w.rec.conversation, seq: a.pending.seq, sender: 'visitor', kind: 'text', text: a.pending.text, time });
          w.rec.messages.sort((x, y) => x.seq - y.seq);
          w.rec.lastSeq = Math.max(w.rec.lastSeq || 0, a.pending.seq);
          w.save();
        }
      },
      (err) => {
        if (!li.isConnected || err.code === 'closed') return;
        failPending(li, err);
      },
    );
  }

  function failPending(li, err) {
    const id = li.dataset.id;
    const f = w.conv.failed(id, err.code);
    li.classList.remove('is-pending');
    li.classList.add('is-failed');
    const state = clear(li.querySelector('.msg-state'));
    const reason = errorText(err.code);
    state.append(h('span', { text: reason + ' ' }));
    if (f?.retryable) {
      state.append(h('button', {
        type: 'button',
        class: 'link-btn retry',
        text: t('retry'),
        onclick: () => {
          // An error reply means nothing was stored: a new id sends it anew.
          w.conv.drop(id);
          w.unsent.delete(id);
          w.view.remove(li);
          sendText(f.pending.text);
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
    if (!text.trim() || ui.phase === 'ended') return;
    if (ui.held) {
      flashHint(t('errOnHold')); // the draft stays in the box
      return;
    }
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

  return { addPending, addSystem, agentBubble, autosize, clearTyping, errorText, failPending, flashHint, insertBubble, onTyping, ownBubble, scrollToEnd, sendText, settle, stopTyping, timeText, trackSend };
}
