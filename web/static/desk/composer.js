// The reply box: sending messages and notes, typing notifications.
// The desk's parts share one context d (desk.js): its state d.S, its
// elements d.el and the functions each part adds to it.
import { h, clear } from '/shared/dom.js';
import { parseTime, timeOfDay } from '/shared/format.js';
import { createCanned, cannedItems } from '/desk/canned.js';
import { messageItem } from '/desk/transcript.js';
import { MAX_TEXT_BYTES, errText } from '/desk/util.js';

export function createComposer(d) {
  const { S, el } = d;
  // ---------------------------------------------------------------- sending

  // settleItem turns a drawn unsent message into a stored one.
  function settleItem(li, time) {
    li.classList.remove('is-pending', 'is-failed');
    li.querySelector('.msg-state').textContent = '';
    if (time) li.querySelector('.msg-time').textContent = timeOfDay(parseTime(time));
  }

  // sendMessage draws the message as unsent, records it in the
  // conversation's outbox under its command id and sends it; the ack, or
  // the stored message coming back first, settles it in its place.
  function sendMessage(c, text, note) {
    const id = S.client.newId();
    const kind = note ? 'note' : 'text';
    const li = messageItem({ sender: d.myself(), kind, text, time: new Date().toISOString() }, { mine: true, name: S.me.displayName, pending: true });
    li.dataset.id = id;
    c.model.addPending({ id, text, kind });
    c.unsent.set(id, li);
    c.view.putUnsent(li);
    if (S.selected === c.id) d.scrollToEnd();
    S.client.request('send', { conversation: c.id, text, note }, { id, timeout: 0 }).then(
      (res) => {
        const a = c.model.acked(id, Number(res?.seq), res?.time);
        c.unsent.delete(id);
        if (!a) return; // the stored message came first and settled it
        if (a.duplicate) {
          c.view.remove(li); // drawn on its own already
          return;
        }
        settleItem(li, null);
        c.view.put(li, a.pending.seq, a.before);
        if (kind === 'text') c.lastVisitorAt = 0;
        d.updateItem(c);
      },
      (err) => {
        if (err.code === 'closed') return;
        const f = c.model.failed(id, err.code);
        li.classList.remove('is-pending');
        li.classList.add('is-failed');
        const state = clear(li.querySelector('.msg-state'));
        state.append(h('span', { text: `Not sent: ${errText(err)} ` }));
        if (f?.retryable) {
          state.append(h('button', {
            type: 'button', class: 'link-btn', text: 'Retry',
            onclick: () => {
              c.model.drop(id);
              c.unsent.delete(id);
              c.view.remove(li);
              sendMessage(c, text, note);
            },
          }));
        }
      },
    );
  }

  el.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const c = S.convs.get(S.selected);
    if (!c || el.input.disabled) return;
    const text = el.input.value.replace(/\s+$/u, '').replace(/^\s*\n/u, '');
    if (!text.trim()) return;
    if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) {
      d.toast('The message is too long (8 KB at most).', 'error');
      return;
    }
    const note = c.kind !== 'operator' && (c.role === 'consult' || el.note.checked);
    el.input.value = '';
    c.draft = '';
    stopTyping();
    sendMessage(c, text, note);
    d.updateItem(c);
  });

  // The canned picker listens first, so Enter inside it inserts rather than sends.
  S.canned = createCanned({
    input: el.input,
    button: el.cannedBtn,
    popup: el.canned,
    list: el.cannedList,
    empty: el.cannedEmpty,
    items: () => cannedItems(S.config, S.me?.displayName),
  });

  el.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      el.composer.requestSubmit();
    }
  });

  el.note.addEventListener('change', () => {
    stopTyping();
    d.renderConvState();
    el.input.focus();
  });

  // Typing: on at most every 3 s while typing, off after 4 s idle or on send.
  let typingConv = '';
  let typingSentAt = 0;
  let typingIdle = 0;
  el.input.addEventListener('input', () => {
    const c = S.convs.get(S.selected);
    if (!c || !S.client || el.note.checked && c.kind !== 'operator' || c.role === 'consult' || !d.isLive(c)) return;
    if (el.input.value.trim() === '' || el.input.value.startsWith('/')) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (typingConv !== c.id || now - typingSentAt > 3000) {
      if (typingConv && typingConv !== c.id) stopTyping();
      if (S.client.notify('typing', { conversation: c.id, on: true })) {
        typingConv = c.id;
        typingSentAt = now;
      }
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
  });
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingConv) S.client?.notify('typing', { conversation: typingConv, on: false });
    typingConv = '';
  }

  return { settleItem, sendMessage, stopTyping };
}
