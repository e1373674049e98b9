// The agent desk: sign-in, presence, incoming requests, the communication
// queue, colleagues, and the conversations (visitor chats, consultations and
// operator-to-operator rooms) over one WebSocket (docs/PROTOCOL.md).
//
// createDesk builds one context d (state S, elements el, and the functions
// of every part) and hands it to each part's factory: session (sign-in,
// connection, presence), people (colleagues, communication queue), convs
// (conversation state and server messages), convview (list and main pane),
// composer (reply box), actions (hold, end, transfer, wrap-up) and
// leftmsgs (the left messages, with a player for voice messages).
import { h, icon } from '/shared/dom.js';
import { clock, since } from '/shared/format.js';
import { unlockAudioOnGesture, audioReady, chime } from '/desk/sound.js';
import { readPref } from '/desk/util.js';
import { deskElements } from '/desk/elements.js';
import { createSession } from '/desk/session.js';
import { createPeople } from '/desk/people.js';
import { createConvs } from '/desk/convs.js';
import { createConvView } from '/desk/convview.js';
import { createComposer } from '/desk/composer.js';
import { createActions } from '/desk/actions.js';
import { createLeftMessages } from '/desk/leftmsgs.js';

export function createDesk() {
  const el = deskElements();
  const S = {
    me: null, // {id, displayName, roles}
    config: { queues: [], canned: [], invitation: '' },
    /** @type {ProtocolClient|null} */
    client: null,
    /** @type {Map<string, Conv>} */
    convs: new Map(),
    selected: '',
    operators: [],
    parked: [],
    names: new Map(), // agent id -> display name
    state: { presence: 'offline', reason: '', state: 'offline', since: Date.now() },
    quietUntil: 0, // messages before this (right after a hello) are not "new"
    offerNotes: new Map(), // conversation -> transfer info from the accepted offer
    pendingSelect: '', // a conversation to open when its assigned arrives
    waited: new Map(), // conversation -> seconds the visitor waited (from the offer or the queue)
    offers: null,
    canned: null,
    infoOpen: readPref('desk.info', true),
  };

  /**
   * @typedef {object} Conv
   * @property {string} id
   * @property {'visitor'|'operator'} kind
   * @property {'owner'|'consult'} role
   */


  const d = { S, el };
  d.myself = () => `agent:${S.me?.id}`;
  d.agentName = (id) => {
    if (!id) return '';
    const bare = id.startsWith('agent:') ? id.slice(6) : id;
    if (bare === S.me?.id) return S.me.displayName || bare;
    return S.names.get(bare) || bare;
  };
  d.toast = (text, kind = 'info') => {
    const t = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status' },
      icon(kind === 'error' || kind === 'warn' ? 'alert' : 'check'), h('span', { text }));
    el.toasts.append(t);
    setTimeout(() => t.classList.add('is-leaving'), 4500);
    setTimeout(() => t.remove(), 4800);
  };
  for (const part of [createSession, createPeople, createConvs, createConvView, createComposer, createActions, createLeftMessages]) {
    Object.assign(d, part(d));
  }
  el.leftRefresh.append(icon('refresh'));

  // ---------------------------------------------------------------- keyboard and clock

  document.addEventListener('keydown', (ev) => {
    // Alt+Up / Alt+Down: previous / next conversation.
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey && (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') && S.convs.size) {
      ev.preventDefault();
      const ids = [...S.convs.keys()];
      const i = ids.indexOf(S.selected);
      const next = ids[(i + (ev.key === 'ArrowDown' ? 1 : -1) + ids.length) % ids.length];
      d.select(next);
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    const c = S.convs.get(S.selected);
    if (c && c.unread) {
      c.unread = 0;
      d.updateItem(c);
      d.renderTitle();
    }
  });

  setInterval(() => {
    if (el.desk.hidden) return;
    const now = Date.now();
    for (const c of S.convs.values()) {
      if (c.typing && c.typing.until <= now) {
        c.typing = null;
        d.updateItem(c);
        if (S.selected === c.id) d.renderTyping(c);
      } else {
        d.tickItem(c);
      }
      if (c.status === 'wrapup' && c.wrapDeadline <= now) {
        d.closeConv(c, 'Wrap-up over');
      }
    }
    const c = S.convs.get(S.selected);
    if (c) {
      d.tickHeader(c);
      d.tickWrapup(c);
    }
    for (const t of el.parkedList.querySelectorAll('.parked-since')) t.textContent = clock(since(Number(t.dataset.since)));
    el.stateTime.textContent = clock(since(S.state.since));
  }, 1000);

  // boot

  async function boot() {
    unlockAudioOnGesture(() => { el.soundBtn.hidden = true; });
    el.soundBtn.addEventListener('click', () => {
      setTimeout(() => {
        el.soundBtn.hidden = audioReady();
        if (audioReady()) chime(); // a sample of what a request sounds like
      }, 50);
    });
    const { me, status } = await d.fetchMe();
    if (me && me.id) d.enter(me);
    else d.showLogin(status === 0 ? "Can't reach the server right now; you can still try to sign in." : '');
  }

  return { boot };
}

createDesk().boot();
