// Voice in the widget: the call bar, invitations, microphone errors.
// The widget's parts share one context w (frame.js).
import { icon, clear, announce } from '/shared/dom.js';
import { VoiceLeg, getMicrophone, webrtcSupported, formatDuration } from '/shared/voice.js';

export function createVoiceUI(w) {
  const { el, ui, voice, t } = w;

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
    w.renderPhase();
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
    w.syncStartLabel();
    textInput.focus();
  }

  async function startCall(stream) {
    if (voice.leg || !w.client || !w.rec) return;
    el.callError.hidden = true;
    const leg = new VoiceLeg({
      iceServers: voice.iceServers,
      offer: (sdp, renew) => w.client.request('call_offer', { sdp, renew }, { timeout: 15000 }),
      ice: (candidate) => w.client.notify('ice', { candidate }),
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
      if (voice.state === 'invited') w.client?.request('call_decline', {}).catch(() => {});
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
    if (!w.rec || m.conversation !== w.rec.conversation) return;
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
        if (!voice.leg && w.rec && !w.rec.ended) {
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
    if (!voice.state || !w.rec || w.rec.ended) return;
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
    w.client?.request('call_hangup', {}).catch(() => {});
    endCallLocally();
  });
  el.callInviteAccept.addEventListener('click', addVoice);
  el.callInviteDecline.addEventListener('click', () => {
    el.callInvite.hidden = true;
    voice.state = '';
    w.client?.request('call_decline', {}).catch(() => {});
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

  return { addVoice, endCallLocally, loadVoiceConfig, micText, offerTextInstead, onCall, rejoin, renderCall, showCallError, startCall };
}
