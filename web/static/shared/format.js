// Formatting helpers shared by the widget and the desk.

/** clock formats seconds as m:ss or h:mm:ss (for ticking timers). */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** since returns the seconds elapsed since a Date or ms timestamp. */
export function since(t) {
  const ms = t instanceof Date ? t.getTime() : t;
  return Math.max(0, (Date.now() - ms) / 1000);
}

/** parseTime reads an RFC 3339 time; invalid gives null. */
export function parseTime(s) {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
/** timeOfDay formats a Date as HH:MM in the user's locale. */
export function timeOfDay(d) {
  return d ? hm.format(d) : '';
}

/** shortDuration formats seconds as "45 s", "3 min", "1 h 5 min". */
export function shortDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** truncateBytes cuts a string to at most max UTF-8 bytes without splitting a character. */
export function truncateBytes(s, max) {
  const str = String(s ?? '');
  const enc = new TextEncoder();
  if (enc.encode(str).length <= max) return str;
  let out = '';
  let used = 0;
  for (const ch of str) {
    const n = enc.encode(ch).length;
    if (used + n > max - 3) break;
    out += ch;
    used += n;
  }
  return out + '…';
}

/**
 * visitorLabel names a visitor who gave no name: "Visitor" and four
 * characters of the conversation id, the same on every desk, so that two
 * unnamed visitors are never both just "Visitor".
 */
export function visitorLabel(name, conversation) {
  const n = typeof name === 'string' ? name.trim() : '';
  if (n) return n;
  const id = typeof conversation === 'string' ? conversation.replace(/^c_/u, '') : '';
  return id ? `Visitor ${id.slice(0, 4).toUpperCase()}` : 'Visitor';
}

/** initials returns up to two letters for an avatar. */
export function initials(name) {
  const parts = String(name || '').trim().split(/\s+/u).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = [...parts[0]][0] || '';
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] || '' : '';
  return (first + last).toUpperCase();
}

/** safeHttpURL returns a URL object when s is an http(s) URL, else null. */
export function safeHttpURL(s) {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}
