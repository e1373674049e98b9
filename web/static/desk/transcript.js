// Transcript rendering for the desk: one <ol> per conversation, messages in
// seq order (unsent ones last), runs of one sender grouped, notes marked as
// private, events as centered grey lines. Text goes in as text; links are
// made by linkify with DOM APIs.
import { h, icon } from '/shared/dom.js';
import { linkify, DESK_SCHEMES } from '/shared/linkify.js';
import { parseTime, timeOfDay, initials } from '/shared/format.js';

export function newTranscript() {
  return h('ol', { class: 'transcript', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
}

/**
 * messageItem builds a text or note message.
 * @param {object} m the message ({sender, senderName, kind, text, time})
 * @param {{mine: boolean, name: string, pending?: boolean}} o
 */
export function messageItem(m, o) {
  const note = m.kind === 'note';
  const side = o.mine ? 'msg-out' : m.sender === 'visitor' ? 'msg-in msg-visitor' : 'msg-in msg-colleague';
  const body = h('div', { class: 'bubble' });
  body.append(linkify(m.text || '', { schemes: DESK_SCHEMES }));
  const who = o.mine ? 'You' : o.name;
  const li = h('li', { class: ['msg', side, note && 'msg-note'], dataset: { sender: (m.sender || '') + (note ? ':note' : '') } },
    !o.mine && h('span', { class: 'msg-avatar', 'aria-hidden': 'true', text: initials(o.name) }),
    h('div', { class: 'msg-col' },
      h('div', { class: 'msg-head' },
        h('span', { class: 'msg-name', text: who }),
        note && h('span', { class: 'note-tag' }, icon('lock'), h('span', { text: 'Private note' })),
        h('span', { class: 'msg-time', text: timeOfDay(parseTime(m.time) || new Date()) })),
      body,
      h('div', { class: 'msg-state' })));
  if (o.pending) {
    li.classList.add('is-pending');
    li.querySelector('.msg-state').textContent = 'Sending…';
  }
  return li;
}

/** systemItem builds a centered event line. */
export function systemItem(text, m) {
  const time = m ? timeOfDay(parseTime(m.time)) : '';
  return h('li', { class: 'sys', dataset: { sender: 'system' } },
    h('span', { text }),
    time && h('span', { class: 'sys-time', text: time }));
}

/** insert puts li into ol in seq order (seq null: at the end). */
export function insert(ol, li, seq) {
  if (seq !== null && seq !== undefined) {
    li.dataset.seq = String(seq);
    let before = null;
    for (const n of ol.children) {
      const s = n.dataset.seq ? Number(n.dataset.seq) : Infinity;
      if (s > seq) { before = n; break; }
    }
    ol.insertBefore(li, before);
  } else {
    ol.append(li);
  }
  regroup(li);
}

function regroup(li) {
  for (const n of [li.previousElementSibling, li, li.nextElementSibling]) {
    if (!n || !n.classList.contains('msg')) continue;
    const prev = n.previousElementSibling;
    const next = n.nextElementSibling;
    n.classList.toggle('run-first', !(prev && prev.classList.contains('msg') && prev.dataset.sender === n.dataset.sender));
    n.classList.toggle('run-last', !(next && next.classList.contains('msg') && next.dataset.sender === n.dataset.sender));
  }
}

/** nearBottom says whether a scroller is (almost) at its end. */
export function nearBottom(scroller) {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}
