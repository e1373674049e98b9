// A short two-tone chime made with WebAudio: no audio files. Browsers only
// let a page make sound after a user gesture, so the AudioContext is made
// (or resumed) on the first click or key press.

let ctx = null;

function ensure() {
  if (!ctx) {
    const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AC) return null;
    try {
      ctx = new AC();
    } catch {
      return null;
    }
  }
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  return ctx;
}

/** audioReady says whether sounds can play now. */
export function audioReady() {
  return !!ctx && ctx.state === 'running';
}

/** unlockAudioOnGesture prepares audio on the first user gesture; onReady runs once it can play. */
export function unlockAudioOnGesture(onReady) {
  const once = () => {
    const ac = ensure();
    removeEventListener('pointerdown', once, true);
    removeEventListener('keydown', once, true);
    if (ac && ac.state === 'running') onReady?.();
    else ac?.resume().then(() => onReady?.(), () => {});
  };
  addEventListener('pointerdown', once, true);
  addEventListener('keydown', once, true);
}

function tone(ac, freq, start, dur, gain) {
  const osc = ac.createOscillator();
  const g = ac.createGain();
  osc.type = 'sine';
  osc.frequency.setValueAtTime(freq, start);
  g.gain.setValueAtTime(0.0001, start);
  g.gain.exponentialRampToValueAtTime(gain, start + 0.015);
  g.gain.exponentialRampToValueAtTime(0.0001, start + dur);
  osc.connect(g).connect(ac.destination);
  osc.start(start);
  osc.stop(start + dur + 0.02);
}

/** chime plays the incoming-request sound (two rising tones). */
export function chime() {
  const ac = ensure();
  if (!ac || ac.state !== 'running') return;
  const t = ac.currentTime + 0.01;
  tone(ac, 660, t, 0.18, 0.18);
  tone(ac, 880, t + 0.16, 0.32, 0.16);
}

/** blip plays a soft single tone (a new message in a background conversation). */
export function blip() {
  const ac = ensure();
  if (!ac || ac.state !== 'running') return;
  tone(ac, 740, ac.currentTime + 0.01, 0.12, 0.08);
}
