// Transcript items for the desk: one <ol> per conversation, kept in seq
// order (unsent ones last) by shared/transcript-view.js; runs of one sender grouped, notes marked as
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

/** nearBottom says whether a scroller is (almost) at its end. */
export function nearBottom(scroller) {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}
