// The visitor chat inside the widget iframe (same origin as the server).
// Flow: start (name, Text/Voice) -> POST /api/widget/session -> WebSocket
// -> waiting (position, estimated wait) -> chatting -> ended; or the
// leave-a-message form at any time. The conversation survives a reload:
// {conversation, token, lastSeq, transcript, unacked commands} live in
// localStorage under one key per queue.
import { ProtocolClient, wsURL, STATUS } from '/shared/protocol.js';
import { linkify, WIDGET_SCHEMES } from '/shared/linkify.js';
import { h, $, icon, clear, announce } from '/shared/dom.js';
import { parseTime, timeOfDay, truncateBytes, initials } from '/shared/format.js';
import { strings } from '/widget/strings.js';
import { VoiceLeg, getMicrophone, webrtcSupported, formatDuration } from '/shared/voice.js';

// ---------------------------------------------------------------- setup

const params = new URLSearchParams(location.search);
const queue = (params.get('queue') || 'default').slice(0, 64);
const lang = (params.get('lang') || 'en').toLowerCase();
const T = strings(lang);
const ctx = readContext(params.get('ctx'));
const hostOrigin = originOf(ctx.pageUrl);
const embedded = window.parent !== window;
const STORE_KEY = `contactd.widget.v1.${queue}`;
const MAX_TEXT_BYTES = 8 << 10;
const MAX_CACHED = 300;

function t(key, vars) {
  let s = T[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

// readContext accepts a JSON object of short strings (protocol: at most 20
// keys of 64 bytes, values of 512 bytes); anything else is dropped.
function readContext(raw) {
  const out = {};
  let obj;
  try {
    obj = JSON.parse(raw || '{}');
  } catch {
    return out;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return out;
  for (const [k, v] of Object.entries(obj).slice(0, 20)) {
    if (typeof v !== 'string' && typeof v !== 'number') continue;
    if (new TextEncoder().encode(k).length > 64) continue;
    const s = String(v).trim();
    if (s) out[k] = truncateBytes(s, 512);
  }
  return out;
}

function originOf(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : '';
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- storage

const memoryStore = new Map(); // when localStorage is blocked (third-party storage off)
function load() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
  } catch {
    return memoryStore.get(STORE_KEY) || null;
  }
}
function save() {
  if (!rec) return;
  rec.messages = rec.messages.slice(-MAX_CACHED);
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(rec));
  } catch {
    // Quota or blocked: keep the essentials; a reload then resumes from 0.
    memoryStore.set(STORE_KEY, rec);
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify({ ...rec, messages: [], lastSeq: 0 }));
    } catch { /* memory only */ }
  }
}
function forget() {
  memoryStore.delete(STORE_KEY);
  try { localStorage.removeItem(STORE_KEY); } catch { /* blocked */ }
}

// ---------------------------------------------------------------- state

/** The stored conversation: see save(). */
let rec = null;
/** @type {ProtocolClient|null} */
let client = null;
const ui = {
  view: 'start', // start | chat | leave
  phase: 'idle', // idle | waiting | chatting | ended
  agent: null, // {sender, name}
  held: false,
  names: new Map(), // sender -> display name, from joined events
  open: !embedded,
  unread: 0,
  active: null,
  leaveFrom: 'start',
  typingTimer: 0,
};
const seen = new Set(); // seqs rendered

const el = {
  app: $('#app'),
  title: $('#title'),
  subtitle: $('#subtitle'),
  topAvatar: $('#top-avatar'),
  endBtn: $('#end-btn'),
  minimize: $('#minimize'),
  conn: $('#conn'),
  live: $('#live'),
  viewStart: $('#view-start'),
  viewChat: $('#view-chat'),
  viewLeave: $('#view-leave'),
  startForm: $('#start-form'),
  name: $('#name'),
  startError: $('#start-error'),
  startBtn: $('#start-btn'),
  waiting: $('#waiting'),
  waitingTitle: $('#waiting-title'),
  position: $('#position'),
  eta: $('#eta'),
  busy: $('#busy'),
  agentBar: $('#agent-bar'),
  agentAvatar: $('#agent-avatar'),
  agentName: $('#agent-name'),
  hold: $('#hold-banner'),
  transcript: $('#transcript'),
  typing: $('#typing'),
  endedBar: $('#ended-bar'),
  newChat: $('#new-chat'),
  composer: $('#composer'),
  input: $('#input'),
  send: $('#send'),
  hint: $('#composer-hint'),
  leaveForm: $('#leave-form'),
  leaveBack: $('#leave-back'),
  leaveIntro: $('#leave-intro'),
  leaveName: $('#leave-name'),
  leaveEmail: $('#leave-email'),
  leaveEmailError: $('#leave-email-error'),
  leaveText: $('#leave-text'),
  leaveTextError: $('#leave-text-error'),
  leaveError: $('#leave-error'),
  leaveSubmit: $('#leave-submit'),
  leaveDone: $('#leave-done'),
  leaveNewChat: $('#leave-new-chat'),
  leaveRestart: $('#leave-restart'),
  confirmEnd: $('#confirm-end'),
  voiceChoice: $('#voice-choice'),
  callBar: $('#call-bar'),
  callState: $('#call-state'),
  callTimer: $('#call-timer'),
  callMute: $('#call-mute'),
  callHangup: $('#call-hangup'),
  callInvite: $('#call-invite'),
  callInviteText: $('#call-invite-text'),
  callInviteAccept: $('#call-invite-accept'),
  callInviteDecline: $('#call-invite-decline'),
  callError: $('#call-error'),
  callErrorText: $('#call-error-text'),
  callErrorBtn: $('#call-error-text-btn'),
  talk: $('#talk'),
};

// ---------------------------------------------------------------- static texts and icons

function localize() {
  document.documentElement.lang = T.lang;
  document.title = t('title');
  for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
  for (const n of document.querySelectorAll('[data-i18n-placeholder]')) n.placeholder = t(n.dataset.i18nPlaceholder);
  for (const n of document.querySelectorAll('[data-i18n-label]')) n.setAttribute('aria-label', t(n.dataset.i18nLabel));
  for (const n of document.querySelectorAll('[data-icon]')) n.append(icon(n.dataset.icon));
  el.minimize.append(icon('minimize'));
  el.send.append(icon('send'));
  el.topAvatar.append(icon('chat'));
  el.minimize.hidden = !embedded;
}

// ---------------------------------------------------------------- views

function showView(view) {
  ui.view = view;
  el.viewStart.hidden = view !== 'start';
  el.viewChat.hidden = view !== 'chat';
  el.viewLeave.hidden = view !== 'leave';
  renderHeader();
}

function renderHeader() {
  el.endBtn.hidden = !(rec && ui.phase !== 'ended' && ui.view === 'chat');
  clear(el.topAvatar);
  if (ui.view === 'chat' && ui.agent) {
    el.topAvatar.textContent = initials(ui.agent.name);
    el.topAvatar.classList.add('has-initials');
  } else {
    el.topAvatar.classList.remove('has-initials');
    el.topAvatar.append(icon('chat'));
  }
  let sub = t('tagline');
  if (ui.view === 'chat') {
    if (ui.phase === 'waiting') sub = t('subWaiting');
    else if (ui.phase === 'chatting' && ui.agent) sub = ui.held ? t('subHeld') : t('subChatting', { name: ui.agent.name });
    else if (ui.phase === 'ended') sub = t('chatEnded');
  } else if (ui.view === 'leave') {
    sub = t('leaveHeading');
  }
  el.subtitle.textContent = sub;
  const active = !!rec && ui.phase !== 'ended' && !rec.left;
  if (active !== ui.active) {
    ui.active = active;
    postToHost({ type: 'active', active });
  }
}

function renderPhase() {
  const tr = el.transcript;
  const stick = tr.scrollHeight - tr.scrollTop - tr.clientHeight < 60;
  el.waiting.hidden = ui.phase !== 'waiting';
  el.agentBar.hidden = !(ui.phase === 'chatting' && ui.agent);
  el.hold.hidden = !(ui.held && ui.phase === 'chatting');
  el.endedBar.hidden = ui.phase !== 'ended';
  el.composer.hidden = ui.phase === 'ended';
  el.hint.hidden = ui.phase === 'ended';
  if (ui.agent) {
    el.agentName.textContent = ui.agent.name;
    el.agentAvatar.textContent = initials(ui.agent.name);
  }
  const locked = ui.held || ui.phase === 'ended';
  el.input.disabled = locked;
  el.send.disabled = locked;
  el.input.placeholder = ui.held ? t('placeholderHeld') : ui.phase === 'waiting' ? t('placeholderWaiting') : t('placeholder');
  el.talk.hidden = !(voice.enabled && ui.phase === 'chatting' && !voice.leg && !voice.state);
  el.composer.classList.toggle('is-locked', locked);
  renderHeader();
  if (stick) scrollToEnd();
}

// ---------------------------------------------------------------- start

el.startForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (el.startBtn.disabled) return;
  el.startError.textContent = '';
  setBusy(el.startBtn, true, t('starting'));
  const name = el.name.value.trim().slice(0, 80);
  const channel = el.startForm.elements.channel.value === 'voice' && voice.enabled ? 'voice' : 'chat';
  let stream = null;
  if (channel === 'voice') {
    // The microphone first: refused, nothing is queued and the visitor may go on by text.
    try {
      stream = await getMicrophone();
    } catch (e) {
      setBusy(el.startBtn, false);
      el.startError.textContent = micText(e);
      offerTextInstead();
      return;
    }
  }
  try {
    const res = await fetch('/api/widget/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ queue, name, channel, attributes: ctx }),
      credentials: 'omit',
    });
    if (res.status !== 201 && res.status !== 200) throw httpError(res.status);
    const body = await res.json();
    if (!body || typeof body.conversation !== 'string' || typeof body.token !== 'string') throw httpError(0);
    rec = {
      conversation: body.conversation,
      token: body.token,
      expires: body.expires || '',
      lastSeq: 0,
      name,
      messages: [],
      outbox: [],
      ended: false,
      left: '',
      voice: channel === 'voice',
    };
    if (Array.isArray(body.iceServers)) voice.iceServers = body.iceServers;
    save();
    resetTranscript();
    ui.phase = 'waiting';
    showView('chat');
    renderPhase();
    setWaiting(null);
    if (stream) voice.stream = stream;
    connect();
    el.input.focus();
  } catch (e) {
    for (const tr of stream?.getTracks() || []) tr.stop();
    el.startError.textContent = e.userMessage || t('errNetwork');
  } finally {
    setBusy(el.startBtn, false);
  }
});

function httpError(status) {
  const e = new Error(`HTTP ${status}`);
  e.status = status;
  e.userMessage =
    status === 503 ? t('errDraining') :
    status === 400 || status === 404 ? t('errQueue') :
    status === 429 ? t('errRate') :
    t('errNetwork');
  return e;
}

function setBusy(btn, busy, label) {
  btn.disabled = busy;
  btn.setAttribute('aria-busy', busy ? 'true' : 'false');
  if (busy) {
    btn.dataset.label = btn.textContent;
    clear(btn).append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text: label }));
  } else if (btn.dataset.label) {
    clear(btn).append(h('span', { text: btn.dataset.label }));
  }
}

// ---------------------------------------------------------------- connection

function connect() {
  if (client) client.stop();
  client = new ProtocolClient({
    url: () => wsURL('/ws', { token: rec.token }),
    timeout: 20000,
  });
  client.follow(rec.conversation, rec.lastSeq || 0);
  client.on('status', onStatus);
  client.on('message', (m) => onMessage(m, true));
  client.on('typing', onTyping);
  client.on('position', onPosition);
  client.on('busy', () => {
    el.busy.hidden = false;
    announce(el.live, t('busy'));
  });
  client.on('left', onLeft);
  client.on('call', onCall);
  client.on('ice', (m) => { if (m.conversation === rec?.conversation) voice.leg?.addCandidate(m.candidate); });
  client.on('status', ({ status }) => {
    // A visitor who chose Voice calls as soon as the connection is up.
    if (status === STATUS.open && voice.stream && !voice.leg && rec && !rec.ended) startCall(voice.stream);
  });
  client.on('outbox', (cmds) => {
    if (!rec) return;
    rec.outbox = cmds;
    save();
  });
  client.on('error', (m) => console.warn('contactd: server error', m.code, m.message));
  // Commands that were not answered before the reload go again, same ids.
  for (const c of rec.outbox || []) {
    if (c.type === 'send' && typeof c.fields?.text === 'string') {
      const li = addPending(c.fields.text, c.id);
      trackSend(li, client.restore([c], { timeout: 0 }).get(c.id));
    } else if (c.type === 'end') {
      client.restore([c], { timeout: 0 }).get(c.id)?.then(() => setEnded(), () => {});
    }
  }
  client.start();
}

let connTimer = 0;
function onStatus({ status, attempt }) {
  clearTimeout(connTimer);
  if (status === STATUS.open) {
    el.conn.hidden = true;
    el.app.classList.remove('is-offline');
    return;
  }
  if (status === STATUS.closed) {
    el.conn.hidden = true;
    return;
  }
  if (rec?.expires) {
    const exp = parseTime(rec.expires);
    if (exp && exp.getTime() < Date.now()) {
      client?.stop();
      expire();
      return;
    }
  }
  // A first connect that takes a moment, or a drop: say so after a short
  // delay, so a quick reconnect does not flash.
  connTimer = setTimeout(() => {
    clear(el.conn).append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text: attempt > 0 || client?.hello ? t('reconnecting') : t('connecting') }));
    el.conn.hidden = false;
    el.app.classList.add('is-offline');
  }, attempt > 0 ? 0 : 800);
}

function expire() {
  rec = null;
  forget();
  ui.phase = 'ended';
  renderPhase();
  addSystem(t('expired'), 'expired');
}

// ---------------------------------------------------------------- messages

function resetTranscript() {
  clear(el.transcript);
  seen.clear();
  ui.names.clear();
  ui.agent = null;
  ui.held = false;
  el.busy.hidden = true;
  clearTyping();
}

// onMessage renders a stored message once (by seq) and applies its effect.
function onMessage(m, live) {
  if (!rec || m.conversation !== rec.conversation || !Number.isFinite(m.seq)) return;
  if (m.kind === 'note') return; // never for visitors; ignore if one slips through
  if (seen.has(m.seq)) return;
  seen.add(m.seq);
  if (live) {
    rec.messages.push(slim(m));
    rec.messages.sort((a, b) => a.seq - b.seq);
    rec.lastSeq = Math.max(rec.lastSeq || 0, m.seq);
    save();
  }
  if (m.kind === 'text') {
    if (m.sender === 'visitor') {
      const pending = findPendingByText(m.text);
      if (pending) confirmPending(pending, m);
      else insertBubble(ownBubble(m.text, m), m.seq);
    } else {
      ui.names.set(m.sender, m.senderName || ui.names.get(m.sender) || t('operator'));
      insertBubble(agentBubble(m), m.seq);
      clearTyping();
      if (live) {
        notifyUnread();
        announce(el.live, t('newMessage', { name: m.senderName || t('operator') }));
      }
    }
    return;
  }
  if (m.kind === 'event') applyEvent(m, live);
}

function slim(m) {
  const { seq, sender, senderName, kind, text, event, data, time } = m;
  return { conversation: rec.conversation, seq, sender, senderName, kind, text, event, data, time };
}

function nameOf(sender, fallback) {
  return ui.names.get(sender) || fallback || t('operator');
}

function applyEvent(m, live) {
  const data = m.data && typeof m.data === 'object' ? m.data : {};
  switch (m.event) {
    case 'joined': {
      if (m.sender === 'visitor') return;
      const name = m.senderName || nameOf(m.sender);
      ui.names.set(m.sender, name);
      if (data.role === 'consult') return; // a colleague reading along, not for the visitor
      ui.agent = { sender: m.sender, name };
      ui.phase = ui.phase === 'ended' ? 'ended' : 'chatting';
      el.busy.hidden = true;
      addSystem(t('joined', { name }), m.seq);
      if (live) announce(el.live, t('chattingWithName', { name }));
      break;
    }
    case 'handed_over': {
      const to = typeof data.to === 'string' ? data.to : '';
      const name = nameOf(to, t('anotherOperator'));
      ui.agent = { sender: to, name };
      ui.phase = ui.phase === 'ended' ? 'ended' : 'chatting';
      addSystem(t('handedOver', { name }), m.seq);
      if (live) announce(el.live, t('chattingWithName', { name }));
      break;
    }
    case 'left': {
      if (m.sender === 'visitor') return;
      const name = m.senderName || nameOf(m.sender);
      if (ui.agent && ui.agent.sender === m.sender) {
        // The operator handed us on (blind transfer): back to waiting.
        ui.agent = null;
        if (ui.phase !== 'ended') {
          ui.phase = 'waiting';
          setWaiting(null, t('transferring'));
        }
        addSystem(t('leftChat', { name }), m.seq);
      } else if (!ui.agent || ui.agent.sender !== m.sender) {
        addSystem(t('leftChat', { name }), m.seq);
      }
      break;
    }
    case 'hold':
      ui.held = true;
      addSystem(t('heldLine'), m.seq);
      if (live) announce(el.live, t('onHold'));
      break;
    case 'resume':
      ui.held = false;
      addSystem(t('resumedLine'), m.seq);
      if (live) announce(el.live, t('resumedLine'));
      break;
    case 'ended':
      // Left the queue unanswered (nobody logged in, or waited too long),
      // perhaps before this page connected: offer to leave a message.
      if (!ui.agent && (data.reason === 'no_agents' || data.reason === 'timeout')) {
        onLeft({ reason: data.reason });
        return;
      }
      addSystem(t('chatEnded'), m.seq);
      setEnded(live);
      return;
    case 'call_started':
      addSystem(t('callStartedLine'), m.seq);
      return;
    case 'call_ended':
      addSystem(t('callEndedLine', { d: formatDuration(Number(data.seconds) || 0) }), m.seq);
      return;
    case 'call_invited':
      addSystem(t('callInvitedLine', { name: m.senderName || nameOf(m.sender) }), m.seq);
      return;
    case 'call_declined':
      addSystem(t('callDeclinedLine'), m.seq);
      return;
    default:
      return;
  }
  renderPhase();
}

function setEnded(live = true) {
  endCallLocally();
  if (ui.phase === 'ended' && rec?.ended) return;
  ui.phase = 'ended';
  ui.held = false;
  clearTyping();
  if (rec) {
    rec.ended = true;
    rec.outbox = [];
    save();
  }
  renderPhase();
  if (!live) return;
  // Nothing more to send or receive; keep the transcript on screen.
  setTimeout(() => { if (ui.phase === 'ended') client?.stop(); }, 500);
  announce(el.live, t('chatEnded'));
  if (document.activeElement === el.input || document.activeElement === el.endBtn || document.activeElement === document.body) el.newChat.focus();
}

// ---------------------------------------------------------------- transcript rendering

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
  const name = m.senderName || nameOf(m.sender);
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

// ---------------------------------------------------------------- sending

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
        if (rec) {
          rec.messages.push({ conversation: rec.conversation, seq, sender: 'visitor', kind: 'text', text: li.dataset.text, time: new Date().toISOString() });
          rec.messages.sort((a, b) => a.seq - b.seq);
          rec.lastSeq = Math.max(rec.lastSeq || 0, seq);
          save();
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
  if (!client || !rec) return;
  const id = client.newId();
  const li = addPending(text, id);
  trackSend(li, client.request('send', { text }, { id, timeout: 0 }));
}

el.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = el.input.value.replace(/\s+$/u, '').replace(/^\s*\n/u, '');
  if (!text.trim() || ui.held || ui.phase === 'ended') return;
  if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) {
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

// ---------------------------------------------------------------- typing

let typingOn = false;
let typingSentAt = 0;
let typingIdle = 0;
el.input.addEventListener('input', () => {
  autosize();
  if (!client || ui.phase === 'ended') return;
  if (el.input.value.trim() === '') {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (!typingOn || now - typingSentAt > 3000) {
    if (client.notify('typing', { on: true })) {
      typingOn = true;
      typingSentAt = now;
    }
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, 4000);
});

function stopTyping() {
  clearTimeout(typingIdle);
  if (typingOn) client?.notify('typing', { on: false });
  typingOn = false;
}

function onTyping(m) {
  if (!rec || (m.conversation && m.conversation !== rec.conversation) || m.sender === 'visitor') return;
  if (!m.on) {
    clearTyping();
    return;
  }
  const name = nameOf(m.sender, ui.agent?.name);
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

// ---------------------------------------------------------------- waiting

function setWaiting(pos, title) {
  el.waitingTitle.textContent = title || t('routing');
  if (!pos) {
    el.position.textContent = t('positionUnknown');
    el.eta.textContent = t('etaEstimating');
    return;
  }
  const p = Number(pos.position);
  el.position.textContent = p >= 1 ? t('position', { n: p }) : t('positionUnknown');
  const w = Number(pos.estimatedWait);
  el.eta.textContent =
    !Number.isFinite(w) || w < 0 ? t('etaEstimating') :
    w < 60 ? t('etaSoon') :
    t('eta', { m: Math.max(1, Math.round(w / 60)) });
}

let lastAnnouncedPos = 0;
function onPosition(m) {
  if (ui.phase !== 'waiting') return;
  setWaiting(m);
  if (m.position !== lastAnnouncedPos && m.position >= 1) {
    lastAnnouncedPos = m.position;
    announce(el.live, t('position', { n: m.position }));
  }
}

// ---------------------------------------------------------------- left, leave a message

function onLeft(m) {
  if (!rec) return;
  rec.left = m.reason === 'no_agents' ? 'no_agents' : 'timeout';
  save();
  client?.stop();
  openLeave(rec.left);
}

function openLeave(reason) {
  ui.leaveFrom = ui.view === 'leave' ? ui.leaveFrom : ui.view;
  el.leaveIntro.textContent =
    reason === 'no_agents' ? t('leaveNoAgents') :
    reason === 'timeout' ? t('leaveTimeout') :
    t('leaveIntro');
  el.leaveBack.hidden = !!reason; // nothing to go back to
  el.leaveRestart.hidden = !reason;
  // A message already left for this conversation: the thank-you stays.
  const sent = !!reason && !!rec?.messageLeft;
  el.leaveForm.hidden = sent;
  el.leaveDone.hidden = !sent;
  if (sent) {
    showView('leave');
    return;
  }
  if (!el.leaveName.value) el.leaveName.value = rec?.name || el.name.value.trim();
  showView('leave');
  (el.leaveName.value ? el.leaveEmail : el.leaveName).focus();
}

for (const b of document.querySelectorAll('[data-action="leave"]')) {
  b.addEventListener('click', () => openLeave(''));
}
el.leaveBack.addEventListener('click', () => {
  showView(ui.leaveFrom === 'leave' ? 'start' : ui.leaveFrom);
  (ui.view === 'chat' ? el.input : el.name).focus();
});

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/u;
el.leaveForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (el.leaveSubmit.disabled) return;
  const name = el.leaveName.value.trim().slice(0, 80);
  const email = el.leaveEmail.value.trim();
  const text = el.leaveText.value.trim();
  let ok = true;
  el.leaveEmailError.textContent = '';
  el.leaveTextError.textContent = '';
  el.leaveError.textContent = '';
  el.leaveEmail.removeAttribute('aria-invalid');
  el.leaveText.removeAttribute('aria-invalid');
  if (!EMAIL.test(email)) {
    el.leaveEmailError.textContent = t('errEmail');
    el.leaveEmail.setAttribute('aria-invalid', 'true');
    ok = false;
  }
  if (!text) {
    el.leaveTextError.textContent = t('errMessageEmpty');
    el.leaveText.setAttribute('aria-invalid', 'true');
    ok = false;
  }
  if (!ok) {
    (el.leaveEmail.getAttribute('aria-invalid') ? el.leaveEmail : el.leaveText).focus();
    return;
  }
  setBusy(el.leaveSubmit, true, t('sendingMessage'));
  try {
    const body = { queue, name, email, text };
    if (rec?.conversation) body.conversation = rec.conversation;
    const res = await fetch('/api/widget/leave-message', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 204) throw httpError(res.status);
    // Waiting no longer: give the place in line back.
    if (client && rec && !rec.ended && !rec.left && ui.phase !== 'chatting') {
      client.request('end', {}, { timeout: 5000 }).catch(() => {});
    }
    el.leaveForm.hidden = true;
    el.leaveDone.hidden = false;
    el.leaveText.value = '';
    if (rec && ui.phase !== 'chatting') {
      rec.ended = true;
      rec.messageLeft = true;
      save();
    }
    el.leaveNewChat.focus();
    announce(el.live, t('thanksSub'));
  } catch (e) {
    el.leaveError.textContent = e.userMessage || t('errNetwork');
  } finally {
    setBusy(el.leaveSubmit, false);
  }
});

// ---------------------------------------------------------------- end, new chat

el.endBtn.addEventListener('click', () => {
  if (!rec || ui.phase === 'ended') return;
  el.confirmEnd.returnValue = '';
  el.confirmEnd.showModal();
});
el.confirmEnd.addEventListener('close', () => {
  if (el.confirmEnd.returnValue !== 'end') {
    el.endBtn.focus();
    return;
  }
  if (!client || !rec) return;
  el.endBtn.disabled = true;
  client.request('end', {}, { timeout: 0 }).then(
    () => setEnded(),
    (err) => {
      if (err.code === 'ended') setEnded();
      else if (err.code !== 'closed') flashHint(errorText(err.code));
    },
  ).finally(() => { el.endBtn.disabled = false; });
});

function newChat() {
  client?.stop();
  client = null;
  rec = null;
  forget();
  resetTranscript();
  ui.phase = 'idle';
  el.leaveForm.hidden = false;
  el.leaveDone.hidden = true;
  showView('start');
  renderPhase();
  el.name.focus();
}
el.newChat.addEventListener('click', newChat);
el.leaveNewChat.addEventListener('click', newChat);
el.leaveRestart.addEventListener('click', newChat);

// ---------------------------------------------------------------- host page

function postToHost(msg) {
  if (!embedded) return;
  window.parent.postMessage({ ns: 'contactd', ...msg }, hostOrigin || '*');
}

function notifyUnread() {
  if (ui.open && !document.hidden) return;
  ui.unread++;
  postToHost({ type: 'unread', count: ui.unread });
}

window.addEventListener('message', (ev) => {
  if (!embedded || ev.source !== window.parent) return;
  if (hostOrigin && ev.origin !== hostOrigin) return;
  const m = ev.data;
  if (!m || m.ns !== 'contactd') return;
  if (m.type === 'open') {
    ui.open = true;
    ui.unread = 0;
    focusCurrent();
  } else if (m.type === 'closed') {
    ui.open = false;
  }
});

function focusCurrent() {
  if (ui.view === 'start') el.name.focus();
  else if (ui.view === 'chat') (el.input.disabled ? (ui.phase === 'ended' ? el.newChat : el.endBtn) : el.input).focus();
  else if (ui.view === 'leave') (el.leaveForm.hidden ? el.leaveNewChat : el.leaveName).focus();
}

el.minimize.addEventListener('click', () => postToHost({ type: 'close' }));
document.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Escape' || ev.defaultPrevented) return;
  if (el.confirmEnd.open) return; // the dialog closes itself
  if (embedded) postToHost({ type: 'close' });
});

// ---------------------------------------------------------------- voice

const voice = {
  enabled: false,
  iceServers: [],
  stream: null, // the microphone, once granted
  leg: null, // VoiceLeg
  state: '', // the server's call state: waiting | connected | held | consult | invited | ''
  since: 0, // ms when the call connected
  timer: 0,
  reconnecting: false,
};

async function loadVoiceConfig() {
  try {
    const res = await fetch('/api/widget/config', { credentials: 'omit' });
    if (!res.ok) return;
    const cfg = await res.json();
    voice.enabled = !!cfg.voice && webrtcSupported();
    if (Array.isArray(cfg.iceServers)) voice.iceServers = cfg.iceServers;
  } catch { /* voice stays off */ }
  const input = el.voiceChoice.querySelector('input');
  input.disabled = !voice.enabled;
  el.voiceChoice.classList.toggle('choice-disabled', !voice.enabled);
  const sub = el.voiceChoice.querySelector('small');
  sub.textContent = voice.enabled ? t('voiceSub') : webrtcSupported() ? t('voiceSoon') : t('voiceUnsupported');
  renderPhase();
}

function micText(e) {
  switch (e?.reason) {
    case 'denied': return t('micDenied');
    case 'nodevice': return t('micMissing');
    case 'unsupported': return t('micUnsupported');
  }
  return t('micFailed');
}

// offerTextInstead turns the start form to Text after the microphone failed.
function offerTextInstead() {
  const textInput = el.startForm.querySelector('input[value="chat"]');
  textInput.checked = true;
  textInput.focus();
}

async function startCall(stream) {
  if (voice.leg || !client || !rec) return;
  el.callError.hidden = true;
  const leg = new VoiceLeg({
    iceServers: voice.iceServers,
    offer: (sdp, renew) => client.request('call_offer', { sdp, renew }, { timeout: 15000 }),
    ice: (candidate) => client.notify('ice', { candidate }),
    onState: (s) => {
      voice.reconnecting = s === 'reconnecting';
      if (s === 'failed' && voice.leg === leg) rejoin();
      renderCall();
    },
  });
  voice.leg = leg;
  if (!voice.state) voice.state = 'waiting';
  renderCall();
  try {
    await leg.start(stream);
  } catch (e) {
    leg.close();
    if (voice.leg === leg) voice.leg = null;
    voice.stream = null;
    voice.state = '';
    showCallError(e?.code === 'unavailable' ? e.message : t('micFailed'));
    renderCall();
  }
}

async function addVoice() {
  el.callInvite.hidden = true;
  try {
    voice.stream = await getMicrophone();
  } catch (e) {
    showCallError(micText(e));
    if (voice.state === 'invited') client?.request('call_decline', {}).catch(() => {});
    voice.state = '';
    renderCall();
    return;
  }
  startCall(voice.stream);
}

function showCallError(text) {
  el.callErrorText.textContent = text;
  el.callError.hidden = false;
  el.callErrorBtn.hidden = ui.phase !== 'chatting' && ui.phase !== 'waiting' ? true : false;
}

function onCall(m) {
  if (!rec || m.conversation !== rec.conversation) return;
  switch (m.state) {
    case 'invited':
      voice.state = 'invited';
      el.callInviteText.textContent = t('callInvite', { name: ui.agent?.name || t('operator') });
      el.callInvite.hidden = false;
      el.callInviteAccept.focus();
      announce(el.live, el.callInviteText.textContent);
      break;
    case 'ended':
    case 'declined':
      endCallLocally();
      if (m.state === 'ended') announce(el.live, t('callEnded'));
      break;
    default:
      voice.state = m.state;
      voice.since = m.since ? Date.parse(m.since) : 0;
      // After a reload the call goes on: open a new leg for it.
      if (!voice.leg && rec && !rec.ended) {
        if (voice.stream) startCall(voice.stream);
        else getMicrophone().then((s) => { voice.stream = s; startCall(s); }, (e) => showCallError(micText(e)));
      }
  }
  renderCall();
}

// rejoin replaces a leg that could not be restarted with a new one.
function rejoin() {
  const old = voice.leg;
  voice.leg = null;
  old?.close();
  voice.stream = null;
  if (!voice.state || !rec || rec.ended) return;
  voice.reconnecting = true;
  getMicrophone().then((s) => { voice.stream = s; startCall(s); }, (e) => showCallError(micText(e)));
}

function endCallLocally() {
  voice.leg?.close();
  voice.leg = null;
  for (const tr of voice.stream?.getTracks() || []) tr.stop();
  voice.stream = null;
  voice.state = '';
  voice.since = 0;
  voice.reconnecting = false;
  el.callInvite.hidden = true;
  renderCall();
}

function renderCall() {
  const on = !!voice.leg && !!voice.state && voice.state !== 'invited';
  el.callBar.hidden = !on;
  clearInterval(voice.timer);
  if (on) {
    const st = voice.reconnecting ? 'reconnecting' : voice.state;
    el.callBar.className = `call-bar is-${st}`;
    el.callState.textContent = {
      waiting: voice.since ? t('callHeld') : t('callWaiting'),
      connected: t('callConnected'),
      held: t('callHeld'),
      consult: t('callConsult'),
      reconnecting: t('callReconnecting'),
    }[st] || t('callConnecting');
    const tick = () => {
      el.callTimer.textContent = voice.since ? formatDuration((Date.now() - voice.since) / 1000) : '';
    };
    tick();
    voice.timer = setInterval(tick, 1000);
    const muted = !!voice.leg?.muted;
    el.callMute.setAttribute('aria-pressed', muted ? 'true' : 'false');
    el.callMute.setAttribute('aria-label', muted ? t('unmute') : t('mute'));
    clear(el.callMute).append(icon(muted ? 'micOff' : 'mic'));
  }
  if (el.talk) el.talk.hidden = !(voice.enabled && ui.phase === 'chatting' && !voice.leg && !voice.state);
}

el.callMute.addEventListener('click', () => {
  voice.leg?.setMuted(!voice.leg.muted);
  renderCall();
});
el.callHangup.addEventListener('click', () => {
  client?.request('call_hangup', {}).catch(() => {});
  endCallLocally();
});
el.callInviteAccept.addEventListener('click', addVoice);
el.callInviteDecline.addEventListener('click', () => {
  el.callInvite.hidden = true;
  voice.state = '';
  client?.request('call_decline', {}).catch(() => {});
  renderCall();
  el.input.focus();
});
el.callErrorBtn.addEventListener('click', () => {
  el.callError.hidden = true;
  if (ui.view === 'chat') el.input.focus();
});
el.talk.addEventListener('click', addVoice);
// Read-only call figures for support and tests: audio bytes in and out.
window.contactdCallStats = () => (voice.leg ? voice.leg.stats() : Promise.resolve(null));
el.talk.append(icon('phone'));
document.addEventListener('click', () => voice.leg?.resumeAudio(), { capture: true });

// ---------------------------------------------------------------- boot

function boot() {
  localize();
  loadVoiceConfig();
  rec = load();
  if (rec && (typeof rec.conversation !== 'string' || typeof rec.token !== 'string')) rec = null;
  const exp = parseTime(rec?.expires);
  if (rec && exp && exp.getTime() < Date.now() && !rec.ended) {
    forget();
    rec = null;
  }
  if (!rec) {
    showView('start');
    renderPhase();
    postToHost({ type: 'ready' });
    return;
  }
  rec.messages = Array.isArray(rec.messages) ? rec.messages : [];
  el.name.value = rec.name || '';
  showView('chat');
  ui.phase = 'waiting';
  setWaiting(null);
  // Draw what was seen before the reload, then ask for what came after.
  for (const m of rec.messages) onMessage(m, false);
  if (!rec.messages.length) rec.lastSeq = 0;
  if (rec.left) {
    openLeave(rec.left);
  } else if (rec.ended || ui.phase === 'ended') {
    ui.phase = 'ended';
    renderPhase();
  } else {
    renderPhase();
    connect();
  }
  postToHost({ type: 'ready' });
}

boot();
