// The agent desk: sign-in, presence, incoming requests, the communication
// queue, colleagues, and the conversations (visitor chats, consultations and
// operator-to-operator rooms) over one WebSocket (docs/PROTOCOL.md).
import { ProtocolClient, wsURL, STATUS } from '/shared/protocol.js';
import { h, $, icon, clear, announce } from '/shared/dom.js';
import { clock, parseTime, initials, safeHttpURL, since, timeOfDay } from '/shared/format.js';
import { createOffers } from '/desk/offers.js';
import { createCanned, cannedItems } from '/desk/canned.js';
import { unlockAudioOnGesture, audioReady, blip, chime } from '/desk/sound.js';
import { newTranscript, messageItem, systemItem, insert, nearBottom } from '/desk/transcript.js';
import { createCalls } from '/desk/call.js';

const MAX_TEXT_BYTES = 8 << 10;

const el = {
  live: $('#live'),
  liveUrgent: $('#live-urgent'),
  boot: $('#boot'),
  login: $('#login'),
  loginForm: $('#login-form'),
  loginSub: $('#login-sub'),
  loginId: $('#login-id'),
  loginPassword: $('#login-password'),
  loginError: $('#login-error'),
  loginBtn: $('#login-btn'),
  desk: $('#desk'),
  conn: $('#conn'),
  connText: $('#conn-text'),
  statePill: $('#state-pill'),
  stateText: $('#state-text'),
  stateTime: $('#state-time'),
  presence: $('#presence'),
  awayBox: $('#away-box'),
  awayReason: $('#away-reason'),
  awayOther: $('#away-other'),
  notifyBtn: $('#notify-btn'),
  soundBtn: $('#sound-btn'),
  meAvatar: $('#me-avatar'),
  meName: $('#me-name'),
  logout: $('#logout'),
  offers: $('#offers'),
  convList: $('#conv-list'),
  convCount: $('#conv-count'),
  convEmpty: $('#conv-empty'),
  parkedList: $('#parked-list'),
  parkedCount: $('#parked-count'),
  parkedEmpty: $('#parked-empty'),
  opsList: $('#ops-list'),
  opsCount: $('#ops-count'),
  opsEmpty: $('#ops-empty'),
  emptyMain: $('#empty-main'),
  conv: $('#conv'),
  convAvatar: $('#conv-avatar'),
  convName: $('#conv-name'),
  convStatus: $('#conv-status'),
  convMeta: $('#conv-meta'),
  convTimer: $('#conv-timer'),
  actHold: $('#act-hold'),
  actTransfer: $('#act-transfer'),
  actComplete: $('#act-complete'),
  actCancel: $('#act-cancel'),
  actEnd: $('#act-end'),
  actClose: $('#act-close'),
  actInfo: $('#act-info'),
  banner: $('#conv-banner'),
  transcriptWrap: $('#transcript-wrap'),
  typing: $('#typing'),
  wrapup: $('#wrapup'),
  wrapupLeft: $('#wrapup-left'),
  wrapupProgress: $('#wrapup-progress'),
  wrapupDone: $('#wrapup-done'),
  composer: $('#composer'),
  input: $('#input'),
  note: $('#note'),
  noteToggle: $('#note-toggle'),
  cannedBtn: $('#canned-btn'),
  canned: $('#canned'),
  cannedList: $('#canned-list'),
  cannedEmpty: $('#canned-empty'),
  send: $('#send'),
  info: $('#info'),
  toasts: $('#toasts'),
  transferDialog: $('#transfer-dialog'),
  transferForm: $('#transfer-form'),
  transferAgent: $('#transfer-agent'),
  transferAgentField: $('#transfer-agent-field'),
  transferQueue: $('#transfer-queue'),
  transferQueueField: $('#transfer-queue-field'),
  transferNote: $('#transfer-note'),
  transferError: $('#transfer-error'),
  transferSubmit: $('#transfer-submit'),
  transferCancel: $('#transfer-cancel'),
  endDialog: $('#end-dialog'),
  endText: $('#end-text'),
};

// ---------------------------------------------------------------- state

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

function readPref(key, dflt) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? dflt : v === '1';
  } catch {
    return dflt;
  }
}
function writePref(key, on) {
  try { localStorage.setItem(key, on ? '1' : '0'); } catch { /* private mode */ }
}

function str(v) {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
function obj(v) {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}
const myself = () => `agent:${S.me?.id}`;
function agentName(id) {
  if (!id) return '';
  const bare = id.startsWith('agent:') ? id.slice(6) : id;
  if (bare === S.me?.id) return S.me.displayName || bare;
  return S.names.get(bare) || bare;
}

// ---------------------------------------------------------------- toasts and errors

function toast(text, kind = 'info') {
  const t = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status' },
    icon(kind === 'error' || kind === 'warn' ? 'alert' : 'check'), h('span', { text }));
  el.toasts.append(t);
  setTimeout(() => t.classList.add('is-leaving'), 4500);
  setTimeout(() => t.remove(), 4800);
}

const ERRORS = {
  forbidden: 'You are not allowed to do that here.',
  not_found: 'This conversation or colleague no longer exists.',
  ended: 'The conversation has ended.',
  wrong_state: "That can't be done right now.",
  unavailable: 'Not available right now.',
  rate_limited: 'Too many actions at once. Slow down a little.',
  draining: 'The server is restarting. Try again shortly.',
  too_long: 'The message is too long.',
  invalid_text: 'The message contains characters that cannot be sent.',
  on_hold: 'The conversation is on hold.',
  timeout: 'No answer from the server.',
  conflict: 'That request clashed with an earlier one. Please retry.',
  bad_request: 'The server did not understand the request.',
  unauthorized: 'Your session has ended.',
  internal: 'Something went wrong on the server.',
};
function errText(err) {
  return ERRORS[err?.code] || err?.message || 'Something went wrong.';
}

// ---------------------------------------------------------------- sign in and out

async function fetchMe() {
  try {
    const r = await fetch('/api/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (r.ok) return { me: await r.json(), status: r.status };
    return { me: null, status: r.status };
  } catch {
    return { me: null, status: 0 };
  }
}

function showLogin(message) {
  el.boot.hidden = true;
  el.desk.hidden = true;
  el.login.hidden = false;
  el.loginSub.textContent = message || 'Use the account your administrator gave you.';
  el.loginSub.classList.toggle('is-warn', !!message);
  el.loginPassword.value = '';
  (el.loginId.value ? el.loginPassword : el.loginId).focus();
}

el.loginForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (el.loginBtn.disabled) return;
  const id = el.loginId.value.trim();
  const password = el.loginPassword.value;
  el.loginError.textContent = '';
  if (!id || !password) {
    el.loginError.textContent = 'Enter your user name and password.';
    (id ? el.loginPassword : el.loginId).focus();
    return;
  }
  busy(el.loginBtn, true, 'Signing in…');
  try {
    const r = await fetch('/api/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ id, password }),
    });
    if (r.status === 200 || r.status === 201) {
      const me = await r.json().catch(() => ({ id }));
      enter({ id, ...me });
      return;
    }
    el.loginError.textContent =
      r.status === 401 ? 'Wrong user name or password.' :
      r.status === 429 ? 'Too many attempts. Wait a minute and try again.' :
      r.status === 503 ? 'The server is restarting. Try again shortly.' :
      `Can't sign in right now (HTTP ${r.status}).`;
    el.loginPassword.value = '';
    el.loginPassword.focus();
  } catch {
    el.loginError.textContent = "Can't reach the server. Check your connection.";
  } finally {
    busy(el.loginBtn, false);
  }
});

function busy(btn, on, label) {
  btn.disabled = on;
  btn.setAttribute('aria-busy', on ? 'true' : 'false');
  if (on) {
    if (!btn.dataset.label) btn.dataset.label = btn.textContent.trim();
    clear(btn).append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text: label || btn.dataset.label }));
  } else if (btn.dataset.label) {
    clear(btn).append(h('span', { text: btn.dataset.label }));
    delete btn.dataset.label;
  }
}

el.logout.addEventListener('click', async () => {
  el.logout.disabled = true;
  try {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  } catch { /* the session dies with the cookie anyway */ }
  el.logout.disabled = false;
  leave();
  showLogin('You have logged out.');
});

function leave() {
  S.client?.stop();
  S.client = null;
  S.offers?.clearAll();
  for (const c of S.convs.values()) c.li.remove();
  S.convs.clear();
  S.selected = '';
  S.parked = [];
  S.operators = [];
  renderParked();
  renderOperators();
  renderMain();
  renderCounts();
}

async function loadConfig() {
  try {
    const r = await fetch('/api/config/desk', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!r.ok) return;
    const c = await r.json();
    const queues = (Array.isArray(c.queues) ? c.queues : []).map((q) =>
      typeof q === 'string' ? { id: q, name: q } : { id: str(q?.id), name: str(q?.name) || str(q?.id) }).filter((q) => q.id);
    S.config = { queues, canned: Array.isArray(c.canned) ? c.canned : [], invitation: str(c.invitation || c.invitationTemplate) };
    S.calls.configure({ voice: !!c.voice, iceServers: c.iceServers });
  } catch { /* defaults: no queues, the invitation template only */ }
}

function enter(me) {
  S.calls = createCalls({
    client: () => S.client,
    selected: () => S.selected,
    conv: (id) => S.convs.get(id),
    toast,
    live: el.live,
    changed: () => { const c = S.convs.get(S.selected); if (c) { renderConvState(); updateItem(c); } },
  });
  // Read-only call figures for support and tests: audio bytes in and out.
  window.contactdCallStats = (id) => S.calls.stats(id) || Promise.resolve(null);
  S.me = { id: str(me.id), displayName: str(me.displayName) || str(me.id), roles: Array.isArray(me.roles) ? me.roles : [] };
  el.boot.hidden = true;
  el.login.hidden = true;
  el.desk.hidden = false;
  el.meName.textContent = S.me.displayName;
  el.meAvatar.textContent = initials(S.me.displayName);
  el.notifyBtn.hidden = !('Notification' in globalThis) || Notification.permission !== 'default';
  loadConfig();
  connect();
  renderMain();
  renderCounts();
  renderParked();
  renderOperators();
  renderState();
}

// ---------------------------------------------------------------- connection

function connect() {
  S.client?.stop();
  const client = new ProtocolClient({ url: () => wsURL('/ws'), timeout: 15000 });
  S.client = client;
  S.offers = createOffers({
    container: el.offers,
    client,
    agentName,
    toast,
    liveUrgent: el.liveUrgent,
    onAccepting: (offer, waited) => {
      if (offer.transfer && offer.conversation) S.offerNotes.set(offer.conversation, obj(offer.transfer));
      if (offer.conversation) {
        S.pendingSelect = offer.conversation;
        if (!offer.transfer) S.waited.set(offer.conversation, waited);
      }
    },
  });
  client.on('status', onConnStatus);
  client.on('hello', onHello);
  client.on('state', onState);
  client.on('offer', (m) => { S.offers.add(m); renderTitle(); });
  client.on('offer_ended', (m) => { S.offers.end(m.interaction, m.reason); setTimeout(renderTitle, 200); });
  client.on('parked', (m) => { S.parked = Array.isArray(m.items) ? m.items : []; renderParked(); });
  client.on('operators', onOperators);
  client.on('assigned', onAssigned);
  client.on('unassigned', onUnassigned);
  client.on('message', onMessage);
  client.on('call', (m) => S.calls.onCall(m));
  client.on('ice', (m) => S.calls.onIce(m));
  client.on('typing', onTyping);
  client.on('wrapup', onWrapup);
  client.on('synced', onSynced);
  client.on('resume_failed', () => {
    // Fall back to one history per conversation; the ones no longer ours fail alone.
    for (const [id, seq] of client.lastSeq) client.history(id, seq);
  });
  client.on('history_failed', ({ conversation, error }) => {
    const c = S.convs.get(conversation);
    if (c && c.status !== 'closed') closeConv(c, error.code === 'forbidden' || error.code === 'not_found' ? 'No longer assigned' : 'Unavailable');
  });
  client.on('error', (m) => console.warn('contactd: server error', m.code, m.message));
  client.start();
}

let sessionCheck = null;
function onConnStatus({ status, attempt, delay }) {
  el.conn.dataset.status = status;
  if (status === STATUS.open) {
    el.connText.textContent = 'Connected';
    return;
  }
  if (status === STATUS.closed) {
    el.connText.textContent = 'Offline';
    return;
  }
  el.connText.textContent = status === STATUS.connecting ? 'Connecting…' : delay ? `Reconnecting in ${Math.round(delay / 1000)} s…` : 'Reconnecting…';
  // A socket that keeps failing may mean the session is gone (401 before the upgrade).
  if (attempt >= 2 && !sessionCheck) {
    sessionCheck = fetchMe().then(({ status: st }) => {
      sessionCheck = null;
      if (st === 401) {
        leave();
        showLogin('Your session has ended. Please sign in again.');
      }
    });
  }
}

function onHello(m) {
  const a = obj(m.agent);
  if (a.id && S.me) {
    S.me.displayName = str(a.displayName) || S.me.displayName;
    el.meName.textContent = S.me.displayName;
    el.meAvatar.textContent = initials(S.me.displayName);
  }
  S.quietUntil = Date.now() + 2000;
  S.offers?.resync();
  // An account without the agent role (a supervisor or administrator
  // only) takes no chats: the server refuses agent commands from it.
  const staffOnly = m.role === 'staff';
  el.presence.disabled = staffOnly;
  if (staffOnly) toast('This account has no agent role: it can see the queues but not take chats.', 'info');
}

// ---------------------------------------------------------------- presence

const STATE_LABEL = { available: 'Available', away: 'Away', busy: 'Busy', wrap_up: 'Wrap-up', offline: 'Offline' };

function onState(m) {
  const prev = S.state.state;
  S.state = {
    presence: str(m.presence) || S.state.presence,
    reason: str(m.reason),
    state: str(m.state) || str(m.presence) || 'offline',
    since: prev === str(m.state) ? S.state.since : Date.now(),
  };
  if (!presencePending) {
    el.presence.value = S.state.presence;
    syncAwayBox();
  }
  renderState();
  if (prev !== S.state.state) announce(el.live, `Your status: ${stateLabel()}`);
}

function stateLabel() {
  const base = STATE_LABEL[S.state.state] || S.state.state;
  return S.state.state === 'away' && S.state.reason ? `${base} · ${S.state.reason}` : base;
}

function renderState() {
  el.statePill.dataset.state = S.state.state;
  el.stateText.textContent = stateLabel();
  el.stateTime.textContent = clock(since(S.state.since));
}

function syncAwayBox() {
  const away = el.presence.value === 'away';
  el.awayBox.dataset.shown = String(away);
  if (away && S.state.presence === 'away' && S.state.reason) {
    const known = [...el.awayReason.options].some((o) => o.value === S.state.reason);
    if (known) el.awayReason.value = S.state.reason;
    else {
      el.awayReason.value = '__other';
      el.awayOther.value = S.state.reason;
    }
  }
  el.awayOther.hidden = !(away && el.awayReason.value === '__other');
}

let presencePending = false;
async function sendPresence() {
  const presence = el.presence.value;
  syncAwayBox();
  let reason = '';
  if (presence === 'away') {
    reason = el.awayReason.value === '__other' ? el.awayOther.value.trim() : el.awayReason.value;
    if (el.awayReason.value === '__other' && !reason) {
      el.awayOther.focus();
      return; // sent when the reason is typed
    }
  }
  if (!S.client) return;
  presencePending = true;
  el.statePill.classList.add('is-pending');
  const fields = { presence };
  if (presence === 'away') fields.reason = reason.slice(0, 64);
  try {
    await S.client.request('presence', fields);
  } catch (err) {
    toast(`Status not changed: ${errText(err)}`, 'error');
    el.presence.value = S.state.presence;
    syncAwayBox();
  } finally {
    presencePending = false;
    el.statePill.classList.remove('is-pending');
  }
}
el.presence.addEventListener('change', sendPresence);
el.awayReason.addEventListener('change', () => {
  syncAwayBox();
  if (el.awayReason.value === '__other') el.awayOther.focus();
  else sendPresence();
});
el.awayOther.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    ev.preventDefault();
    sendPresence();
  }
});
el.awayOther.addEventListener('change', sendPresence);

el.notifyBtn.addEventListener('click', async () => {
  try {
    await Notification.requestPermission();
  } catch { /* old callback form: ignore */ }
  el.notifyBtn.hidden = Notification.permission !== 'default';
  if (Notification.permission === 'granted') toast('Notifications are on.');
});

// ---------------------------------------------------------------- colleagues and the communication queue

function onOperators(m) {
  const items = (Array.isArray(m.items) ? m.items : []).filter((o) => o && typeof o.id === 'string');
  for (const o of items) if (o.displayName) S.names.set(o.id, str(o.displayName));
  S.operators = items.filter((o) => o.id !== S.me?.id);
  renderOperators();
}

const STATE_ORDER = { available: 0, busy: 1, wrap_up: 2, away: 3, offline: 4 };
function renderOperators() {
  clear(el.opsList);
  const ops = [...S.operators].sort((a, b) =>
    (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || str(a.displayName).localeCompare(str(b.displayName)));
  for (const o of ops) {
    const name = str(o.displayName) || o.id;
    const st = str(o.state) || 'available';
    el.opsList.append(h('li', {},
      h('button', { type: 'button', class: 'op-item', title: `Chat with ${name}`, onclick: () => openOperatorChat(o.id, name) },
        h('span', { class: 'avatar avatar-sm', 'aria-hidden': 'true', text: initials(name) }, h('i', { class: 'presence-dot', dataset: { state: st } })),
        h('span', { class: 'op-name', text: name }),
        h('span', { class: 'op-state', text: STATE_LABEL[st] || st }))));
  }
  el.opsCount.textContent = String(ops.length);
  el.opsEmpty.hidden = ops.length > 0;
}

async function openOperatorChat(agentId, name) {
  for (const c of S.convs.values()) {
    if (c.kind === 'operator' && c.peer?.id === agentId && c.status !== 'closed') {
      select(c.id);
      return;
    }
  }
  try {
    const res = await S.client.request('operator_chat', { agent: agentId });
    const id = str(res?.conversation);
    if (!id) throw new Error('no conversation in the answer');
    const c = ensureConv(id, { kind: 'operator', peer: { id: agentId, name } });
    c.peer = { id: agentId, name };
    if (c.status === 'closed') reopen(c);
    updateItem(c);
    select(id);
  } catch (err) {
    toast(`Can't open a chat with ${name}: ${errText(err)}`, 'error');
  }
}

function renderParked() {
  clear(el.parkedList);
  for (const p of S.parked) {
    const v = obj(p.visitor);
    const name = str(v.name) || 'Visitor';
    const started = parseTime(p.since);
    const timer = h('span', { class: 'parked-since num', dataset: { since: String(started ? started.getTime() : Date.now()) } });
    timer.textContent = clock(since(Number(timer.dataset.since)));
    const take = h('button', { type: 'button', class: 'btn btn-sm btn-primary', text: 'Take', 'aria-label': `Take ${name}` });
    take.addEventListener('click', async () => {
      busy(take, true, 'Taking…');
      if (p.conversation) {
        S.pendingSelect = str(p.conversation);
        S.waited.set(str(p.conversation), since(Number(timer.dataset.since)));
      }
      try {
        await S.client.request('take', { interaction: str(p.interaction) });
      } catch (err) {
        toast(err.code === 'not_found' || err.code === 'already_accepted' ? `${name} was already taken.` : `Can't take it: ${errText(err)}`, 'error');
        busy(take, false);
      }
    });
    el.parkedList.append(h('li', { class: 'parked-item' },
      h('span', { class: 'avatar avatar-sm', 'aria-hidden': 'true', text: initials(name) }),
      h('span', { class: 'parked-main' },
        h('span', { class: 'parked-name', text: name }),
        h('span', { class: 'parked-sub' }, h('span', { text: str(p.queue) }), timer)),
      take));
  }
  el.parkedCount.textContent = String(S.parked.length);
  el.parkedEmpty.hidden = S.parked.length > 0;
}

// ---------------------------------------------------------------- conversations: model

function ensureConv(id, init = {}) {
  let c = S.convs.get(id);
  if (c) return c;
  c = {
    id,
    kind: 'visitor',
    role: 'owner',
    visitor: { name: '', attributes: {} },
    queue: '',
    waited: 0,
    from: '',
    peer: null,
    status: 'active', // active | ended | wrapup | closed
    held: false,
    consult: null, // {sender, name}: a colleague consulting (warm transfer)
    transfer: null, // {mode, toName}: a transfer we started
    startedAt: Date.now(),
    endedAt: 0,
    lastVisitorAt: 0,
    unread: 0,
    seen: new Set(),
    maxSeq: 0,
    ol: newTranscript(),
    draft: '',
    note: false,
    wrapDeadline: 0,
    wrapTotal: 0,
    closedLabel: '',
    typing: null, // {name, until}
    quiet: Date.now() < S.quietUntil,
    loaded: false,
    busyAction: '',
    scroll: null,
    ...init,
  };
  buildItem(c);
  S.convs.set(id, c);
  el.convList.append(c.li);
  renderCounts();
  return c;
}

function reopen(c) {
  c.status = 'active';
  c.closedLabel = '';
  c.wrapDeadline = 0;
  S.client?.follow(c.id, c.maxSeq);
}

function closeConv(c, label) {
  c.status = 'closed';
  c.closedLabel = label;
  c.typing = null;
  c.transfer = null;
  c.consult = null;
  S.client?.forget(c.id);
  updateItem(c);
  if (S.selected === c.id) renderMain();
  renderCounts();
}

function dismiss(c) {
  const idx = [...S.convs.keys()].indexOf(c.id);
  c.li.remove();
  S.convs.delete(c.id);
  S.client?.forget(c.id);
  if (S.selected === c.id) {
    const ids = [...S.convs.keys()];
    S.selected = '';
    if (ids.length) select(ids[Math.min(idx, ids.length - 1)]);
    else renderMain();
  }
  renderCounts();
}

function displayName(c) {
  if (c.kind === 'operator') return c.peer?.name || agentName(c.peer?.id) || 'Colleague';
  return c.visitor.name || 'Visitor';
}

function statusOf(c) {
  if (c.status === 'closed') return { key: 'closed', label: c.closedLabel || 'Closed' };
  if (c.status === 'wrapup') return { key: 'wrapup', label: 'Wrap-up' };
  if (c.status === 'ended') return { key: 'ended', label: 'Ended' };
  if (c.kind === 'operator') return { key: 'colleague', label: 'Colleague chat' };
  if (c.role === 'consult') return { key: 'consult', label: 'Consulting' };
  if (c.consult || c.transfer?.mode === 'warm') return { key: 'consult', label: 'Consult' };
  if (c.transfer) return { key: 'consult', label: 'Transferring' };
  if (c.held) return { key: 'held', label: 'On hold' };
  return { key: 'active', label: 'Active' };
}

function isLive(c) {
  return c.status === 'active';
}

// ---------------------------------------------------------------- conversations: server messages

function onAssigned(m) {
  const id = str(m.conversation);
  if (!id) return;
  const isNew = !S.convs.has(id);
  const v = m.visitor && typeof m.visitor === 'object' ? m.visitor : null;
  // Operator rooms have no queue and no visitor (the server names them op_...).
  const room = id.startsWith('op_') || (!m.queue && !str(v?.name));
  const c = ensureConv(id, { kind: room ? 'operator' : 'visitor' });
  // assigned is authoritative: a message may have come first and made a guess.
  c.kind = room ? 'operator' : 'visitor';
  if (!room) c.peer = null;
  const roleBefore = c.role;
  c.role = m.role === 'consult' ? 'consult' : 'owner';
  if (v && c.kind === 'visitor') c.visitor = { name: str(v.name), attributes: obj(v.attributes) };
  if (m.queue) c.queue = str(m.queue);
  if (m.from) c.from = str(m.from);
  if (Number.isFinite(m.waited)) c.waited = m.waited;
  else if (S.waited.has(id)) c.waited = S.waited.get(id);
  S.waited.delete(id);
  if (c.status === 'closed') reopen(c);
  if (!c.loaded && !S.client.pendingHistory.has(id)) S.client.history(id, 0);
  if (isNew && !c.quiet) {
    const what = c.role === 'consult' ? `Consultation on ${displayName(c)}` : `New conversation with ${displayName(c)}`;
    announce(el.live, what);
  } else if (!isNew && roleBefore === 'consult' && c.role === 'owner') {
    toast(`${displayName(c)} is yours now.`);
  }
  updateItem(c);
  if (!S.selected || S.pendingSelect === id) {
    S.pendingSelect = '';
    select(id);
  } else if (S.selected === id) {
    renderMain();
  }
}

function onUnassigned(m) {
  const c = S.convs.get(str(m.conversation));
  if (!c) return;
  c.unassigned = true;
  if (c.status === 'closed') return;
  if (c.status === 'wrapup') {
    closeConv(c, 'Wrap-up over'); // the server ended the wrap-up (done, or its time ran out)
    return;
  }
  const r = str(m.reason);
  const label = {
    transferred: 'Transferred', transfer: 'Transferred', handed_over: 'Handed over', ended: 'Ended',
    cancelled: 'Consultation over', canceled: 'Consultation over', consult_cancelled: 'Consultation over',
    completed: 'Consultation over',
  }[r] || (r ? r.replace(/_/g, ' ').replace(/^./, (x) => x.toUpperCase()) : 'Closed');
  closeConv(c, label);
}

function onMessage(m) {
  const id = str(m.conversation);
  if (!id || !Number.isFinite(m.seq)) return;
  let c = S.convs.get(id);
  if (!c) {
    // A message before its `assigned` (the joined event is committed and
    // delivered first), or a room a colleague opened: show it, load what
    // came before; `assigned` fills in the rest.
    const sender = str(m.sender);
    const room = id.startsWith('op_');
    const peerId = room && sender.startsWith('agent:') && sender !== myself() ? sender.slice(6) : '';
    c = ensureConv(id, { kind: room ? 'operator' : 'visitor', peer: peerId ? { id: peerId, name: str(m.senderName) || agentName(peerId) } : null });
    S.client.history(id, 0);
  }
  if (c.seen.has(m.seq)) return;
  c.seen.add(m.seq);
  c.maxSeq = Math.max(c.maxSeq, m.seq);
  const sender = str(m.sender);
  if (sender.startsWith('agent:') && m.senderName) S.names.set(sender.slice(6), str(m.senderName));
  if (c.kind === 'operator' && !c.peer && sender.startsWith('agent:') && sender !== myself()) {
    c.peer = { id: sender.slice(6), name: str(m.senderName) || agentName(sender) };
    if (S.selected === c.id) renderMain();
  }
  const stick = S.selected === c.id && nearBottom(el.transcriptWrap);
  if (m.kind === 'text' || m.kind === 'note') {
    const mine = sender === myself();
    const pending = mine ? findPending(c, m.text, m.kind) : null;
    if (pending) {
      settle(c, pending, m.seq, m.time);
    } else {
      insert(c.ol, messageItem(m, { mine, name: str(m.senderName) || nameForSender(c, sender) }), m.seq);
    }
    const t = parseTime(m.time)?.getTime() || Date.now();
    if (m.kind === 'text') {
      if (sender === 'visitor') {
        if (!c.lastVisitorAt) c.lastVisitorAt = t;
      } else if (sender.startsWith('agent:')) {
        c.lastVisitorAt = 0;
      }
    }
    if (!mine) {
      if (c.typing && c.typing.sender === sender) c.typing = null;
      const seenNow = S.selected === c.id && !document.hidden;
      if (!seenNow && !c.quiet && !(c.status === 'closed')) {
        c.unread++;
        if (document.hidden || S.selected !== c.id) blip();
      }
    }
  } else if (m.kind === 'event') {
    applyEvent(c, m);
  }
  updateItem(c);
  if (S.selected === c.id) {
    renderConvState();
    if (stick || sender === myself()) scrollToEnd();
  }
  renderTitle();
}

function nameForSender(c, sender) {
  if (sender === 'visitor') return c.visitor.name || 'Visitor';
  if (sender === 'system') return 'System';
  return agentName(sender);
}

function applyEvent(c, m) {
  const sender = str(m.sender);
  const data = obj(m.data);
  const who = sender === myself() ? 'You' : str(m.senderName) || nameForSender(c, sender);
  let line = '';
  switch (m.event) {
    case 'joined':
      if (data.role === 'consult') {
        if (sender !== myself()) c.consult = { sender, name: who };
        line = sender === myself() ? 'You joined as a consultant' : `${who} joined as a consultant`;
      } else {
        line = `${who} joined`;
        if (sender === myself()) {
          const t = parseTime(m.time);
          if (t) c.startedAt = t.getTime();
        }
      }
      break;
    case 'left':
      if (c.consult && c.consult.sender === sender) c.consult = null;
      line = `${who} left`;
      break;
    case 'handed_over': {
      const to = str(data.to);
      const toName = to === myself() ? 'you' : agentName(to);
      line = `${who} handed the conversation over to ${toName}`;
      if (to === myself()) {
        c.role = 'owner';
        c.consult = null;
      } else if (c.consult && c.consult.sender === to) {
        c.consult = null;
      }
      if (sender === myself()) c.transfer = null;
      break;
    }
    case 'hold':
      c.held = true;
      line = sender === myself() ? 'You put the chat on hold' : `${who} put the chat on hold`;
      break;
    case 'resume':
      c.held = false;
      line = sender === myself() ? 'You resumed the chat' : `${who} resumed the chat`;
      break;
    case 'call_started':
      line = `${sender === 'visitor' ? c.visitor.name || 'The visitor' : who} started a voice call`;
      break;
    case 'call_connected':
      line = 'Voice call connected';
      break;
    case 'call_ended': {
      const cause = str(data.cause).replace(/_/g, ' ');
      const secs = Number(data.seconds) || 0;
      line = `Voice call ended${cause ? ` (${cause})` : ''} after ${clock(secs)}`;
      break;
    }
    case 'call_invited':
      line = sender === myself() ? 'You asked the visitor to talk by voice' : `${who} asked the visitor to talk by voice`;
      break;
    case 'call_declined':
      line = `${c.visitor.name || 'The visitor'} chose to keep typing`;
      break;
    case 'ended': {
      const reason = str(data.reason);
      line = sender === 'visitor' ? `${c.visitor.name || 'The visitor'} ended the chat`
        : sender === 'system' ? `The chat ended${reason ? ` (${reason.replace(/_/g, ' ')})` : ''}`
        : sender === myself() ? 'You ended the chat' : `${who} ended the chat`;
      if (c.status === 'active') c.status = 'ended';
      c.endedAt = parseTime(m.time)?.getTime() || Date.now();
      c.lastVisitorAt = 0;
      c.typing = null;
      c.held = false;
      c.consult = null;
      c.transfer = null;
      break;
    }
    default:
      line = str(m.event);
  }
  if (line) insert(c.ol, systemItem(line, m), m.seq);
}

function onSynced(m) {
  for (const id of Object.keys(obj(m.conversations))) {
    const c = S.convs.get(id);
    if (!c) continue;
    c.loaded = true;
    c.quiet = false;
    if (S.selected === id) scrollToEnd();
  }
}

function onTyping(m) {
  const c = S.convs.get(str(m.conversation));
  const sender = str(m.sender);
  if (!c || sender === myself()) return;
  c.typing = m.on ? { sender, name: nameForSender(c, sender), until: Date.now() + 6000 } : null;
  updateItem(c);
  if (S.selected === c.id) renderTyping(c);
}

function onWrapup(m) {
  const c = S.convs.get(str(m.conversation));
  if (!c) return;
  const dl = parseTime(m.deadline);
  const deadline = dl ? dl.getTime() : Date.now() + 30000;
  if (deadline <= Date.now()) return;
  c.status = 'wrapup';
  c.wrapDeadline = deadline;
  c.wrapTotal = Math.max(1000, deadline - Date.now());
  updateItem(c);
  if (S.selected === c.id) renderMain();
  else toast(`Wrap-up for ${displayName(c)}.`);
}

// ---------------------------------------------------------------- conversation list

function buildItem(c) {
  c.els = {
    avatar: h('span', { class: 'avatar', 'aria-hidden': 'true' }),
    name: h('span', { class: 'ci-name' }),
    sub: h('span', { class: 'ci-sub' }),
    timer: h('span', { class: 'ci-timer num' }),
    badge: h('span', { class: 'badge num' }),
  };
  c.btn = h('button', { type: 'button', class: 'conv-item', onclick: () => select(c.id) },
    c.els.avatar,
    h('span', { class: 'ci-main' }, c.els.name, c.els.sub),
    h('span', { class: 'ci-side' }, c.els.timer, c.els.badge));
  c.li = h('li', {}, c.btn);
}

function updateItem(c) {
  if (!c.els) return;
  const name = displayName(c);
  const st = statusOf(c);
  c.els.avatar.textContent = initials(name);
  c.els.avatar.classList.toggle('avatar-colleague', c.kind === 'operator');
  c.els.name.textContent = name;
  clear(c.els.sub);
  if (c.typing && c.typing.until > Date.now() && isLive(c)) {
    c.els.sub.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', { text: 'typing' }));
  } else {
    c.els.sub.append(h('span', { class: ['st', `st-${st.key}`], text: st.label }));
    if (c.queue && c.kind === 'visitor') c.els.sub.append(h('span', { class: 'ci-queue', text: c.queue }));
  }
  c.els.badge.textContent = c.unread > 99 ? '99+' : String(c.unread);
  c.els.badge.classList.toggle('is-zero', c.unread === 0);
  c.btn.classList.toggle('is-selected', S.selected === c.id);
  c.btn.classList.toggle('is-closed', c.status === 'closed');
  c.btn.classList.toggle('is-unread', c.unread > 0);
  if (S.selected === c.id) c.btn.setAttribute('aria-current', 'true');
  else c.btn.removeAttribute('aria-current');
  c.btn.setAttribute('aria-label', `${name}, ${st.label}${c.unread ? `, ${c.unread} unread` : ''}`);
  tickItem(c);
}

// tickItem updates the timer of one list entry: waiting since the visitor's
// unanswered message, the wrap-up time left, or the conversation's length.
function tickItem(c) {
  const t = c.els.timer;
  let text = '';
  let cls = '';
  if (c.status === 'wrapup') {
    text = clock((c.wrapDeadline - Date.now()) / 1000);
    cls = 'is-wrap';
  } else if (c.status === 'closed') {
    text = '';
  } else if (c.status === 'ended') {
    text = clock(((c.endedAt || Date.now()) - c.startedAt) / 1000);
  } else if (c.lastVisitorAt && c.kind === 'visitor' && c.role === 'owner') {
    const w = since(c.lastVisitorAt);
    text = clock(w);
    cls = w > 60 ? 'is-late' : 'is-waiting';
  } else {
    text = clock(since(c.startedAt));
  }
  if (t.textContent !== text) t.textContent = text;
  t.className = `ci-timer num ${cls}`;
  t.title = cls === 'is-waiting' || cls === 'is-late' ? 'Waiting for your answer' : cls === 'is-wrap' ? 'Wrap-up time left' : 'Duration';
}

function renderCounts() {
  const n = [...S.convs.values()].filter((c) => c.status !== 'closed').length;
  el.convCount.textContent = String(n);
  el.convEmpty.hidden = S.convs.size > 0;
  renderTitle();
}

function renderTitle() {
  let unread = 0;
  for (const c of S.convs.values()) unread += c.unread;
  const waiting = S.offers?.size || 0;
  const n = unread + waiting;
  document.title = `${n ? `(${n}) ` : ''}Desk · contactd`;
}

// ---------------------------------------------------------------- selection and main pane

function select(id) {
  const prev = S.convs.get(S.selected);
  if (prev && prev.id !== id) {
    prev.draft = el.input.value;
    prev.note = el.note.checked;
    prev.scroll = nearBottom(el.transcriptWrap) ? null : el.transcriptWrap.scrollTop;
    stopTyping();
    updateItem(prev);
  }
  const c = S.convs.get(id);
  if (!c) return;
  S.selected = id;
  c.unread = 0;
  S.canned?.hide();
  clear(el.transcriptWrap).append(c.ol);
  el.input.value = c.draft;
  el.note.checked = c.note;
  renderMain();
  if (c.scroll === null) scrollToEnd();
  else el.transcriptWrap.scrollTop = c.scroll;
  updateItem(c);
  renderTitle();
  if (!el.input.disabled && !document.querySelector('dialog[open]') && !el.offers.contains(document.activeElement)) el.input.focus();
}

function scrollToEnd() {
  el.transcriptWrap.scrollTop = el.transcriptWrap.scrollHeight;
}

function renderMain() {
  const c = S.convs.get(S.selected);
  el.emptyMain.hidden = !!c;
  el.conv.hidden = !c;
  for (const x of S.convs.values()) {
    x.btn.classList.toggle('is-selected', x.id === S.selected);
    if (x.id === S.selected) x.btn.setAttribute('aria-current', 'true');
    else x.btn.removeAttribute('aria-current');
  }
  if (!c) {
    el.info.hidden = true;
    return;
  }
  el.convAvatar.textContent = initials(displayName(c));
  el.convAvatar.classList.toggle('avatar-colleague', c.kind === 'operator');
  el.convName.textContent = displayName(c);
  renderConvState();
  renderInfo(c);
}

// renderConvState updates what depends on the conversation's state: status,
// actions, banner, wrap-up bar, composer.
function renderConvState() {
  const c = S.convs.get(S.selected);
  if (!c) return;
  const stick = nearBottom(el.transcriptWrap);
  const st = statusOf(c);
  el.convStatus.textContent = st.label;
  el.convStatus.className = `status-pill st-${st.key}`;
  el.convMeta.textContent = c.kind === 'operator' ? 'Colleague' : [c.queue && `Queue ${c.queue}`].filter(Boolean).join(' · ');
  tickHeader(c);

  const owner = c.kind === 'visitor' && c.role === 'owner' && c.status === 'active';
  const warm = owner && (c.transfer?.mode === 'warm' || !!c.consult);
  el.actHold.hidden = !owner;
  el.actTransfer.hidden = !owner || warm || !!c.transfer;
  el.actEnd.hidden = !owner;
  el.actComplete.hidden = !warm;
  el.actCancel.hidden = !warm;
  el.actComplete.disabled = !c.consult || !!c.busyAction;
  el.actComplete.title = c.consult ? `Hand the conversation to ${c.consult.name}` : 'Waiting for your colleague to join';
  el.actClose.hidden = !(c.status === 'closed' || c.status === 'ended' && c.unassigned || c.kind === 'operator');
  el.actInfo.hidden = c.kind !== 'visitor';
  el.actInfo.setAttribute('aria-expanded', String(S.infoOpen));
  for (const b of [el.actHold, el.actTransfer, el.actEnd, el.actCancel]) b.disabled = !!c.busyAction;
  setLabel(el.actHold, c.held ? 'Resume' : 'Hold', c.held ? 'play' : 'pause', c.busyAction === 'hold');
  setLabel(el.actTransfer, 'Transfer', 'transfer', false);
  setLabel(el.actEnd, 'End', 'end', c.busyAction === 'end');
  setLabel(el.actComplete, 'Complete transfer', 'check', c.busyAction === 'complete');
  setLabel(el.actCancel, 'Cancel transfer', 'close', c.busyAction === 'cancel');

  // Banner
  let banner = '';
  let kind = 'info';
  const notes = S.offerNotes.get(c.id);
  if (c.status === 'closed') {
    banner = `This conversation is closed: ${c.closedLabel || 'closed'}. You can still read it.`;
    kind = 'muted';
  } else if (c.status === 'ended') {
    banner = 'The chat has ended.';
    kind = 'muted';
  } else if (c.status === 'wrapup') {
    banner = '';
  } else if (c.role === 'consult') {
    const owner = agentName(str(notes?.from)) || (c.from ? agentName(c.from) : 'your colleague');
    banner = `${owner} asked you to consult. Your messages are private notes; the visitor does not see them.${notes?.note ? ` Note: “${str(notes.note)}”` : ''}`;
    kind = 'consult';
  } else if (c.consult) {
    banner = `${c.consult.name} is consulting. Complete the transfer to hand over, or cancel it.`;
    kind = 'consult';
  } else if (c.transfer?.mode === 'warm') {
    banner = `Waiting for ${c.transfer.toName} to accept the consultation…`;
    kind = 'consult';
  } else if (c.transfer) {
    banner = `Transferring to ${c.transfer.toName}…`;
    kind = 'consult';
  } else if (c.held) {
    banner = 'On hold: the visitor cannot send messages until you resume.';
    kind = 'held';
  }
  el.banner.hidden = !banner;
  el.banner.textContent = banner;
  el.banner.className = `conv-banner banner-${kind}`;

  // Wrap-up
  el.wrapup.hidden = c.status !== 'wrapup';
  tickWrapup(c);

  // Composer
  const canWrite = c.status === 'active' && (c.kind === 'operator' || c.role === 'owner' || c.role === 'consult');
  el.input.disabled = !canWrite;
  el.send.disabled = !canWrite;
  el.cannedBtn.disabled = !canWrite;
  el.noteToggle.hidden = c.kind === 'operator';
  const forcedNote = c.role === 'consult';
  el.note.disabled = !canWrite || forcedNote;
  if (forcedNote) el.note.checked = true;
  else if (c.forcedNote) el.note.checked = false; // was a consultant, owns it now
  c.forcedNote = forcedNote;
  el.composer.classList.toggle('is-note', el.note.checked && c.kind !== 'operator');
  el.composer.classList.toggle('is-disabled', !canWrite);
  el.input.placeholder = !canWrite
    ? c.status === 'wrapup' ? 'Wrap-up: the chat has ended' : 'This conversation has ended'
    : el.note.checked && c.kind !== 'operator' ? 'Write a private note (only agents see it)…'
    : c.kind === 'operator' ? `Message ${displayName(c)}…`
    : 'Write a reply…  Type / for canned messages';
  el.send.textContent = el.note.checked && c.kind !== 'operator' ? 'Add note' : 'Send';
  renderTyping(c);
  S.calls?.render();
  if (stick) scrollToEnd(); // banners and bars come and go without hiding the last line
}

function setLabel(btn, text, ic, spinning) {
  clear(btn).append(spinning ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : icon(ic), h('span', { text }));
}

function tickHeader(c) {
  let text = '';
  if (c.status === 'wrapup' || c.status === 'closed') text = '';
  else if (c.status === 'ended') text = clock(((c.endedAt || Date.now()) - c.startedAt) / 1000);
  else text = clock(since(c.startedAt));
  if (el.convTimer.textContent !== text) el.convTimer.textContent = text;
}

function tickWrapup(c) {
  if (c.status !== 'wrapup') return;
  const left = Math.max(0, c.wrapDeadline - Date.now());
  el.wrapupLeft.textContent = `${clock(left / 1000)} left`;
  el.wrapupProgress.max = c.wrapTotal;
  el.wrapupProgress.value = left;
}

function renderTyping(c) {
  const on = c.typing && c.typing.until > Date.now() && isLive(c);
  clear(el.typing);
  el.typing.classList.toggle('is-on', !!on);
  if (on) {
    el.typing.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', { text: `${c.typing.name} is typing…` }));
  }
}

// ---------------------------------------------------------------- visitor details

function renderInfo(c) {
  const show = c.kind === 'visitor' && S.infoOpen;
  el.info.hidden = !show;
  if (!show) return;
  clear(el.info);
  const a = obj(c.visitor.attributes);
  const rows = [];
  const row = (label, value) => {
    if (value === '' || value === null || value === undefined) return;
    rows.push(h('dt', { text: label }), h('dd', {}, value));
  };
  row('Name', c.visitor.name || 'Not given');
  row('Queue', c.queue);
  if (c.waited) row('Waited', clock(c.waited));
  const page = safeHttpURL(a.pageUrl);
  if (page) {
    row('Page', h('a', { href: page.href, target: '_blank', rel: 'noopener noreferrer', class: 'info-link', title: page.href, text: str(a.pageTitle) || page.host + page.pathname }));
    row('Address', h('span', { class: 'info-url', text: page.href }));
  } else if (a.pageUrl) {
    row('Page', str(a.pageUrl));
  }
  if (a.pageTitle && !page) row('Page title', str(a.pageTitle));
  row('Account', str(a.account));
  if (a.phone) {
    const digits = str(a.phone).replace(/[\s()./-]/g, '');
    row('Phone', /^\+?[0-9]{3,20}$/.test(digits)
      ? h('a', { href: `tel:${digits}`, class: 'info-link', text: str(a.phone) })
      : str(a.phone));
  }
  row('Location', str(a.location));
  const known = new Set(['pageUrl', 'pageTitle', 'account', 'phone', 'location']);
  for (const [k, v] of Object.entries(a)) {
    if (!known.has(k) && (typeof v === 'string' || typeof v === 'number')) row(k, String(v));
  }
  if (c.from) row('Transferred by', agentName(c.from));
  el.info.append(
    h('div', { class: 'info-head' },
      h('span', { class: 'avatar avatar-lg', 'aria-hidden': 'true', text: initials(displayName(c)) }),
      h('h3', { text: displayName(c) }),
      h('p', { class: 'info-sub', text: c.role === 'consult' ? 'You are consulting' : 'Visitor' })),
    h('dl', { class: 'info-list' }, rows),
    h('p', { class: 'info-id' }, h('span', { text: 'Conversation ' }), h('code', { text: c.id })));
}

el.actInfo.append(icon('users'));
el.soundBtn.prepend(icon('sound'));
el.notifyBtn.prepend(icon('bell'));
el.logout.prepend(icon('logout'));
el.actInfo.title = 'Visitor details';
el.actInfo.addEventListener('click', () => {
  S.infoOpen = !S.infoOpen;
  writePref('desk.info', S.infoOpen);
  const c = S.convs.get(S.selected);
  if (c) {
    renderInfo(c);
    el.actInfo.setAttribute('aria-expanded', String(S.infoOpen));
  }
});

// ---------------------------------------------------------------- sending

function findPending(c, text, kind) {
  for (const li of c.ol.querySelectorAll('.msg-out.is-pending')) {
    if (li.dataset.text === text && li.dataset.kind === kind) return li;
  }
  return null;
}

function settle(c, li, seq, time) {
  if (!li.classList.contains('is-pending')) return;
  li.classList.remove('is-pending', 'is-failed');
  li.querySelector('.msg-state').textContent = '';
  if (time) li.querySelector('.msg-time').textContent = timeOfDay(parseTime(time));
  c.seen.add(seq);
  li.remove();
  insert(c.ol, li, seq);
}

function sendMessage(c, text, note) {
  const id = S.client.newId();
  const kind = note ? 'note' : 'text';
  const li = messageItem({ sender: myself(), kind, text, time: new Date().toISOString() }, { mine: true, name: S.me.displayName, pending: true });
  li.dataset.id = id;
  li.dataset.text = text;
  li.dataset.kind = kind;
  insert(c.ol, li, null);
  if (S.selected === c.id) scrollToEnd();
  S.client.request('send', { conversation: c.id, text, note }, { id, timeout: 0 }).then(
    (res) => {
      const seq = Number(res?.seq);
      if (!Number.isFinite(seq) || !li.classList.contains('is-pending')) return;
      if (c.seen.has(seq) && c.ol.querySelector(`[data-seq="${seq}"]`) !== li) {
        li.remove(); // the message event came first and was drawn on its own
        return;
      }
      settle(c, li, seq, null);
      c.maxSeq = Math.max(c.maxSeq, seq);
      if (kind === 'text') c.lastVisitorAt = 0;
      updateItem(c);
    },
    (err) => {
      if (err.code === 'closed') return;
      li.classList.remove('is-pending');
      li.classList.add('is-failed');
      const state = clear(li.querySelector('.msg-state'));
      state.append(h('span', { text: `Not sent: ${errText(err)} ` }));
      if (!['ended', 'too_long', 'invalid_text', 'forbidden', 'not_found'].includes(err.code)) {
        state.append(h('button', {
          type: 'button', class: 'link-btn', text: 'Retry',
          onclick: () => { li.remove(); sendMessage(c, text, note); },
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
    toast('The message is too long (8 KB at most).', 'error');
    return;
  }
  const note = c.kind !== 'operator' && (c.role === 'consult' || el.note.checked);
  el.input.value = '';
  c.draft = '';
  stopTyping();
  sendMessage(c, text, note);
  updateItem(c);
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
  renderConvState();
  el.input.focus();
});

// Typing: on at most every 3 s while typing, off after 4 s idle or on send.
let typingConv = '';
let typingSentAt = 0;
let typingIdle = 0;
el.input.addEventListener('input', () => {
  const c = S.convs.get(S.selected);
  if (!c || !S.client || el.note.checked && c.kind !== 'operator' || c.role === 'consult' || !isLive(c)) return;
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

// ---------------------------------------------------------------- actions

async function act(c, key, type, fields = {}) {
  if (c.busyAction) return null;
  c.busyAction = key;
  if (S.selected === c.id) renderConvState();
  try {
    return await S.client.request(type, { conversation: c.id, ...fields });
  } catch (err) {
    toast(errText(err), 'error');
    return null;
  } finally {
    c.busyAction = '';
    if (S.selected === c.id) renderConvState();
  }
}

el.actHold.addEventListener('click', () => {
  const c = S.convs.get(S.selected);
  if (c) act(c, 'hold', c.held ? 'unhold' : 'hold');
});

el.actEnd.addEventListener('click', () => {
  const c = S.convs.get(S.selected);
  if (!c) return;
  el.endText.textContent = `${displayName(c)} will see that the chat has ended.`;
  el.endDialog.returnValue = '';
  el.endDialog.showModal();
});
el.endDialog.addEventListener('close', () => {
  const c = S.convs.get(S.selected);
  if (el.endDialog.returnValue === 'end' && c) act(c, 'end', 'end');
  else el.actEnd.focus();
});

el.actComplete.addEventListener('click', async () => {
  const c = S.convs.get(S.selected);
  if (!c) return;
  const to = c.consult?.name || c.transfer?.toName || 'your colleague';
  const res = await act(c, 'complete', 'transfer_complete');
  if (res) {
    c.transfer = null;
    toast(`Handed over to ${to}.`);
  }
});
el.actCancel.addEventListener('click', async () => {
  const c = S.convs.get(S.selected);
  if (!c) return;
  const res = await act(c, 'cancel', 'transfer_cancel');
  if (res) {
    c.transfer = null;
    c.consult = null;
    renderConvState();
    updateItem(c);
    toast('Transfer cancelled.');
  }
});
el.actClose.addEventListener('click', () => {
  const c = S.convs.get(S.selected);
  if (c) dismiss(c);
});

el.wrapupDone.addEventListener('click', async () => {
  const c = S.convs.get(S.selected);
  if (!c) return;
  busy(el.wrapupDone, true, 'Finishing…');
  try {
    await S.client.request('wrapup_done', { conversation: c.id });
    closeConv(c, 'Done');
  } catch (err) {
    if (err.code === 'wrong_state' || err.code === 'not_found') closeConv(c, 'Done');
    else toast(errText(err), 'error');
  } finally {
    busy(el.wrapupDone, false);
  }
});

// ---------------------------------------------------------------- transfer dialog

function targetKind() {
  return el.transferForm.elements.target.value;
}

el.actTransfer.addEventListener('click', () => {
  const c = S.convs.get(S.selected);
  if (!c) return;
  clear(el.transferAgent);
  const ops = S.operators.filter((o) => o.id !== S.me?.id);
  for (const o of ops) {
    const st = STATE_LABEL[o.state] || str(o.state);
    el.transferAgent.append(h('option', { value: o.id, text: `${str(o.displayName) || o.id}${st ? ` — ${st}` : ''}` }));
  }
  if (!ops.length) el.transferAgent.append(h('option', { value: '', disabled: true, selected: true, text: 'Nobody else is online' }));
  clear(el.transferQueue);
  for (const q of S.config.queues) el.transferQueue.append(h('option', { value: q.id, text: q.name, selected: q.id === c.queue }));
  if (!S.config.queues.length) el.transferQueue.append(h('option', { value: '', disabled: true, selected: true, text: 'No queues configured' }));
  el.transferForm.elements.target.value = ops.length || !S.config.queues.length ? 'agent' : 'queue';
  el.transferForm.elements.mode.value = 'blind';
  el.transferNote.value = '';
  el.transferError.textContent = '';
  syncTransferTarget();
  el.transferDialog.showModal();
  (targetKind() === 'agent' ? el.transferAgent : el.transferQueue).focus();
});

function syncTransferTarget() {
  const agent = targetKind() === 'agent';
  el.transferAgentField.hidden = !agent;
  el.transferQueueField.hidden = agent;
}
for (const r of el.transferForm.querySelectorAll('input[name="target"]')) r.addEventListener('change', syncTransferTarget);
el.transferCancel.addEventListener('click', () => el.transferDialog.close());
el.transferDialog.addEventListener('close', () => {
  if (!el.conv.hidden && !el.actTransfer.hidden) el.actTransfer.focus();
});

el.transferForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const c = S.convs.get(S.selected);
  if (!c || el.transferSubmit.disabled) return;
  const agent = targetKind() === 'agent';
  const target = agent ? el.transferAgent.value : el.transferQueue.value;
  const mode = el.transferForm.elements.mode.value === 'blind' ? 'blind' : 'warm';
  if (!target) {
    el.transferError.textContent = agent ? 'Choose a colleague.' : 'Choose a queue.';
    return;
  }
  const toName = agent ? agentName(target) : S.config.queues.find((q) => q.id === target)?.name || target;
  const fields = { conversation: c.id, mode, note: el.transferNote.value.trim().slice(0, 500) };
  if (agent) fields.toAgent = target;
  else fields.toQueue = target;
  el.transferError.textContent = '';
  busy(el.transferSubmit, true, 'Transferring…');
  try {
    await S.client.request('transfer', fields);
    c.transfer = { mode, toName };
    el.transferDialog.close();
    toast(mode === 'warm' ? `Consultation requested from ${toName}.` : `Transferred to ${toName}.`);
    updateItem(c);
    renderConvState();
  } catch (err) {
    el.transferError.textContent = errText(err);
  } finally {
    busy(el.transferSubmit, false);
  }
});

// ---------------------------------------------------------------- keyboard and clock

document.addEventListener('keydown', (ev) => {
  // Alt+Up / Alt+Down: previous / next conversation.
  if (ev.altKey && !ev.ctrlKey && !ev.metaKey && (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') && S.convs.size) {
    ev.preventDefault();
    const ids = [...S.convs.keys()];
    const i = ids.indexOf(S.selected);
    const next = ids[(i + (ev.key === 'ArrowDown' ? 1 : -1) + ids.length) % ids.length];
    select(next);
  }
});

document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  const c = S.convs.get(S.selected);
  if (c && c.unread) {
    c.unread = 0;
    updateItem(c);
    renderTitle();
  }
});

setInterval(() => {
  if (el.desk.hidden) return;
  const now = Date.now();
  for (const c of S.convs.values()) {
    if (c.typing && c.typing.until <= now) {
      c.typing = null;
      updateItem(c);
      if (S.selected === c.id) renderTyping(c);
    } else {
      tickItem(c);
    }
    if (c.status === 'wrapup' && c.wrapDeadline <= now) {
      closeConv(c, 'Wrap-up over');
    }
  }
  const c = S.convs.get(S.selected);
  if (c) {
    tickHeader(c);
    tickWrapup(c);
  }
  for (const t of el.parkedList.querySelectorAll('.parked-since')) t.textContent = clock(since(Number(t.dataset.since)));
  el.stateTime.textContent = clock(since(S.state.since));
}, 1000);

// ---------------------------------------------------------------- boot

async function boot() {
  unlockAudioOnGesture(() => { el.soundBtn.hidden = true; });
  el.soundBtn.addEventListener('click', () => {
    setTimeout(() => {
      el.soundBtn.hidden = audioReady();
      if (audioReady()) chime(); // a sample of what a request sounds like
    }, 50);
  });
  const { me, status } = await fetchMe();
  if (me && me.id) enter(me);
  else showLogin(status === 0 ? "Can't reach the server right now; you can still try to sign in." : '');
}

boot();
