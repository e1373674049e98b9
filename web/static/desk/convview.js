// The conversation list, the selected conversation and the visitor details.
// The desk's parts share one context d (desk.js): its state d.S, its
// elements d.el and the functions each part adds to it.
import { h, icon, clear } from '/shared/dom.js';
import { clock, initials, safeHttpURL, since } from '/shared/format.js';
import { nearBottom } from '/desk/transcript.js';
import { obj, setLabel, str, writePref } from '/desk/util.js';

export function createConvView(d) {
  const { S, el } = d;
  // ---------------------------------------------------------------- conversation list

  function buildItem(c) {
    c.els = {
      avatar: h('span', { class: 'avatar', 'aria-hidden': 'true' }),
      name: h('span', { class: 'ci-name' }),
      sub: h('span', { class: 'ci-sub' }),
      timer: h('span', { class: 'ci-timer num' }),
      badge: h('span', { class: 'badge num' }),
    };
    c.btn = h('button', { type: 'button', class: 'conv-item', onclick: () => select(c.id) },
      c.els.avatar,
      h('span', { class: 'ci-main' }, c.els.name, c.els.sub),
      h('span', { class: 'ci-side' }, c.els.timer, c.els.badge));
    c.li = h('li', {}, c.btn);
  }

  function updateItem(c) {
    if (!c.els) return;
    const name = d.displayName(c);
    const st = d.statusOf(c);
    c.els.avatar.textContent = initials(name);
    c.els.avatar.classList.toggle('avatar-colleague', c.kind === 'operator');
    c.els.name.textContent = name;
    clear(c.els.sub);
    if (c.typing && c.typing.until > Date.now() && d.isLive(c)) {
      c.els.sub.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', { text: 'typing' }));
    } else {
      c.els.sub.append(h('span', { class: ['st', `st-${st.key}`], text: st.label }));
      if (c.queue && c.kind === 'visitor') c.els.sub.append(h('span', { class: 'ci-queue', text: c.queue }));
    }
    c.els.badge.textContent = c.unread > 99 ? '99+' : String(c.unread);
    c.els.badge.classList.toggle('is-zero', c.unread === 0);
    c.btn.classList.toggle('is-selected', S.selected === c.id);
    c.btn.classList.toggle('is-closed', c.status === 'closed');
    c.btn.classList.toggle('is-unread', c.unread > 0);
    if (S.selected === c.id) c.btn.setAttribute('aria-current', 'true');
    else c.btn.removeAttribute('aria-current');
    c.btn.setAttribute('aria-label', `${name}, ${st.label}${c.unread ? `, ${c.unread} unread` : ''}`);
    tickItem(c);
  }

  // tickItem updates the timer of one list entry: waiting since the visitor's
  // unanswered message, the wrap-up time left, or the conversation's length.
  function tickItem(c) {
    const t = c.els.timer;
    let text = '';
    let cls = '';
    if (c.status === 'wrapup') {
      text = clock((c.wrapDeadline - Date.now()) / 1000);
      cls = 'is-wrap';
    } else if (c.status === 'closed') {
      text = '';
    } else if (c.status === 'ended') {
      text = clock(((c.endedAt || Date.now()) - c.startedAt) / 1000);
    } else if (c.lastVisitorAt && c.kind === 'visitor' && c.role === 'owner') {
      const w = since(c.lastVisitorAt);
      text = clock(w);
      cls = w > 60 ? 'is-late' : 'is-waiting';
    } else {
      text = clock(since(c.startedAt));
    }
    if (t.textContent !== text) t.textContent = text;
    t.className = `ci-timer num ${cls}`;
    t.title = cls === 'is-waiting' || cls === 'is-late' ? 'Waiting for your answer' : cls === 'is-wrap' ? 'Wrap-up time left' : 'Duration';
  }

  function renderCounts() {
    const n = [...S.convs.values()].filter((c) => c.status !== 'closed').length;
    el.convCount.textContent = String(n);
    el.convEmpty.hidden = S.convs.size > 0;
    renderTitle();
  }

  function renderTitle() {
    let unread = 0;
    for (const c of S.convs.values()) unread += c.unread;
    const waiting = S.offers?.size || 0;
    const n = unread + waiting;
    document.title = `${n ? `(${n}) ` : ''}Desk · contactd`;
  }

  // selection and main pane

  function select(id) {
    const prev = S.convs.get(S.selected);
    if (prev && prev.id !== id) {
      prev.draft = el.input.value;
      prev.note = el.note.checked;
      prev.scroll = nearBottom(el.transcriptWrap) ? null : el.transcriptWrap.scrollTop;
      d.stopTyping();
      updateItem(prev);
    }
    const c = S.convs.get(id);
    if (!c) return;
    S.selected = id;
    c.unread = 0;
    S.canned?.hide();
    clear(el.transcriptWrap).append(c.ol);
    el.input.value = c.draft;
    el.note.checked = c.note;
    renderMain();
    if (c.scroll === null) scrollToEnd();
    else el.transcriptWrap.scrollTop = c.scroll;
    updateItem(c);
    renderTitle();
    if (!el.input.disabled && !document.querySelector('dialog[open]') && !el.offers.contains(document.activeElement)) el.input.focus();
  }

  function scrollToEnd() {
    el.transcriptWrap.scrollTop = el.transcriptWrap.scrollHeight;
  }

  function renderMain() {
    const c = S.convs.get(S.selected);
    el.emptyMain.hidden = !!c;
    el.conv.hidden = !c;
    for (const x of S.convs.values()) {
      x.btn.classList.toggle('is-selected', x.id === S.selected);
      if (x.id === S.selected) x.btn.setAttribute('aria-current', 'true');
      else x.btn.removeAttribute('aria-current');
    }
    if (!c) {
      el.info.hidden = true;
      return;
    }
    el.convAvatar.textContent = initials(d.displayName(c));
    el.convAvatar.classList.toggle('avatar-colleague', c.kind === 'operator');
    el.convName.textContent = d.displayName(c);
    renderConvState();
    renderInfo(c);
  }

  // renderConvState updates what depends on the conversation's state: status,
  // actions, banner, wrap-up bar, composer.
  function renderConvState() {
    const c = S.convs.get(S.selected);
    if (!c) return;
    const stick = nearBottom(el.transcriptWrap);
    const st = d.statusOf(c);
    el.convStatus.textContent = st.label;
    el.convStatus.className = `status-pill st-${st.key}`;
    el.convMeta.textContent = c.kind === 'operator' ? 'Colleague' : [c.queue && `Queue ${c.queue}`].filter(Boolean).join(' · ');
    tickHeader(c);

    const owner = c.kind === 'visitor' && c.role === 'owner' && c.status === 'active';
    const warm = owner && (c.transfer?.mode === 'warm' || !!c.consult);
    el.actHold.hidden = !owner;
    el.actTransfer.hidden = !owner || warm || !!c.transfer;
    el.actEnd.hidden = !owner;
    el.actComplete.hidden = !warm;
    el.actCancel.hidden = !warm;
    el.actComplete.disabled = !c.consult || !!c.busyAction;
    el.actComplete.title = c.consult ? `Hand the conversation to ${c.consult.name}` : 'Waiting for your colleague to join';
    el.actClose.hidden = !(c.status === 'closed' || c.status === 'ended' && c.unassigned || c.kind === 'operator');
    el.actInfo.hidden = c.kind !== 'visitor';
    el.actInfo.setAttribute('aria-expanded', String(S.infoOpen));
    for (const b of [el.actHold, el.actTransfer, el.actEnd, el.actCancel]) b.disabled = !!c.busyAction;
    setLabel(el.actHold, c.held ? 'Resume' : 'Hold', c.held ? 'play' : 'pause', c.busyAction === 'hold');
    setLabel(el.actTransfer, 'Transfer', 'transfer', false);
    setLabel(el.actEnd, 'End', 'end', c.busyAction === 'end');
    setLabel(el.actComplete, 'Complete transfer', 'check', c.busyAction === 'complete');
    setLabel(el.actCancel, 'Cancel transfer', 'close', c.busyAction === 'cancel');

    // Banner
    let banner = '';
    let kind = 'info';
    const notes = S.offerNotes.get(c.id);
    if (c.status === 'closed') {
      banner = `This conversation is closed: ${c.closedLabel || 'closed'}. You can still read it.`;
      kind = 'muted';
    } else if (c.status === 'ended') {
      banner = 'The chat has ended.';
      kind = 'muted';
    } else if (c.status === 'wrapup') {
      banner = '';
    } else if (c.role === 'consult') {
      const owner = d.agentName(str(notes?.from)) || (c.from ? d.agentName(c.from) : 'your colleague');
      banner = `${owner} asked you to consult. Your messages are private notes; the visitor does not see them.${notes?.note ? ` Note: “${str(notes.note)}”` : ''}`;
      kind = 'consult';
    } else if (c.consult) {
      banner = `${c.consult.name} is consulting. Your reply box is set to private notes (untick Private note to answer the visitor). Complete the transfer to hand over, or cancel it.`;
      kind = 'consult';
    } else if (c.transfer?.mode === 'warm') {
      banner = `Waiting for ${c.transfer.toName} to accept the consultation…`;
      kind = 'consult';
    } else if (c.transfer) {
      banner = `Transferring to ${c.transfer.toName}…`;
      kind = 'consult';
    } else if (c.held) {
      banner = 'On hold: the visitor cannot send messages until you resume.';
      kind = 'held';
    }
    el.banner.hidden = !banner;
    el.banner.textContent = banner;
    el.banner.className = `conv-banner banner-${kind}`;

    // Wrap-up
    el.wrapup.hidden = c.status !== 'wrapup';
    tickWrapup(c);

    // Composer
    const canWrite = c.status === 'active' && (c.kind === 'operator' || c.role === 'owner' || c.role === 'consult');
    el.input.disabled = !canWrite;
    el.send.disabled = !canWrite;
    el.cannedBtn.disabled = !canWrite;
    el.noteToggle.hidden = c.kind === 'operator';
    const forcedNote = c.role === 'consult';
    el.note.disabled = !canWrite || forcedNote;
    if (forcedNote) el.note.checked = true;
    else if (c.forcedNote) el.note.checked = false; // was a consultant, owns it now
    c.forcedNote = forcedNote;
    // While a colleague is consulted (warm transfer), the reply box starts
    // as a private note, so a word meant for the colleague does not reach
    // the visitor; the agent may still switch it off.
    const consulting = c.kind === 'visitor' && c.role === 'owner' && canWrite && (!!c.consult || c.transfer?.mode === 'warm');
    if (consulting && !c.consultNote) el.note.checked = true;
    else if (!consulting && c.consultNote) el.note.checked = false;
    c.consultNote = consulting;
    el.composer.classList.toggle('is-note', el.note.checked && c.kind !== 'operator');
    // The details panel says whether we consult or own: redrawn when that changes (a hand-over).
    if (c.infoRole !== c.role) renderInfo(c);
    el.composer.classList.toggle('is-disabled', !canWrite);
    el.input.placeholder = !canWrite
      ? c.status === 'wrapup' ? 'Wrap-up: the chat has ended' : 'This conversation has ended'
      : el.note.checked && c.kind !== 'operator' ? 'Write a private note (only agents see it)…'
      : c.kind === 'operator' ? `Message ${d.displayName(c)}…`
      : 'Write a reply…  Type / for canned messages';
    el.send.textContent = el.note.checked && c.kind !== 'operator' ? 'Add note' : 'Send';
    renderTyping(c);
    S.calls?.render();
    if (stick) scrollToEnd(); // banners and bars come and go without hiding the last line
  }


  function tickHeader(c) {
    let text = '';
    if (c.status === 'wrapup' || c.status === 'closed') text = '';
    else if (c.status === 'ended') text = clock(((c.endedAt || Date.now()) - c.startedAt) / 1000);
    else text = clock(since(c.startedAt));
    if (el.convTimer.textContent !== text) el.convTimer.textContent = text;
  }

  function tickWrapup(c) {
    if (c.status !== 'wrapup') return;
    const left = Math.max(0, c.wrapDeadline - Date.now());
    el.wrapupLeft.textContent = `${clock(left / 1000)} left`;
    const by = c.endedBy === 'you' ? 'You ended the chat' : c.endedBy ? `${c.endedBy} ended the chat` : 'The chat ended';
    if (el.wrapupBy.textContent !== by) el.wrapupBy.textContent = by;
    el.wrapupProgress.max = c.wrapTotal;
    el.wrapupProgress.value = left;
  }

  function renderTyping(c) {
    const on = c.typing && c.typing.until > Date.now() && d.isLive(c);
    clear(el.typing);
    el.typing.classList.toggle('is-on', !!on);
    if (on) {
      el.typing.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', { text: `${c.typing.name} is typing…` }));
    }
  }

  // visitor details

  function renderInfo(c) {
    c.infoRole = c.role;
    const show = c.kind === 'visitor' && S.infoOpen;
    el.info.hidden = !show;
    if (!show) return;
    clear(el.info);
    const a = obj(c.visitor.attributes);
    const rows = [];
    // Context fields come from the page (unverified) unless the site signed
    // them: the server lists those in _verified (docs/INTEGRATION.md).
    const signed = new Set(str(a._verified).split(',').filter(Boolean));
    const trust = (key) => key && h('span', {
      class: ['ctx-mark', signed.has(key) ? 'ctx-verified' : 'ctx-unverified'],
      text: signed.has(key) ? 'verified' : 'unverified',
      title: signed.has(key) ? 'Signed by the website' : 'Sent by the visitor\'s browser; not checked',
    });
    const row = (label, value, key) => {
      if (value === '' || value === null || value === undefined) return;
      rows.push(h('dt', { text: label }), h('dd', { dataset: key ? { ctx: key } : undefined }, value, ' ', trust(key)));
    };
    row('Name', c.visitor.name || 'Not given');
    row('Queue', c.queue);
    if (c.waited) row('Waited', clock(c.waited));
    const page = safeHttpURL(a.pageUrl);
    if (page) {
      row('Page', h('a', { href: page.href, target: '_blank', rel: 'noopener noreferrer', class: 'info-link', title: page.href, text: str(a.pageTitle) || page.host + page.pathname }), 'pageUrl');
      row('Address', h('span', { class: 'info-url', text: page.href }));
    } else if (a.pageUrl) {
      row('Page', str(a.pageUrl), 'pageUrl');
    }
    if (a.pageTitle && !page) row('Page title', str(a.pageTitle), 'pageTitle');
    row('Account', str(a.account), 'account');
    if (a.phone) {
      const digits = str(a.phone).replace(/[\s()./-]/g, '');
      row('Phone', /^\+?[0-9]{3,20}$/.test(digits)
        ? h('a', { href: `tel:${digits}`, class: 'info-link', text: str(a.phone) })
        : str(a.phone), 'phone');
    }
    row('Location', str(a.location), 'location');
    const known = new Set(['pageUrl', 'pageTitle', 'account', 'phone', 'location', '_verified', 'channel']);
    for (const [k, v] of Object.entries(a)) {
      if (!known.has(k) && (typeof v === 'string' || typeof v === 'number')) row(k, String(v), k);
    }
    if (c.from) row('Transferred by', d.agentName(c.from));
    el.info.append(
      h('div', { class: 'info-head' },
        h('span', { class: 'avatar avatar-lg', 'aria-hidden': 'true', text: initials(d.displayName(c)) }),
        h('h3', { text: d.displayName(c) }),
        h('p', { class: 'info-sub', text: c.role === 'consult' ? 'You are consulting' : 'Visitor' })),
      h('dl', { class: 'info-list' }, rows),
      h('p', { class: 'info-id' }, h('span', { text: 'Conversation ' }), h('code', { text: c.id })));
  }

  el.actInfo.append(icon('users'));
  el.soundBtn.prepend(icon('sound'));
  el.notifyBtn.prepend(icon('bell'));
  el.logout.prepend(icon('logout'));
  el.actInfo.title = 'Visitor details';
  el.actInfo.addEventListener('click', () => {
    S.infoOpen = !S.infoOpen;
    writePref('desk.info', S.infoOpen);
    const c = S.convs.get(S.selected);
    if (c) {
      renderInfo(c);
      el.actInfo.setAttribute('aria-expanded', String(S.infoOpen));
    }
  });

  return { buildItem, renderConvState, renderCounts, renderInfo, renderMain, renderTitle, renderTyping, scrollToEnd, select, tickHeader, tickItem, tickWrapup, updateItem };
}
