// Sign-in and sign-out, the connection, and presence.
// The desk's parts share one context d (desk.js): its state d.S, its
// elements d.el and the functions each part adds to it.
import { ProtocolClient, wsURL, STATUS } from '/shared/protocol.js';
import { announce } from '/shared/dom.js';
import { clock, initials, since } from '/shared/format.js';
import { createOffers } from '/desk/offers.js';
import { createCalls } from '/desk/call.js';
import { STATE_LABEL, busy, errText, obj, str } from '/desk/util.js';

export function createSession(d) {
  const { S, el } = d;
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
    d.stopLeftMessages();
    d.renderParked();
    d.renderOperators();
    d.renderMain();
    d.renderCounts();
  }

  async function loadConfig() {
    try {
      const r = await fetch('/api/config/desk', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!r.ok) return;
      const c = await r.json();
      const queues = (Array.isArray(c.queues) ? c.queues : []).map((q) =>
        typeof q === 'string' ? { id: q, name: q } : { id: str(q?.id), name: str(q?.name) || str(q?.id) }).filter((q) => q.id);
      S.config = { queues, canned: Array.isArray(c.canned) ? c.canned : [], invitation: str(c.invitation || c.invitationTemplate) };
      S.calls.configure({ voice: !!c.voice, iceServers: c.iceServers, dial: c.dial });
    } catch { /* defaults: no queues, the invitation template only */ }
  }

  function enter(me) {
    S.calls = createCalls({
      client: () => S.client,
      selected: () => S.selected,
      conv: (id) => S.convs.get(id),
      toast: d.toast,
      live: el.live,
      changed: () => { const c = S.convs.get(S.selected); if (c) { d.renderConvState(); d.updateItem(c); } },
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
    loadConfig().then(d.loadLeftMessages); // queue names first
    connect();
    d.renderMain();
    d.renderCounts();
    d.renderParked();
    d.renderOperators();
    renderState();
  }

  // connection

  function connect() {
    S.client?.stop();
    const client = new ProtocolClient({ url: () => wsURL('/ws'), timeout: 15000 });
    S.client = client;
    S.offers = createOffers({
      container: el.offers,
      client,
      agentName: d.agentName,
      toast: d.toast,
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
    client.on('offer', (m) => { S.offers.add(m); d.renderTitle(); });
    client.on('offer_ended', (m) => { S.offers.end(m.interaction, m.reason); setTimeout(d.renderTitle, 200); });
    client.on('parked', (m) => { S.parked = Array.isArray(m.items) ? m.items : []; d.renderParked(); });
    client.on('operators', d.onOperators);
    client.on('assigned', d.onAssigned);
    client.on('unassigned', d.onUnassigned);
    client.on('message', d.onMessage);
    client.on('call', (m) => S.calls.onCall(m));
    client.on('ice', (m) => S.calls.onIce(m));
    client.on('phone', (m) => S.calls.onPhone(m));
    client.on('typing', d.onTyping);
    client.on('wrapup', d.onWrapup);
    client.on('synced', d.onSynced);
    client.on('resume_failed', () => {
      // Fall back to one history per conversation; the ones no longer ours fail alone.
      for (const [id, seq] of client.lastSeq) client.history(id, seq);
    });
    client.on('history_failed', ({ conversation, error }) => {
      const c = S.convs.get(conversation);
      if (c && c.status !== 'closed') d.closeConv(c, error.code === 'forbidden' || error.code === 'not_found' ? 'No longer assigned' : 'Unavailable');
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
    if (staffOnly) d.toast('This account has no agent role: it can see the queues but not take chats.', 'info');
  }

  // presence


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
      d.toast(`Status not changed: ${errText(err)}`, 'error');
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
    if (Notification.permission === 'granted') d.toast('Notifications are on.');
  });

  return { connect, enter, fetchMe, leave, loadConfig, onConnStatus, onHello, onState, renderState, sendPresence, showLogin, stateLabel, syncAwayBox };
}
