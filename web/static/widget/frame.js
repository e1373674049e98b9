// The visitor chat inside the widget iframe (same origin as the server).
// Flow: start (name, Text/Voice) -> POST /api/widget/session -> WebSocket
// -> waiting (position, estimated wait) -> chatting -> ended; or the
// leave-a-message form at any time. The conversation survives a reload:
// {conversation, token, lastSeq, transcript, unacked commands} live in
// localStorage under one key per queue.
import { $, icon, clear } from '/shared/dom.js';
import { parseTime, truncateBytes, initials } from '/shared/format.js';
import { strings } from '/widget/strings.js';
import { createConversation } from '/shared/conversation.js';
import { createTranscriptView } from '/shared/transcript-view.js';
import { createChat } from '/widget/chat.js';
import { createTranscript } from '/widget/transcript.js';
import { createLeave } from '/widget/leave.js';
import { createVoiceUI } from '/widget/voice-ui.js';

//
// createWidget builds one context w (the stored conversation w.rec, the
// socket w.client, the elements, the view state and the functions of every
// part) and hands it to each part: chat (start, connection, server
// messages), transcript (drawing, sending, typing), leave (waiting, leave a
// message, end, host page) and voice-ui (the call).

const params = new URLSearchParams(location.search);
const queue = (params.get('queue') || 'default').slice(0, 64);
const lang = (params.get('lang') || 'en').toLowerCase();
const T = strings(lang);
const ctx = readContext(params.get('ctx'));
// Context signed by the site's server (docs/INTEGRATION.md), passed as is.
const signedContext = (params.get('sctx') || '').slice(0, 16384);
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

export function createWidget() {
  const memoryStore = new Map(); // when localStorage is blocked (third-party storage off)
  // state

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

  const w = {
    el, ui, voice, t, T, queue, lang, ctx, signedContext, hostOrigin, embedded, MAX_TEXT_BYTES, rec: null, client: null,
    conv: createConversation(), // the messages drawn and the sends not yet stored
    view: createTranscriptView(el.transcript),
    unsent: new Map(), // command id -> drawn unsent message
  };

  // storage

  function load() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
    } catch {
      return memoryStore.get(STORE_KEY) || null;
    }
  }
  function save() {
    if (!w.rec) return;
    w.rec.messages = w.rec.messages.slice(-MAX_CACHED);
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(w.rec));
    } catch {
      // Quota or blocked: keep the essentials; a reload then resumes from 0.
      memoryStore.set(STORE_KEY, w.rec);
      try {
        localStorage.setItem(STORE_KEY, JSON.stringify({ ...w.rec, messages: [], lastSeq: 0 }));
      } catch { /* memory only */ }
    }
  }
  function forget() {
    memoryStore.delete(STORE_KEY);
    try { localStorage.removeItem(STORE_KEY); } catch { /* blocked */ }
  }

  // static texts and icons

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

  // views

  function showView(view) {
    ui.view = view;
    el.viewStart.hidden = view !== 'start';
    el.viewChat.hidden = view !== 'chat';
    el.viewLeave.hidden = view !== 'leave';
    renderHeader();
  }

  function renderHeader() {
    el.endBtn.hidden = !(w.rec && ui.phase !== 'ended' && ui.view === 'chat');
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
    const active = !!w.rec && ui.phase !== 'ended' && !w.rec.left;
    if (active !== ui.active) {
      ui.active = active;
      w.postToHost({ type: 'active', active });
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
    // On hold the visitor may go on writing (the draft is kept); only Send waits.
    const locked = ui.held || ui.phase === 'ended';
    el.input.disabled = ui.phase === 'ended';
    el.send.disabled = locked;
    el.input.placeholder = ui.held ? t('placeholderHeld') : ui.phase === 'waiting' ? t('placeholderWaiting') : t('placeholder');
    el.talk.hidden = !(voice.enabled && ui.phase === 'chatting' && !voice.leg && !voice.state);
    el.composer.classList.toggle('is-locked', locked);
    renderHeader();
    if (stick) w.scrollToEnd();
  }

  // boot

  function boot() {
    localize();
    w.loadVoiceConfig();
    w.rec = load();
    if (w.rec && (typeof w.rec.conversation !== 'string' || typeof w.rec.token !== 'string')) w.rec = null;
    const exp = parseTime(w.rec?.expires);
    if (w.rec && exp && exp.getTime() < Date.now() && !w.rec.ended) {
      forget();
      w.rec = null;
    }
    if (!w.rec) {
      showView('start');
      renderPhase();
      w.postToHost({ type: 'ready' });
      return;
    }
    w.rec.messages = Array.isArray(w.rec.messages) ? w.rec.messages : [];
    el.name.value = w.rec.name || '';
    showView('chat');
    ui.phase = 'waiting';
    w.setWaiting(null);
    // Draw what was seen before the reload, then ask for what came after.
    for (const m of w.rec.messages) w.onMessage(m, false);
    if (!w.rec.messages.length) w.rec.lastSeq = 0;
    if (w.rec.left) {
      w.openLeave(w.rec.left);
    } else if (w.rec.ended || ui.phase === 'ended') {
      ui.phase = 'ended';
      renderPhase();
    } else {
      renderPhase();
      w.connect();
    }
    w.postToHost({ type: 'ready' });
  }

  Object.assign(w, { load, save, forget, showView, renderHeader, renderPhase });
  for (const part of [createChat, createTranscript, createLeave, createVoiceUI]) Object.assign(w, part(w));
  return { boot };
}

createWidget().boot();
