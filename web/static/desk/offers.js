// Incoming requests: one card per `offer`, stacked, non-blocking. Accept,
// Decline and Queue (park) buttons, also on the keys A, D and Q (when the
// focus is on a card, or anywhere that is not a text field; Alt+A/D/Q in one); a countdown to
// the offer's deadline; a chime and a browser notification. A card leaves on
// `offer_ended` or when its command is answered.
import { h, clear, announce } from '/shared/dom.js';
import { clock, parseTime, safeHttpURL, visitorLabel } from '/shared/format.js';
import { chime } from '/desk/sound.js';

/**
 * @param {object} o
 * @param {HTMLElement} o.container
 * @param {import('/shared/protocol.js').ProtocolClient} o.client
 * @param {(id: string) => string} o.agentName display name of an agent id
 * @param {(text: string, kind?: string) => void} o.toast
 * @param {HTMLElement} o.liveUrgent
 * @param {(offer: object, waited: number) => void} [o.onAccepting] called before accept is sent
 */
export function createOffers(o) {
  /** @type {Map<string, {offer: object, card: HTMLElement, received: number, deadline: number, total: number, busy: boolean, notification: Notification|null, els: object}>} */
  const offers = new Map();
  let timer = 0;

  function add(offer) {
    if (!offer || typeof offer.interaction !== 'string') return;
    if (offers.has(offer.interaction)) {
      offers.get(offer.interaction).confirmed = true; // re-sent after a reconnect
      return;
    }
    const received = Date.now();
    const dl = parseTime(offer.deadline);
    const deadline = dl ? dl.getTime() : received + 120000;
    const total = Math.max(1000, deadline - received);
    const v = offer.visitor && typeof offer.visitor === 'object' ? offer.visitor : {};
    const attrs = v.attributes && typeof v.attributes === 'object' ? v.attributes : {};
    const name = visitorLabel(str(v.name), str(offer.conversation));
    const queue = str(offer.queue);
    const tr = offer.transfer && typeof offer.transfer === 'object' ? offer.transfer : null;
    const headingId = `offer-h-${offers.size}-${received}`;

    const els = {
      left: h('span', { class: 'offer-left num' }),
      waited: h('span', { class: 'num' }),
      progress: h('progress', { class: 'offer-progress', max: String(total), value: String(total), 'aria-label': 'Time left to answer' }),
      status: h('p', { class: 'offer-status', role: 'status' }),
      accept: button('Accept', 'A', 'btn btn-ok btn-sm', () => act('accept')),
      decline: button('Decline', 'D', 'btn btn-sm', () => act('decline')),
      park: button('Queue', 'Q', 'btn btn-sm', () => act('park')),
    };
    const page = safeHttpURL(attrs.pageUrl);
    const details = h('dl', { class: 'offer-details' },
      [h('dt', { text: 'Channel' }), h('dd', { class: `offer-channel ch-${offer.channel === 'voice' ? 'voice' : 'chat'}`, text: offer.channel === 'voice' ? 'Voice' : 'Chat' })],
      queue && [h('dt', { text: 'Queue' }), h('dd', { text: queue })],
      [h('dt', { text: 'Waited' }), h('dd', {}, els.waited)],
      page && [h('dt', { text: 'Page' }), h('dd', { class: 'offer-page', title: str(attrs.pageTitle) || page.href, text: page.host + page.pathname + page.search })],
    );
    const card = h('section', {
      class: ['offer', tr && 'offer-transfer'],
      role: 'group',
      'aria-labelledby': headingId,
      tabindex: '-1',
      dataset: { interaction: offer.interaction },
    },
    h('div', { class: 'offer-top' },
      h('span', { class: 'offer-kicker' }, h('i', { class: 'pulse', 'aria-hidden': 'true' }), tr ? (tr.mode === 'warm' ? 'Consultation request' : 'Transfer') : offer.channel === 'voice' ? 'Incoming call' : 'Incoming request'),
      els.left),
    h('h3', { id: headingId, class: 'offer-name', text: name }),
    tr && h('p', { class: 'offer-from' },
      h('span', { text: `Transfer from ${o.agentName(str(tr.from)) || 'a colleague'}` }),
      tr.mode && h('span', { class: 'offer-mode', text: tr.mode === 'warm' ? 'warm' : 'blind' })),
    tr && str(tr.note) && h('p', { class: 'offer-note', text: str(tr.note) }),
    details,
    els.progress,
    els.status,
    h('div', { class: 'offer-actions' }, els.accept, els.decline, els.park));

    const entry = { offer, card, received, deadline, total, busy: false, confirmed: true, notification: null, els, waited: Number(offer.waited) || 0 };
    offers.set(offer.interaction, entry);
    o.container.append(card);
    update(entry);
    ensureTimer();

    chime();
    announce(o.liveUrgent, `${tr ? 'Transfer' : 'Incoming request'} from ${name}${queue ? ' in ' + queue : ''}. Press A to accept, D to decline, Q to queue (Alt with the letter while writing).`);
    notify(entry, name, queue, tr);

    async function act(kind) {
      if (entry.busy) return;
      entry.busy = true;
      setBusy(entry, kind);
      // `assigned` may come before the ack: say what is being accepted first.
      if (kind === 'accept') o.onAccepting?.(offer, entry.waited + (Date.now() - entry.received) / 1000);
      try {
        await o.client.request(kind, { interaction: offer.interaction }, { timeout: 15000 });
        if (kind === 'park') o.toast(`${name} is in the communication queue.`);
        // Not a newer offer of the same request that came before this reply.
        if (offers.get(offer.interaction) === entry) remove(offer.interaction);
      } catch (err) {
        entry.busy = false;
        const gone = ['offer_expired', 'not_offered', 'already_accepted', 'not_found'].includes(err.code);
        const msg = {
          offer_expired: 'Too late: this request went to someone else.',
          not_offered: 'This request is no longer yours.',
          already_accepted: 'Someone else accepted this request.',
          not_found: 'This request no longer exists.',
          unavailable: 'You have no free capacity for this request.',
          timeout: 'No answer from the server. Try again.',
        }[err.code] || `Could not ${kind === 'park' ? 'queue' : kind} this request. Please try again.`;
        setBusy(entry, '');
        els.status.textContent = msg;
        card.classList.add('has-error');
        if (gone) setTimeout(() => { if (offers.get(offer.interaction) === entry) remove(offer.interaction); }, 2500);
      }
    }
    entry.act = act;
  }

  function button(label, key, cls, onclick) {
    return h('button', { type: 'button', class: cls, onclick, 'aria-keyshortcuts': `${key} Alt+${key}` },
      h('span', { text: label }), h('kbd', { 'aria-hidden': 'true', text: key }));
  }

  function setBusy(entry, kind) {
    for (const b of [entry.els.accept, entry.els.decline, entry.els.park]) b.disabled = !!kind;
    entry.els.status.textContent = kind === 'accept' ? 'Accepting…' : kind === 'decline' ? 'Declining…' : kind === 'park' ? 'Queueing…' : '';
    entry.card.classList.toggle('is-busy', !!kind);
  }

  function notify(entry, name, queue, tr) {
    if (!('Notification' in globalThis) || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(tr ? 'Transfer request' : 'Incoming request', {
        body: `${name}${queue ? ' · ' + queue : ''}`,
        tag: `offer-${entry.offer.interaction}`,
        silent: true, // the chime plays already
      });
      n.onclick = () => {
        window.focus();
        entry.card.focus();
        n.close();
      };
      entry.notification = n;
    } catch { /* some browsers only allow notifications from a service worker */ }
  }

  function update(entry) {
    const left = Math.max(0, entry.deadline - Date.now());
    entry.els.progress.value = left;
    entry.els.left.textContent = clock(left / 1000);
    entry.card.classList.toggle('is-urgent', left < 15000);
    entry.els.waited.textContent = clock(entry.waited + (Date.now() - entry.received) / 1000);
    if (left === 0 && !entry.busy && !entry.expired) {
      entry.expired = true;
      entry.els.status.textContent = 'Time is up.';
      for (const b of [entry.els.accept, entry.els.decline, entry.els.park]) b.disabled = true;
      // offer_ended normally removes it; this is the fallback.
      setTimeout(() => remove(entry.offer.interaction), 4000);
    }
  }

  function ensureTimer() {
    if (timer) return;
    timer = setInterval(() => {
      for (const e of offers.values()) update(e);
      if (offers.size === 0) {
        clearInterval(timer);
        timer = 0;
      }
    }, 250);
  }

  function remove(interaction, reason) {
    const e = offers.get(interaction);
    if (!e) return;
    offers.delete(interaction);
    e.notification?.close();
    const hadFocus = e.card.contains(document.activeElement);
    e.card.classList.add('is-leaving');
    setTimeout(() => e.card.remove(), 160);
    if (reason === 'offer_timeout') o.toast(`You missed a request from ${visitorLabel(str(e.offer.visitor?.name), str(e.offer.conversation))}.`, 'warn');
    if (reason === 'withdrawn') announce(o.liveUrgent, 'The request was withdrawn.');
    if (hadFocus) {
      const next = offers.values().next().value;
      if (next) next.card.focus();
      else document.getElementById('input')?.focus();
    }
  }

  // A/D/Q: for the card that has the focus, else the oldest card. In a
  // text field (the reply box) the letter is typed: there Alt+A/D/Q acts.
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.repeat || offers.size === 0) return;
    // ev.code, not ev.key: Alt+letter types another character on some layouts.
    const key = /^Key[ADQ]$/.test(ev.code) ? ev.code.slice(3).toLowerCase() : ev.key.toLowerCase();
    const kind = key === 'a' ? 'accept' : key === 'd' ? 'decline' : key === 'q' ? 'park' : '';
    if (!kind) return;
    const t = ev.target;
    const inCard = t instanceof Element ? t.closest('.offer') : null;
    if (!inCard && isTextField(t) && !ev.altKey) return;
    if (document.querySelector('dialog[open]')) return;
    const entry = inCard ? offers.get(inCard.dataset.interaction) : offers.values().next().value;
    if (!entry || entry.busy || entry.expired) return;
    ev.preventDefault();
    entry.act(kind);
  }
  document.addEventListener('keydown', onKey);

  // After a reconnect the server sends the offers that are still open; a card
  // it does not send again ended while we were away (offer_ended was missed).
  let syncTimer = 0;
  function resync(windowMs = 2000) {
    clearTimeout(syncTimer);
    for (const e of offers.values()) e.confirmed = false;
    syncTimer = setTimeout(() => {
      for (const [id, e] of [...offers]) if (!e.confirmed && !e.busy) remove(id);
    }, windowMs);
  }

  return {
    add,
    resync,
    end(interaction, reason) { remove(interaction, reason); },
    clearAll() {
      for (const id of [...offers.keys()]) remove(id);
      clear(o.container);
    },
    get size() { return offers.size; },
  };
}

function isTextField(t) {
  if (!(t instanceof Element)) return false;
  if (t.isContentEditable) return true;
  if (t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return true;
  if (t instanceof HTMLInputElement) return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(t.type);
  return false;
}

function str(v) {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
