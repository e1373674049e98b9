// Calls on the agent desk: the call panel of the selected conversation
// (state, timer, microphone level, mute, how loud the visitor sounds, my
// own volume, hang up) and a leg per call. The server says when this desk
// must open a leg ("call" with needLeg: after accepting a voice request, a
// transfer, or a reload); the desk then asks for the microphone and offers.
import { h, $, icon, clear, announce } from '/shared/dom.js';
import { VoiceLeg, getMicrophone, formatDuration } from '/shared/voice.js';
import { errText } from '/desk/util.js';

const STATE_TEXT = {
  waiting: 'Connecting the call…',
  connected: 'On the call',
  held: 'On hold: the visitor hears music',
  consult: 'Consulting: the visitor hears music',
  reconnecting: 'Reconnecting the call…',
};

/**
 * @param {object} o
 * @param {() => any} o.client the ProtocolClient
 * @param {() => string} o.selected the selected conversation id
 * @param {(id: string) => object|undefined} o.conv the desk's conversation
 * @param {(text: string, kind?: string) => void} o.toast
 * @param {HTMLElement} o.live
 * @param {() => void} o.changed the desk re-renders the conversation's state
 */
export function createCalls(o) {
  const calls = new Map(); // conversation -> {state, since, leg, opening, gain, volume, muted}
  let iceServers = [];
  let voiceOn = false;
  const el = {
    panel: $('#call-panel'),
    state: $('#call-state'),
    timer: $('#call-timer'),
    meter: $('#call-meter'),
    mute: $('#call-mute'),
    hangup: $('#call-hangup'),
    gain: $('#call-gain'),
    gainOut: $('#call-gain-out'),
    volume: $('#call-volume'),
    invite: $('#act-call'),
    phone: $('#act-phone'),
    phoneForm: $('#phone-form'),
    phoneNumber: $('#phone-number'),
    phoneHint: $('#phone-hint'),
    phoneCancel: $('#phone-cancel'),
    phoneDial: $('#phone-dial'),
  };
  // Click-to-call: "phone" messages by conversation ({state, number}), and
  // what the server allows (GET /api/config/desk: dial).
  const phones = new Map();
  let dial = { on: false, canType: false };
  const PHONE_TEXT = { dialling: 'Calling', ringing: 'Ringing', connected: 'On the phone with' };
  let raf = 0;

  function get(id) {
    let c = calls.get(id);
    if (!c) {
      c = { state: '', since: 0, leg: null, opening: false, gain: 1, volume: 1, muted: false, reconnecting: false };
      calls.set(id, c);
    }
    return c;
  }

  function onCall(m) {
    const id = String(m.conversation || '');
    if (!id) return;
    const c = get(id);
    if (m.state === 'ended' || m.state === 'declined') {
      c.leg?.close();
      calls.delete(id);
      if (m.state === 'declined') o.toast('The visitor chose to keep typing.');
      else if (m.cause && m.cause !== 'left') announce(o.live, 'The call ended.');
      render();
      o.changed();
      return;
    }
    c.state = String(m.state || '');
    c.since = m.since ? Date.parse(m.since) : 0;
    if (m.needLeg && !c.leg && !c.opening) open(id, c);
    render();
    o.changed();
  }

  async function open(id, c) {
    c.opening = true;
    let stream;
    try {
      stream = await getMicrophone();
    } catch (e) {
      c.opening = false;
      o.toast(e.reason === 'denied'
        ? 'The browser refused the microphone: allow it for this page to take calls.'
        : 'No microphone: the call cannot start on this desk.', 'error');
      return;
    }
    if (!calls.has(id)) { for (const t of stream.getTracks()) t.stop(); c.opening = false; return; }
    const client = o.client();
    const leg = new VoiceLeg({
      iceServers,
      offer: (sdp, renew) => client.request('call_offer', { conversation: id, sdp, renew }, { timeout: 15000 }),
      ice: (candidate) => client.notify('ice', { conversation: id, candidate }),
      onState: (s) => {
        c.reconnecting = s === 'reconnecting';
        if (s === 'failed' && c.leg === leg && calls.get(id) === c) {
          // ICE could not be restarted: a new leg replaces this one.
          c.leg = null;
          leg.close();
          open(id, c);
        }
        render();
      },
    });
    c.leg = leg;
    c.opening = false;
    leg.setVolume(c.volume);
    try {
      await leg.start(stream);
    } catch (err) {
      leg.close();
      if (c.leg === leg) c.leg = null;
      o.toast(`The call could not connect: ${errText(err)}`, 'error');
    }
    render();
  }

  /** contextPhone is the phone number in the visitor's context, if any. */
  function contextPhone(conv) {
    const p = conv?.visitor?.attributes?.phone;
    return typeof p === 'string' ? p.trim() : '';
  }

  /** shown is a number as the agent knows it: the context's own spelling of it when the digits agree. */
  function shown(number, conv) {
    const ctx = contextPhone(conv);
    const digits = (t) => t.replace(/[^0-9]/g, '');
    return ctx && number && digits(ctx) === digits(number) ? ctx : number;
  }

  function onPhone(m) {
    const id = String(m.conversation || '');
    if (!id) return;
    const state = String(m.state || '');
    const number = shown(String(m.number || ''), o.conv(id));
    if (state === 'failed' || state === 'ended') {
      phones.delete(id);
      const text = String(m.text || (state === 'failed' ? 'The call failed.' : 'The call ended.'));
      if (state === 'failed') o.toast(number ? `${number}: ${text}` : text, 'error');
      else announce(o.live, text);
    } else {
      phones.set(id, { state, number: number || phones.get(id)?.number || '' });
      if (state === 'ringing') announce(o.live, `Ringing ${number}`);
      if (state === 'connected') announce(o.live, `Connected to ${number}`);
    }
    render();
    o.changed();
  }

  function showPhoneForm(show) {
    const id = o.selected();
    const conv = o.conv(id);
    el.phoneForm.hidden = !show;
    el.phone.setAttribute('aria-expanded', String(show));
    if (!show) return;
    const ctx = contextPhone(conv);
    el.phoneNumber.value = ctx;
    el.phoneNumber.readOnly = !dial.canType;
    el.phoneNumber.placeholder = dial.canType ? '+44 20 7946 0000' : '';
    el.phoneHint.removeAttribute('role');
    el.phoneHint.textContent = dial.canType
      ? (ctx ? 'From the visitor\'s details; you may change it.' : 'Type the number with its country code.')
      : 'The number from the visitor\'s details. The chat stays open during the call.';
    const signed = String(conv?.visitor?.attributes?._verified || '').split(',').includes('phone');
    if (ctx && !signed) el.phoneHint.textContent += ' Unverified: the visitor\'s browser gave this number.';
    (dial.canType ? el.phoneNumber : el.phoneDial).focus();
  }

  function onIce(m) {
    calls.get(String(m.conversation || ''))?.leg?.addCandidate(m.candidate);
  }

  /** has says whether the conversation has a call (for the desk's own rendering). */
  function has(id) {
    return calls.has(id);
  }

  function render() {
    cancelAnimationFrame(raf);
    const id = o.selected();
    const c = calls.get(id);
    const conv = o.conv(id);
    const canInvite = voiceOn && conv && conv.kind === 'visitor' && conv.role === 'owner' && conv.status === 'active' && !c;
    el.invite.hidden = !canInvite;
    const ph = phones.get(id);
    const ctx = contextPhone(conv);
    const canPhone = canInvite && dial.on && !ph && (ctx !== '' || dial.canType);
    el.phone.hidden = !canPhone;
    el.phone.title = ctx ? `Call ${ctx} through the phone line; the chat stays open` : 'Call a number through the phone line';
    if (!canPhone && !el.phoneForm.hidden) showPhoneForm(false);
    el.panel.hidden = !c && !ph;
    if (!c && !ph) return;
    const phoneWaits = ph && ph.state !== 'connected';
    const st = c?.reconnecting ? 'reconnecting' : phoneWaits ? `phone-${ph.state}` : c?.state || 'waiting';
    el.panel.className = `call-panel is-${st}`;
    if (ph) {
      clear(el.state).append(`${PHONE_TEXT[ph.state] || 'Calling'}${ph.state === 'ringing' ? '…' : ''}`,
        h('span', { class: 'call-number', text: ph.number }));
    } else {
      el.state.textContent = c.leg ? STATE_TEXT[st] || 'Call' : c.opening ? 'Opening the microphone…' : 'Joining the call…';
    }
    if (!c) return;
    el.mute.setAttribute('aria-pressed', c.muted ? 'true' : 'false');
    clear(el.mute).append(icon(c.muted ? 'micOff' : 'mic'), h('span', { text: c.muted ? 'Unmute' : 'Mute' }));
    el.gain.value = String(c.gain);
    el.gainOut.textContent = `${Math.round(c.gain * 100)}%`;
    el.volume.value = String(c.volume);
    const owner = conv?.role === 'owner';
    el.gain.disabled = !c.leg;
    el.hangup.textContent = owner ? 'Hang up' : 'Leave the call';
    const tick = () => {
      el.timer.textContent = c.since ? formatDuration((Date.now() - c.since) / 1000) : '';
      const lvl = c.leg ? c.leg.level() : 0;
      el.meter.value = lvl;
      raf = requestAnimationFrame(tick);
    };
    tick();
  }

  el.mute.addEventListener('click', () => {
    const c = calls.get(o.selected());
    if (!c?.leg) return;
    c.muted = !c.muted;
    c.leg.setMuted(c.muted);
    render();
  });
  el.hangup.addEventListener('click', async () => {
    const id = o.selected();
    const c = calls.get(id);
    if (!c) return;
    try {
      await o.client().request('call_hangup', { conversation: id });
    } catch (err) {
      o.toast(`Could not hang up: ${errText(err)}`, 'error');
      return;
    }
    c.leg?.close();
    calls.delete(id);
    render();
    o.changed();
  });
  let gainTimer = 0;
  el.gain.addEventListener('input', () => {
    const id = o.selected();
    const c = calls.get(id);
    if (!c) return;
    c.gain = Number(el.gain.value);
    el.gainOut.textContent = `${Math.round(c.gain * 100)}%`;
    clearTimeout(gainTimer);
    gainTimer = setTimeout(() => {
      o.client().request('call_gain', { conversation: id, gain: c.gain }).catch((err) => o.toast(`Could not change the level: ${errText(err)}`, 'error'));
    }, 150);
  });
  el.volume.addEventListener('input', () => {
    const c = calls.get(o.selected());
    if (!c) return;
    c.volume = Number(el.volume.value);
    c.leg?.setVolume(c.volume);
  });
  el.invite.addEventListener('click', async () => {
    const id = o.selected();
    el.invite.disabled = true;
    try {
      await o.client().request('call_invite', { conversation: id });
      o.toast('The visitor was asked to talk by voice.');
    } catch (err) {
      o.toast(`Could not start a call: ${errText(err)}`, 'error');
    } finally {
      el.invite.disabled = false;
    }
  });
  el.phone.prepend(icon('phone'));
  el.phone.addEventListener('click', () => showPhoneForm(el.phoneForm.hidden));
  el.phoneCancel.addEventListener('click', () => { showPhoneForm(false); el.phone.focus(); });
  el.phoneForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') { showPhoneForm(false); el.phone.focus(); } });
  el.phoneForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = o.selected();
    const typed = el.phoneNumber.value.trim();
    const fields = { conversation: id };
    if (dial.canType && typed !== contextPhone(o.conv(id))) fields.number = typed;
    el.phoneDial.disabled = true;
    try {
      const res = await o.client().request('call_phone', fields);
      phones.set(id, { state: phones.get(id)?.state || 'dialling', number: shown(String(res?.number || typed), o.conv(id)) });
      showPhoneForm(false);
      render();
    } catch (err) {
      el.phoneHint.setAttribute('role', 'alert');
      el.phoneHint.textContent = errText(err);
    } finally {
      el.phoneDial.disabled = false;
    }
  });
  document.addEventListener('click', () => { for (const c of calls.values()) c.leg?.resumeAudio(); }, { capture: true });

  return {
    onCall,
    onIce,
    onPhone,
    has,
    render,
    configure(cfg) {
      voiceOn = !!cfg.voice;
      dial = { on: !!cfg.dial?.on, canType: !!cfg.dial?.canType };
      if (Array.isArray(cfg.iceServers)) iceServers = cfg.iceServers;
      render();
    },
    /** stats of the selected call's leg, for tests and the info panel. */
    stats: (id) => calls.get(id)?.leg?.stats(),
    state: (id) => calls.get(id)?.state || '',
    phone: (id) => phones.get(id)?.state || '',
  };
}
