// Small helpers the desk's parts share. Nothing here holds state.
import { h, icon, clear } from '/shared/dom.js';

export const MAX_TEXT_BYTES = 8 << 10;

export const STATE_LABEL = { available: 'Available', away: 'Away', busy: 'Busy', wrap_up: 'Wrap-up', offline: 'Offline' };

export function readPref(key, dflt) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? dflt : v === '1';
  } catch {
    return dflt;
  }
}
export function writePref(key, on) {
  try { localStorage.setItem(key, on ? '1' : '0'); } catch { /* private mode */ }
}

export function str(v) {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
export function obj(v) {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

export const ERRORS = {
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
// Microphone and WebRTC failures (shared/voice.js), by their reason.
const MIC_ERRORS = {
  denied: 'The microphone is blocked for this page. Allow it in the browser and try again.',
  nodevice: 'No microphone was found.',
  unsupported: 'This browser cannot make calls.',
  failed: 'The audio connection could not be set up.',
};

export function errText(err) {
  // Codes nobody listed are not shown: people read a sentence, not a code.
  if (err?.reason && MIC_ERRORS[err.reason]) return MIC_ERRORS[err.reason];
  return ERRORS[err?.code] || 'Something went wrong. Please try again.';
}

export function busy(btn, on, label) {
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


export function setLabel(btn, text, ic, spinning) {
  clear(btn).append(spinning ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : icon(ic), h('span', { text }));
}
