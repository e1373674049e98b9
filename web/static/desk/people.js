// Colleagues (operators) and the communication queue (parked requests).
// The desk's parts share one context d (desk.js): its state d.S, its
// elements d.el and the functions each part adds to it.
import { h, clear } from '/shared/dom.js';
import { clock, parseTime, initials, since, visitorLabel } from '/shared/format.js';
import { STATE_LABEL, busy, errText, obj, str } from '/desk/util.js';

export function createPeople(d) {
  const { S, el } = d;
  // ---------------------------------------------------------------- colleagues and the communication queue

  function onOperators(m) {
    const items = (Array.isArray(m.items) ? m.items : []).filter((o) => o && typeof o.id === 'string');
    for (const o of items) if (o.displayName) S.names.set(o.id, str(o.displayName));
    S.operators = items.filter((o) => o.id !== S.me?.id);
    renderOperators();
  }

  const STATE_ORDER = { available: 0, busy: 1, wrap_up: 2, away: 3, offline: 4 };
  function renderOperators() {
    clear(el.opsList);
    const ops = [...S.operators].sort((a, b) =>
      (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || str(a.displayName).localeCompare(str(b.displayName)));
    for (const o of ops) {
      const name = str(o.displayName) || o.id;
      const st = str(o.state) || 'available';
      el.opsList.append(h('li', {},
        h('button', { type: 'button', class: 'op-item', title: `Chat with ${name}`, onclick: () => openOperatorChat(o.id, name) },
          h('span', { class: 'avatar avatar-sm', 'aria-hidden': 'true', text: initials(name) }, h('i', { class: 'presence-dot', dataset: { state: st } })),
          h('span', { class: 'op-name', text: name }),
          h('span', { class: 'op-state', text: STATE_LABEL[st] || st }))));
    }
    el.opsCount.textContent = String(ops.length);
    el.opsEmpty.hidden = ops.length > 0;
  }

  async function openOperatorChat(agentId, name) {
    for (const c of S.convs.values()) {
      if (c.kind === 'operator' && c.peer?.id === agentId && c.status !== 'closed') {
        d.select(c.id);
        return;
      }
    }
    try {
      const res = await S.client.request('operator_chat', { agent: agentId });
      const id = str(res?.conversation);
      if (!id) throw new Error('no conversation in the answer');
      const c = d.ensureConv(id, { kind: 'operator', peer: { id: agentId, name } });
      c.peer = { id: agentId, name };
      if (c.status === 'closed') d.reopen(c);
      d.updateItem(c);
      d.select(id);
    } catch (err) {
      d.toast(`Can't open a chat with ${name}: ${errText(err)}`, 'error');
    }
  }

  function renderParked() {
    clear(el.parkedList);
    for (const p of S.parked) {
      const v = obj(p.visitor);
      const name = visitorLabel(str(v.name), str(p.conversation));
      // The visitor's wait goes on through the park: count from when it began.
      const started = parseTime(p.waitingSince) || parseTime(p.since);
      const timer = h('span', { class: 'parked-since num', title: 'Waiting', dataset: { since: String(started ? started.getTime() : Date.now()) } });
      timer.textContent = clock(since(Number(timer.dataset.since)));
      const take = h('button', { type: 'button', class: 'btn btn-sm btn-primary', text: 'Take', 'aria-label': `Take ${name}` });
      take.addEventListener('click', async () => {
        busy(take, true, 'Taking…');
        if (p.conversation) {
          S.pendingSelect = str(p.conversation);
          S.waited.set(str(p.conversation), since(Number(timer.dataset.since)));
        }
        try {
          await S.client.request('take', { interaction: str(p.interaction) });
        } catch (err) {
          d.toast(err.code === 'not_found' || err.code === 'already_accepted' ? `${name} was already taken.` : `Can't take it: ${errText(err)}`, 'error');
          busy(take, false);
        }
      });
      el.parkedList.append(h('li', { class: 'parked-item' },
        h('span', { class: 'avatar avatar-sm', 'aria-hidden': 'true', text: initials(name) }),
        h('span', { class: 'parked-main' },
          h('span', { class: 'parked-name', text: name }),
          h('span', { class: 'parked-sub' }, h('span', { text: str(p.queue) }), timer)),
        take));
    }
    el.parkedCount.textContent = String(S.parked.length);
    el.parkedEmpty.hidden = S.parked.length > 0;
  }

  return { onOperators, openOperatorChat, renderOperators, renderParked };
}
