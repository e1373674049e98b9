// Waiting in line, leaving a message, ending, and the host page.
// The widget's parts share one context w (frame.js).
import { announce } from '/shared/dom.js';

export function createLeave(w) {
  const { el, ui, t } = w;
  // waiting

  function setWaiting(pos, title) {
    // A call is routed; a text chat is connected to an agent.
    el.waitingTitle.textContent = title || (w.rec?.voice ? t('routing') : t('connectingAgent'));
    if (!pos) {
      el.position.textContent = t('positionUnknown');
      el.eta.textContent = t('etaEstimating');
      return;
    }
    const p = Number(pos.position);
    el.position.textContent = p >= 1 ? t('position', { n: p }) : t('positionUnknown');
    const wait = Number(pos.estimatedWait);
    el.eta.textContent =
      !Number.isFinite(wait) || wait < 0 ? t('etaEstimating') :
      wait < 60 ? t('etaSoon') :
      t('eta', { m: Math.max(1, Math.round(wait / 60)) });
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

  // left, leave a message

  function onLeft(m) {
    if (!w.rec) return;
    w.rec.left = m.reason === 'no_agents' ? 'no_agents' : 'timeout';
    w.save();
    w.client?.stop();
    openLeave(w.rec.left);
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
    const sent = !!reason && !!w.rec?.messageLeft;
    el.leaveForm.hidden = sent;
    el.leaveDone.hidden = !sent;
    if (sent) {
      w.showView('leave');
      return;
    }
    if (!el.leaveName.value) el.leaveName.value = w.rec?.name || el.name.value.trim();
    w.showView('leave');
    (el.leaveName.value ? el.leaveEmail : el.leaveName).focus();
  }

  for (const b of document.querySelectorAll('[data-action="leave"]')) {
    b.addEventListener('click', () => openLeave(''));
  }
  el.leaveBack.addEventListener('click', () => {
    w.showView(ui.leaveFrom === 'leave' ? 'start' : ui.leaveFrom);
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
    w.setBusy(el.leaveSubmit, true, t('sendingMessage'));
    try {
      const body = { queue: w.queue, name, email, text };
      if (w.rec?.conversation) body.conversation = w.rec.conversation;
      const res = await fetch('/api/widget/leave-message', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        credentials: 'omit',
      });
      if (res.status !== 201 && res.status !== 200 && res.status !== 204) throw w.httpError(res.status);
      // Waiting no longer: give the place in line back.
      if (w.client && w.rec && !w.rec.ended && !w.rec.left && ui.phase !== 'chatting') {
        w.client.request('end', {}, { timeout: 5000 }).catch(() => {});
      }
      el.leaveForm.hidden = true;
      el.leaveDone.hidden = false;
      el.leaveText.value = '';
      if (w.rec && ui.phase !== 'chatting') {
        w.rec.ended = true;
        w.rec.messageLeft = true;
        w.save();
      }
      el.leaveNewChat.focus();
      announce(el.live, t('thanksSub'));
    } catch (e) {
      el.leaveError.textContent = e.userMessage || t('errNetwork');
    } finally {
      w.setBusy(el.leaveSubmit, false);
    }
  });

  // end, new chat

  el.endBtn.addEventListener('click', () => {
    if (!w.rec || ui.phase === 'ended') return;
    el.confirmEnd.returnValue = '';
    el.confirmEnd.showModal();
  });
  el.confirmEnd.addEventListener('close', () => {
    if (el.confirmEnd.returnValue !== 'end') {
      el.endBtn.focus();
      return;
    }
    if (!w.client || !w.rec) return;
    el.endBtn.disabled = true;
    w.client.request('end', {}, { timeout: 0 }).then(
      () => w.setEnded(),
      (err) => {
        if (err.code === 'ended') w.setEnded();
        else if (err.code !== 'closed') w.flashHint(w.errorText(err.code));
      },
    ).finally(() => { el.endBtn.disabled = false; });
  });

  function newChat() {
    w.client?.stop();
    w.client = null;
    w.rec = null;
    w.forget();
    w.resetTranscript();
    ui.phase = 'idle';
    el.leaveForm.hidden = false;
    el.leaveDone.hidden = true;
    w.showView('start');
    w.renderPhase();
    el.name.focus();
  }
  el.newChat.addEventListener('click', newChat);
  el.leaveNewChat.addEventListener('click', newChat);
  el.leaveRestart.addEventListener('click', newChat);

  // host page

  function postToHost(msg) {
    if (!w.embedded) return;
    window.parent.postMessage({ ns: 'contactd', ...msg }, w.hostOrigin || '*');
  }

  function notifyUnread() {
    if (ui.open && !document.hidden) return;
    ui.unread++;
    postToHost({ type: 'unread', count: ui.unread });
  }

  window.addEventListener('message', (ev) => {
    if (!w.embedded || ev.source !== window.parent) return;
    if (w.hostOrigin && ev.origin !== w.hostOrigin) return;
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
    if (w.embedded) postToHost({ type: 'close' });
  });

  return { focusCurrent, newChat, notifyUnread, onLeft, onPosition, openLeave, postToHost, setWaiting };
}
