// The canned-message picker of the composer. Opens with the button or by
// typing "/" at the start of the message; what follows the slash filters
// by shortcut (and by text). Arrow keys choose, Enter or Tab inserts, Esc
// closes. Items are {shortcut, text}; everything is rendered as text.
import { h, clear } from '/shared/dom.js';

/**
 * @param {object} o
 * @param {HTMLTextAreaElement} o.input
 * @param {HTMLButtonElement} o.button
 * @param {HTMLElement} o.popup
 * @param {HTMLUListElement} o.list
 * @param {HTMLElement} o.empty
 * @param {() => {shortcut: string, text: string}[]} o.items
 * @param {() => void} [o.onInsert]
 */
export function createCanned(o) {
  let open = false;
  let viaSlash = false;
  let shown = [];
  let active = 0;

  function query() {
    if (!viaSlash) return '';
    const m = /^\/(\S*)/u.exec(o.input.value);
    return m ? m[1].toLowerCase() : '';
  }

  function filter(q) {
    const all = o.items();
    if (!q) return all;
    const starts = [];
    const inShortcut = [];
    const inText = [];
    for (const it of all) {
      const sc = it.shortcut.toLowerCase();
      if (sc.startsWith(q)) starts.push(it);
      else if (sc.includes(q)) inShortcut.push(it);
      else if (it.text.toLowerCase().includes(q)) inText.push(it);
    }
    return [...starts, ...inShortcut, ...inText];
  }

  function render() {
    shown = filter(query());
    if (active >= shown.length) active = Math.max(0, shown.length - 1);
    clear(o.list);
    shown.forEach((it, i) => {
      const li = h('li', {
        id: `canned-opt-${i}`,
        role: 'option',
        class: ['canned-item', i === active && 'is-active'],
        'aria-selected': i === active ? 'true' : 'false',
        onmousedown: (ev) => ev.preventDefault(), // keep focus in the textarea
        onclick: () => { active = i; insert(); },
      },
      h('span', { class: 'canned-shortcut', text: '/' + it.shortcut }),
      h('span', { class: 'canned-text', text: it.text }));
      o.list.append(li);
    });
    o.empty.hidden = shown.length > 0;
    if (shown.length) {
      o.input.setAttribute('aria-activedescendant', `canned-opt-${active}`);
      o.list.children[active]?.scrollIntoView({ block: 'nearest' });
    } else {
      o.input.removeAttribute('aria-activedescendant');
    }
  }

  function show(slash) {
    viaSlash = slash;
    open = true;
    active = 0;
    o.popup.hidden = false;
    o.input.setAttribute('aria-expanded', 'true');
    o.button.setAttribute('aria-expanded', 'true');
    render();
  }

  function hide() {
    if (!open) return;
    open = false;
    o.popup.hidden = true;
    o.input.setAttribute('aria-expanded', 'false');
    o.button.setAttribute('aria-expanded', 'false');
    o.input.removeAttribute('aria-activedescendant');
  }

  function insert() {
    const it = shown[active];
    if (!it) return;
    const v = o.input.value;
    if (viaSlash) {
      const m = /^\/\S*/u.exec(v);
      const rest = m ? v.slice(m[0].length) : v;
      o.input.value = it.text + rest;
      o.input.setSelectionRange(it.text.length, it.text.length);
    } else {
      const s = o.input.selectionStart ?? v.length;
      const e = o.input.selectionEnd ?? v.length;
      o.input.value = v.slice(0, s) + it.text + v.slice(e);
      const at = s + it.text.length;
      o.input.setSelectionRange(at, at);
    }
    hide();
    o.input.focus();
    o.input.dispatchEvent(new Event('input', { bubbles: true }));
    o.onInsert?.();
  }

  o.button.addEventListener('click', () => {
    if (open) hide();
    else {
      show(false);
      o.input.focus();
    }
  });

  o.input.addEventListener('input', () => {
    const v = o.input.value;
    const caret = o.input.selectionStart ?? v.length;
    const slash = /^\/\S*$/u.test(v.slice(0, caret)) && !/^\/\S*\s/u.test(v.slice(0, caret));
    if (slash) {
      if (!open || !viaSlash) show(true);
      else render();
    } else if (open && viaSlash) {
      hide();
    }
  });

  o.input.addEventListener('keydown', (ev) => {
    if (!open) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (shown.length) {
        active = (active + (ev.key === 'ArrowDown' ? 1 : -1) + shown.length) % shown.length;
        render();
      }
    } else if ((ev.key === 'Enter' && !ev.shiftKey) || ev.key === 'Tab') {
      if (shown.length) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        insert();
      } else if (ev.key === 'Enter') {
        // Nothing matches: close the list but do not send "/xyz" by accident;
        // a second Enter sends the text as it is.
        ev.preventDefault();
        ev.stopImmediatePropagation();
        hide();
      }
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      hide();
    }
  });

  o.input.addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== o.input && document.activeElement !== o.button) hide();
  }, 120));

  return { hide, isOpen: () => open };
}

/**
 * cannedItems makes the picker's list: the invitation template first (with
 * %name% filled in), then the configured canned messages.
 */
export function cannedItems(config, displayName) {
  const items = [];
  const tpl = typeof config?.invitation === 'string' && config.invitation
    ? config.invitation
    : typeof config?.invitationTemplate === 'string' && config.invitationTemplate
      ? config.invitationTemplate
      : "Hello! I'm %name%. If you have any questions or requests I'm ready to help you.";
  items.push({ shortcut: 'hello', text: tpl.replaceAll('%name%', displayName || '') });
  for (const c of Array.isArray(config?.canned) ? config.canned : []) {
    if (!c || typeof c.text !== 'string' || !c.text) continue;
    const shortcut = typeof c.shortcut === 'string' && c.shortcut ? c.shortcut.replace(/^\//u, '') : c.text.slice(0, 12);
    items.push({ shortcut, text: c.text });
  }
  return items;
}
