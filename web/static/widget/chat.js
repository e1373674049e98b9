// Starting a chat, its connection, and what the server says in it.
// The widget's parts share one context w (frame.js).
import { createConversation } from '/shared/conversation.js';
import { ProtocolClient, wsURL, STATUS } from '/shared/protocol.js';
import { h, clear, announce } from '/shared/dom.js';
import { parseTime } from '/shared/format.js';
import { getMicrophone, formatDuration } from '/shared/voice.js';

export function createChat(w) {
  const { el, ui, voice, t } = w;
  // start

  // The start button says what it starts: a chat, or a call for Voice.
  function syncStartLabel() {
    const voiceChosen = el.startForm.elements.channel.value === 'voice';
    const label = el.startBtn.querySelector('span:last-child') || el.startBtn;
    if (!el.startBtn.disabled) label.textContent = voiceChosen ? t('startCall') : t('startChat');
  }
  el.startForm.addEventListener('change', syncStartLabel);

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
        el.startError.textContent = w.micText(e);
        w.offerTextInstead();
        return;
      }
    }
    try {
      const res = await fetch('/api/widget/session', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ queue: w.queue, name, channel, attributes: w.ctx, ...(w.signedContext && { signedContext: w.signedContext }) }),
        credentials: 'omit',
      });
      if (res.status !== 201 && res.status !== 200) throw httpError(res.status);
      const body = await res.json();
      if (!body || typeof body.conversation !== 'string' || typeof body.token !== 'string') throw httpError(0);
      w.rec = {
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
      w.save();
      resetTranscript();
      ui.phase = 'waiting';
      w.showView('chat');
      w.renderPhase();
      w.setWaiting(null);
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

  // connection

  function connect() {
    if (w.client) w.client.stop();
    w.client = new ProtocolClient({
      url: () => wsURL('/ws', { token: w.rec.token }),
      timeout: 20000,
    });
    w.client.follow(w.rec.conversation, w.rec.lastSeq || 0);
    w.client.on('status', onStatus);
    w.client.on('message', (m) => onMessage(m, true));
    w.client.on('typing', w.onTyping);
    w.client.on('position', w.onPosition);
    w.client.on('busy', () => {
      el.busy.hidden = false;
      announce(el.live, t('busy'));
    });
    w.client.on('left', w.onLeft);
    w.client.on('call', w.onCall);
    w.client.on('ice', (m) => { if (m.conversation === w.rec?.conversation) voice.leg?.addCandidate(m.candidate); });
    w.client.on('status', ({ status }) => {
      // A visitor who chose Voice calls as soon as the connection is up.
      if (status === STATUS.open && voice.stream && !voice.leg && w.rec && !w.rec.ended) w.startCall(voice.stream);
    });
    w.client.on('outbox', (cmds) => {
      if (!w.rec) return;
      w.rec.outbox = cmds;
      w.save();
    });
    w.client.on('error', (m) => console.warn('contactd: server error', m.code, m.message));
    // Commands that were not answered before the reload go again, same ids.
    for (const c of w.rec.outbox || []) {
      if (c.type === 'send' && typeof c.fields?.text === 'string') {
        const li = w.addPending(c.fields.text, c.id);
        w.trackSend(li, w.client.restore([c], { timeout: 0 }).get(c.id));
      } else if (c.type === 'end') {
        w.client.restore([c], { timeout: 0 }).get(c.id)?.then(() => setEnded(), () => {});
      }
    }
    w.client.start();
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
    if (w.rec?.expires) {
      const exp = parseTime(w.rec.expires);
      if (exp && exp.getTime() < Date.now()) {
        w.client?.stop();
        expire();
        return;
      }
    }
    // A first connect that takes a moment, or a drop: say so after a short
    // delay, so a quick reconnect does not flash.
    connTimer = setTimeout(() => {
      clear(el.conn).append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text: attempt > 0 || w.client?.hello ? t('reconnecting') : t('connecting') }));
      el.conn.hidden = false;
      el.app.classList.add('is-offline');
    }, attempt > 0 ? 0 : 800);
  }

  function expire() {
    w.rec = null;
    w.forget();
    ui.phase = 'ended';
    w.renderPhase();
    w.addSystem(t('expired'), 'expired');
  }

  // messages

  function resetTranscript() {
    w.view.clear();
    w.conv = createConversation({ id: w.rec?.conversation });
    w.unsent.clear();
    ui.names.clear();
    ui.agent = null;
    ui.held = false;
    el.busy.hidden = true;
    w.clearTyping();
  }

  // onMessage renders a stored message once (by seq) and applies its effect.
  function onMessage(m, live) {
    if (!w.rec || m.conversation !== w.rec.conversation || !Number.isFinite(m.seq)) return;
    if (m.kind === 'note') return; // never for visitors; ignore if one slips through
    const placed = w.conv.add(m);
    if (!placed.added) return;
    if (live) {
      w.rec.messages.push(slim(m));
      w.rec.messages.sort((a, b) => a.seq - b.seq);
      w.rec.lastSeq = Math.max(w.rec.lastSeq || 0, m.seq);
      w.save();
    }
    if (m.kind === 'text') {
      if (m.sender === 'visitor') {
        const echo = w.conv.echo(m);
        const li = echo ? w.unsent.get(echo.id) : null;
        if (li) {
          w.unsent.delete(echo.id);
          w.settle(li, m);
          w.insertBubble(li, m.seq, placed.before);
        } else {
          w.insertBubble(w.ownBubble(m.text, m), m.seq, placed.before);
        }
      } else {
        ui.names.set(m.sender, m.senderName || ui.names.get(m.sender) || t('operator'));
        w.insertBubble(w.agentBubble(m), m.seq, placed.before);
        w.clearTyping();
        if (live) {
          w.notifyUnread();
          announce(el.live, t('newMessage', { name: m.senderName || t('operator') }));
        }
      }
      return;
    }
    if (m.kind === 'event') applyEvent(m, live, placed.before);
  }

  function slim(m) {
    const { seq, sender, senderName, kind, text, event, data, time } = m;
    return { conversation: w.rec.conversation, seq, sender, senderName, kind, text, event, data, time };
  }

  function nameOf(sender, fallback) {
    return ui.names.get(sender) || fallback || t('operator');
  }

  function applyEvent(m, live, before) {
    const data = m.data && typeof m.data === 'object' ? m.data : {};
    switch (m.event) {
      case 'joined': {
        if (m.sender === 'visitor') return;
        const name = m.senderName || nameOf(m.sender);
        ui.names.set(m.sender, name);
        if (data.role === 'consult') {
          // A colleague joins to take over (warm transfer): say so, without names.
          w.addSystem(t('transferringLine'), m.seq, before);
          if (live) announce(el.live, t('transferringLine'));
          return;
        }
        ui.agent = { sender: m.sender, name };
        ui.phase = ui.phase === 'ended' ? 'ended' : 'chatting';
        el.busy.hidden = true;
        w.addSystem(t('joined', { name }), m.seq, before);
        if (live) announce(el.live, t('chattingWithName', { name }));
        break;
      }
      case 'handed_over': {
        const to = typeof data.to === 'string' ? data.to : '';
        const name = nameOf(to, t('anotherOperator'));
        ui.agent = { sender: to, name };
        ui.phase = ui.phase === 'ended' ? 'ended' : 'chatting';
        w.addSystem(t('handedOver', { name }), m.seq, before);
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
            w.setWaiting(null, t('transferring'));
          }
          w.addSystem(t('leftChat', { name }), m.seq, before);
        } else if (!ui.agent || ui.agent.sender !== m.sender) {
          w.addSystem(t('leftChat', { name }), m.seq, before);
        }
        break;
      }
      case 'hold':
        ui.held = true;
        w.addSystem(t('heldLine'), m.seq, before);
        if (live) announce(el.live, t('onHold'));
        break;
      case 'resume':
        ui.held = false;
        w.addSystem(t('resumedLine'), m.seq, before);
        if (live) announce(el.live, t('resumedLine'));
        break;
      case 'ended':
        // Left the queue unanswered (nobody logged in, or waited too long),
        // perhaps before this page connected: offer to leave a message.
        if (!ui.agent && (data.reason === 'no_agents' || data.reason === 'timeout')) {
          w.onLeft({ reason: data.reason });
          return;
        }
        w.addSystem(t('chatEnded'), m.seq, before);
        setEnded(live);
        return;
      case 'call_started':
        w.addSystem(t('callStartedLine'), m.seq, before);
        return;
      case 'call_ended':
        w.addSystem(t('callEndedLine', { d: formatDuration(Number(data.seconds) || 0) }), m.seq, before);
        return;
      case 'call_invited':
        w.addSystem(t('callInvitedLine', { name: m.senderName || nameOf(m.sender) }), m.seq, before);
        return;
      case 'call_declined':
        w.addSystem(t('callDeclinedLine'), m.seq, before);
        return;
      default:
        return;
    }
    w.renderPhase();
  }

  function setEnded(live = true) {
    w.endCallLocally();
    if (ui.phase === 'ended' && w.rec?.ended) return;
    ui.phase = 'ended';
    ui.held = false;
    w.clearTyping();
    if (w.rec) {
      w.rec.ended = true;
      w.rec.outbox = [];
      w.save();
    }
    w.renderPhase();
    if (!live) return;
    // Nothing more to send or receive; keep the transcript on screen.
    setTimeout(() => { if (ui.phase === 'ended') w.client?.stop(); }, 500);
    announce(el.live, t('chatEnded'));
    if (document.activeElement === el.input || document.activeElement === el.endBtn || document.activeElement === document.body) el.newChat.focus();
  }

  return { syncStartLabel, applyEvent, connect, expire, httpError, nameOf, onMessage, onStatus, resetTranscript, setBusy, setEnded, slim };
}
