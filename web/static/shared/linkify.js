// linkify turns the links in a chat message into <a> elements built with
// DOM APIs. Nothing is ever parsed as HTML: the text is split into text
// nodes and anchors whose href went through the URL parser and whose
// scheme is on the allowlist (a bare www.host link is taken as https).
// Everything else, javascript: and data: URLs
// included, stays plain text.
//
//   import { linkify } from '/shared/linkify.js';
//   bubble.append(linkify(msg.text, { schemes: WIDGET_SCHEMES }));

/** Schemes the visitor widget turns into links (agent text shown to visitors). */
export const WIDGET_SCHEMES = Object.freeze(['http', 'https', 'mailto']);
/** Schemes the agent desk turns into links (visitor and colleague text). */
export const DESK_SCHEMES = Object.freeze(['http', 'https', 'mailto', 'tel']);

const MAX_LINK = 2048;

// One pass over the text; alternatives in priority order. The character
// before a match must not belong to a word, a scheme or a path, so
// "xhttp://a" or "javascript:http://a" do not produce a link from their
// middle.
const CANDIDATE = new RegExp(
  '(?<![\\p{L}\\p{N}_+.\\-:/@%])(?:' +
    '(?<web>https?://[^\\s<>"\'`]+)' +
    '|(?<www>www\\.[\\p{L}\\p{N}\\-]+(?:\\.[\\p{L}\\p{N}\\-]+)*\\.\\p{L}{2,}(?:[/?#][^\\s<>"\'`]*)?(?![\\p{L}\\p{N}_\\-@]))' +
    '|(?<mailto>mailto:[^\\s<>"\'`]+)' +
    '|(?<tel>tel:\\+?[0-9][0-9().\\-]{2,31})' +
    '|(?<email>[\\p{L}\\p{N}._%+\\-]+@[\\p{L}\\p{N}\\-]+(?:\\.[\\p{L}\\p{N}\\-]+)*\\.\\p{L}{2,}(?![\\p{L}\\p{N}_\\-]))' +
  ')',
  'giu',
);

const TRAILING = /[.,;:!?'"\u2019\u201d*_~]+$/u;
const PAIRS = { ')': '(', ']': '[', '}': '{' };

// trimEnd removes punctuation that ends a sentence rather than the link, and
// closing brackets that have no opening partner inside the link.
function trimEnd(s) {
  for (;;) {
    const before = s;
    s = s.replace(TRAILING, '');
    const last = s.at(-1);
    if (last in PAIRS) {
      const open = PAIRS[last];
      let depth = 0;
      for (const ch of s) {
        if (ch === open) depth++;
        else if (ch === last) depth--;
      }
      if (depth < 0) s = s.slice(0, -1);
    }
    if (s === before) return s;
  }
}

function safeHref(raw, kind, allowed) {
  let url;
  try {
    url = new URL(kind === 'email' ? 'mailto:' + raw : kind === 'www' ? 'https://' + raw : raw);
  } catch {
    return null;
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!allowed.has(scheme)) return null;
  if ((scheme === 'http' || scheme === 'https') && !url.hostname) return null;
  if (scheme === 'mailto' && !/^[^@\s]+@[^@\s]+/u.test(decodeSafe(url.pathname))) return null;
  if (scheme === 'tel' && !/^\+?[0-9][0-9().-]{2,31}$/.test(url.pathname)) return null;
  return url.href;
}

function decodeSafe(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * findLinks returns the links in text as {start, end, text, href}, in order,
 * not overlapping. Pure: usable without a DOM.
 * @param {string} text
 * @param {{schemes?: readonly string[]}} [opts]
 */
export function findLinks(text, { schemes = WIDGET_SCHEMES } = {}) {
  const allowed = new Set(schemes.map((s) => s.toLowerCase()));
  const out = [];
  if (typeof text !== 'string' || text === '') return out;
  CANDIDATE.lastIndex = 0;
  for (let m; (m = CANDIDATE.exec(text)); ) {
    const kind = Object.keys(m.groups).find((k) => m.groups[k] !== undefined);
    const raw = trimEnd(m[0]);
    if (raw.length === 0 || raw.length > MAX_LINK) continue;
    const scheme = kind === 'web' ? raw.slice(0, raw.indexOf(':')).toLowerCase() : kind === 'email' ? 'mailto' : kind === 'www' ? 'https' : kind;
    if (!allowed.has(scheme)) continue;
    const href = safeHref(raw, kind, allowed);
    if (!href) continue;
    out.push({ start: m.index, end: m.index + raw.length, text: raw, href });
    CANDIDATE.lastIndex = m.index + raw.length;
  }
  return out;
}

/**
 * linkify returns a DocumentFragment of text nodes and anchors for text.
 * @param {string} text
 * @param {{schemes?: readonly string[], doc?: Document}} [opts]
 * @returns {DocumentFragment}
 */
export function linkify(text, { schemes = WIDGET_SCHEMES, doc = globalThis.document } = {}) {
  const frag = doc.createDocumentFragment();
  const s = typeof text === 'string' ? text : String(text ?? '');
  let at = 0;
  for (const l of findLinks(s, { schemes })) {
    if (l.start > at) frag.append(doc.createTextNode(s.slice(at, l.start)));
    const a = doc.createElement('a');
    a.setAttribute('href', l.href);
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer');
    a.setAttribute('class', 'msg-link');
    a.textContent = l.text;
    frag.append(a);
    at = l.end;
  }
  if (at < s.length) frag.append(doc.createTextNode(s.slice(at)));
  return frag;
}
