// Left messages: what visitors left instead of waiting (GET
// /api/left-messages), newest first, in a sidebar panel. A phone caller's
// voice message has a player: a play/pause button, a seek slider and its
// length, all usable from the keyboard (Tab to them; Space or Enter plays
// and pauses; the arrow keys seek). One recording plays at a time; nothing
// is fetched until Play is pressed.
import { h, clear, icon } from '/shared/dom.js';
import { clock, parseTime, timeOfDay } from '/shared/format.js';
import { str, obj } from '/desk/util.js';

const REFRESH_MS = 60000;

export function createLeftMessages(d) {
  const { S, el } = d;
  let timer = 0;
  let gen = 0; // stopLeftMessages moves it: an answer of an earlier round is dropped
  let playing = null; // the player whose audio plays

  function forAgent() {
    return Array.isArray(S.me?.roles) && S.me.roles.includes('agent');
  }

  async function loadLeftMessages() {
    clearTimeout(timer);
    el.leftPanel.hidden = !forAgent();
    if (!forAgent()) return;
    const round = gen;
    try {
      const r = await fetch('/api/left-messages', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (round !== gen) return;
      if (r.status === 401) return; // signed out: the session's check shows the sign-in
      if (r.ok) {
        const body = await r.json();
        if (round !== gen) return;
        renderLeftMessages(Array.isArray(body.items) ? body.items : []);
      }
    } catch { /* offline: the next refresh tries again */ }
    if (round === gen) timer = setTimeout(loadLeftMessages, REFRESH_MS);
  }

  function stopLeftMessages() {
    gen++;
    clearTimeout(timer);
    playing?.stop();
    clear(el.leftList);
    el.leftCount.textContent = '0';
    el.leftEmpty.hidden = false;
  }

  function renderLeftMessages(items) {
    // A recording that plays keeps playing: its item is kept as it is.
    const keep = playing?.id;
    const kept = keep ? el.leftList.querySelector(`[data-id="${CSS.escape(keep)}"]`) : null;
    clear(el.leftList);
    let open = 0;
    for (const raw of items) {
      const m = obj(raw);
      const id = str(m.id);
      if (!id) continue;
      if (!m.handledBy) open++;
      el.leftList.append(kept && id === keep ? kept : item(m));
    }
    el.leftCount.textContent = String(open);
    el.leftEmpty.hidden = el.leftList.childElementCount > 0;
  }

  function item(m) {
    const id = str(m.id);
    const voice = m.hasAudio === true;
    const attrs = obj(m.attributes);
    const name = str(m.name) || str(attrs.callerId) || (voice ? 'Caller' : 'Visitor');
    const at = parseTime(m.createdAt);
    const queue = S.config.queues.find((q) => q.id === m.queue)?.name || str(m.queue);
    const sub = [queue, str(m.email) || (voice && str(attrs.callerId) !== name ? str(attrs.callerId) : '')].filter(Boolean);
    const li = h('li', { class: ['lm-item', voice && 'is-voice', m.handledBy && 'is-handled'], dataset: { id } },
      h('div', { class: 'lm-head' },
        h('span', { class: 'lm-kind', title: voice ? 'Voice message' : 'Written message' }, icon(voice ? 'phone' : 'mail')),
        h('span', { class: 'lm-name', text: name }),
        at && h('time', { class: 'lm-time num', datetime: at.toISOString(), title: at.toLocaleString(), text: when(at) })),
      sub.length > 0 && h('p', { class: 'lm-sub', text: sub.join(' · ') }),
      !voice && str(m.text) && h('p', { class: 'lm-text', text: str(m.text) }),
      voice && player(id, name, Number(m.audioMs) / 1000 || 0),
      m.handledBy && h('p', { class: 'lm-handled' }, icon('check'), `Handled by ${d.agentName(str(m.handledBy))}`),
      !m.handledBy && h('div', { class: 'lm-actions' },
        h('button', { type: 'button', class: 'btn btn-sm lm-done', 'aria-label': `Mark the message from ${name} handled`,
          onclick: (ev) => markHandled(m, ev.currentTarget) }, icon('check'), 'Mark handled')));
    return li;
  }

  // markHandled tells the server this message is dealt with (POST
  // /api/left-messages/{id}/handled) and shows it handled, by the agent.
  async function markHandled(m, btn) {
    const id = str(m.id);
    btn.disabled = true;
    try {
      const r = await fetch(`/api/left-messages/${encodeURIComponent(id)}/handled`, {
        method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' },
      });
      if (!r.ok) throw new Error(r.status === 404 ? 'This message is no longer there.' : `Could not mark it handled (${r.status}).`);
      const done = obj(await r.json());
      const li = el.leftList.querySelector(`[data-id="${CSS.escape(id)}"]`);
      if (li) {
        if (playing?.id === id) playing.stop();
        li.replaceWith(item({ ...m, handledBy: str(done.handledBy) || S.me?.id, handledAt: done.handledAt }));
      }
      el.leftCount.textContent = String(el.leftList.querySelectorAll('.lm-item:not(.is-handled)').length);
    } catch (err) {
      btn.disabled = false;
      d.toast(err instanceof Error ? err.message : 'Could not mark it handled.', 'error');
    }
  }

  // when is the time of day for today, else the date and time.
  function when(at) {
    const today = new Date();
    if (at.toDateString() === today.toDateString()) return timeOfDay(at);
    return `${at.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} ${timeOfDay(at)}`;
  }

  function player(id, name, seconds) {
    const url = `/api/left-messages/${encodeURIComponent(id)}/audio`;
    let audio = null;
    let total = seconds;
    const btn = h('button', { type: 'button', class: 'lm-play', 'aria-label': `Play the voice message from ${name}, ${clock(total)} long` }, icon('play'));
    const seek = h('input', { type: 'range', class: 'lm-seek', min: '0', max: String(Math.max(total, 0.1)), step: '0.1', value: '0',
      'aria-label': `Position in the message from ${name}` });
    const time = h('span', { class: 'lm-dur num', text: clock(total) });
    const wrap = h('div', { class: 'lm-player', role: 'group', 'aria-label': `Voice message from ${name}` }, btn, seek, time);
    const p = {
      id,
      stop() {
        audio?.pause();
      },
    };
    function show() {
      const pos = audio ? audio.currentTime : Number(seek.value);
      seek.value = String(pos);
      seek.style.setProperty('--fill', `${total > 0 ? Math.min(100, (pos / total) * 100) : 0}%`);
      seek.setAttribute('aria-valuetext', `${clock(pos)} of ${clock(total)}`);
      time.textContent = pos > 0 || (audio && !audio.paused) ? `${clock(pos)} / ${clock(total)}` : clock(total);
      const on = audio && !audio.paused;
      wrap.classList.toggle('is-playing', !!on);
      clear(btn).append(icon(on ? 'pause' : 'play'));
      btn.setAttribute('aria-label', `${on ? 'Pause' : 'Play'} the voice message from ${name}, ${clock(total)} long`);
    }
    function load() {
      if (audio) return audio;
      audio = new Audio(url);
      audio.preload = 'auto';
      audio.addEventListener('loadedmetadata', () => {
        if (Number.isFinite(audio.duration) && audio.duration > 0) {
          total = audio.duration;
          seek.max = String(total);
        }
        show();
      });
      audio.addEventListener('timeupdate', show);
      audio.addEventListener('play', () => {
        if (playing && playing !== p) playing.stop();
        playing = p;
        show();
      });
      audio.addEventListener('pause', show);
      audio.addEventListener('ended', () => {
        audio.currentTime = 0;
        if (playing === p) playing = null;
        show();
      });
      audio.addEventListener('error', () => {
        d.toast(`Can't play the message from ${name}.`, 'error');
        audio = null;
        show();
      });
      return audio;
    }
    btn.addEventListener('click', () => {
      const a = load();
      if (a.paused) a.play().catch(() => { /* the error event says it */ });
      else a.pause();
    });
    seek.addEventListener('input', () => {
      const a = load();
      a.currentTime = Number(seek.value);
      show();
    });
    show();
    return wrap;
  }

  el.leftRefresh.addEventListener('click', loadLeftMessages);
  return { loadLeftMessages, stopLeftMessages };
}
