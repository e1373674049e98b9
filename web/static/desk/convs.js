// The conversations: their state and what the server says about them.
// The desk's parts share one context d (desk.js): its state d.S, its
// elements d.el and the functions each part adds to it.
import { announce } from '/shared/dom.js';
import { clock, parseTime, visitorLabel } from '/shared/format.js';
import { blip } from '/desk/sound.js';
import { newTranscript, messageItem, systemItem, nearBottom } from '/desk/transcript.js';
import { createConversation } from '/shared/conversation.js';
import { createTranscriptView } from '/shared/transcript-view.js';
import { obj, str } from '/desk/util.js';

// Why the server ended a chat, in words (data.reason of the ended event).
// Outcomes of a phone call that was never answered (phone_call_ended).
const PHONE_OUTCOME = {
  busy: 'the line was busy', no_answer: 'nobody answered', not_found: 'the number does not exist',
  forbidden: 'the provider refused the call', declined: 'declined', cancelled: 'cancelled', failed: 'the call failed',
};

const ENDED_WHY = Object.freeze({
  visitor_left: 'the visitor left', visitor_gone: 'the visitor left', abandoned: 'the visitor left',
  timeout: 'the wait was too long', no_agents: 'nobody was available', not_routed: 'nobody was available',
  restart: 'the server restarted',
});

export function createConvs(d) {
  const { S, el } = d;
  // ---------------------------------------------------------------- conversations: model

  function ensureConv(id, init = {}) {
    let c = S.convs.get(id);
    if (c) return c;
    c = {
      id,
      kind: 'visitor',
      role: 'owner',
      visitor: { name: '', attributes: {} },
      queue: '',
      waited: 0,
      from: '',
      peer: null,
      status: 'active', // active | ended | wrapup | closed
      held: false,
      consult: null, // {sender, name}: a colleague consulting (warm transfer)
      transfer: null, // {mode, toName}: a transfer we started
      startedAt: Date.now(),
      endedAt: 0,
      lastVisitorAt: 0,
      unread: 0,
      model: createConversation({ id }),
      unsent: new Map(), // command id -> drawn unsent message
      ol: newTranscript(),
      draft: '',
      note: false,
      wrapDeadline: 0,
      wrapTotal: 0,
      closedLabel: '',
      typing: null, // {name, until}
      quiet: Date.now() < S.quietUntil,
      loaded: false,
      busyAction: '',
      scroll: null,
      ...init,
    };
    c.view = createTranscriptView(c.ol);
    d.buildItem(c);
    S.convs.set(id, c);
    el.convList.append(c.li);
    d.renderCounts();
    return c;
  }

  function reopen(c) {
    c.status = 'active';
    c.closedLabel = '';
    c.wrapDeadline = 0;
    S.client?.follow(c.id, c.model.lastSeq);
  }

  function closeConv(c, label) {
    c.status = 'closed';
    c.closedLabel = label;
    c.typing = null;
    c.transfer = null;
    c.consult = null;
    S.client?.forget(c.id);
    d.updateItem(c);
    if (S.selected === c.id) d.renderMain();
    d.renderCounts();
  }

  function dismiss(c) {
    const idx = [...S.convs.keys()].indexOf(c.id);
    c.li.remove();
    S.convs.delete(c.id);
    S.client?.forget(c.id);
    if (S.selected === c.id) {
      const ids = [...S.convs.keys()];
      S.selected = '';
      if (ids.length) d.select(ids[Math.min(idx, ids.length - 1)]);
      else d.renderMain();
    }
    d.renderCounts();
  }

  function displayName(c) {
    if (c.kind === 'operator') return c.peer?.name || d.agentName(c.peer?.id) || 'Colleague';
    return visitorLabel(c.visitor.name, c.id);
  }

  function statusOf(c) {
    if (c.status === 'closed') return { key: 'closed', label: c.closedLabel || 'Closed' };
    if (c.status === 'wrapup') return { key: 'wrapup', label: 'Wrap-up' };
    if (c.status === 'ended') return { key: 'ended', label: 'Ended' };
    if (c.kind === 'operator') return { key: 'colleague', label: 'Colleague chat' };
    if (c.role === 'consult') return { key: 'consult', label: 'Consulting' };
    if (c.consult || c.transfer?.mode === 'warm') return { key: 'consult', label: 'Consult' };
    if (c.transfer) return { key: 'consult', label: 'Transferring' };
    if (c.held) return { key: 'held', label: 'On hold' };
    return { key: 'active', label: 'Active' };
  }

  function isLive(c) {
    return c.status === 'active';
  }

  // conversations: server messages

  function onAssigned(m) {
    const id = str(m.conversation);
    if (!id) return;
    const isNew = !S.convs.has(id);
    const v = m.visitor && typeof m.visitor === 'object' ? m.visitor : null;
    // Operator rooms have no queue and no visitor (the server names them op_...).
    const room = id.startsWith('op_') || (!m.queue && !str(v?.name));
    const c = ensureConv(id, { kind: room ? 'operator' : 'visitor' });
    // assigned is authoritative: a message may have come first and made a guess.
    c.kind = room ? 'operator' : 'visitor';
    if (!room) c.peer = null;
    const roleBefore = c.role;
    c.role = m.role === 'consult' ? 'consult' : 'owner';
    if (v && c.kind === 'visitor') c.visitor = { name: str(v.name), attributes: obj(v.attributes) };
    if (m.queue) c.queue = str(m.queue);
    if (m.from) c.from = str(m.from);
    if (Number.isFinite(m.waited)) c.waited = m.waited;
    else if (S.waited.has(id)) c.waited = S.waited.get(id);
    S.waited.delete(id);
    if (c.status === 'closed') reopen(c);
    if (!c.loaded && !S.client.pendingHistory.has(id)) S.client.history(id, 0);
    if (isNew && !c.quiet) {
      const what = c.role === 'consult' ? `Consultation on ${displayName(c)}` : `New conversation with ${displayName(c)}`;
      announce(el.live, what);
    } else if (!isNew && roleBefore === 'consult' && c.role === 'owner') {
      d.toast(`${displayName(c)} is yours now.`);
    }
    d.updateItem(c);
    if (!S.selected || S.pendingSelect === id) {
      S.pendingSelect = '';
      d.select(id);
    } else if (S.selected === id) {
      d.renderMain();
    }
  }

  function onUnassigned(m) {
    const c = S.convs.get(str(m.conversation));
    if (!c) return;
    c.unassigned = true;
    if (c.status === 'closed') return;
    if (c.status === 'wrapup') {
      closeConv(c, 'Wrap-up over'); // the server ended the wrap-up (done, or its time ran out)
      return;
    }
    const r = str(m.reason);
    const label = {
      transferred: 'Transferred', transfer: 'Transferred', handed_over: 'Handed over', ended: 'Ended',
      cancelled: 'Consultation over', canceled: 'Consultation over', consult_cancelled: 'Consultation over',
      completed: 'Consultation over',
    }[r] || 'Closed';
    closeConv(c, label);
  }

  function onMessage(m) {
    const id = str(m.conversation);
    if (!id || !Number.isFinite(m.seq)) return;
    let c = S.convs.get(id);
    if (!c) {
      // A message before its `assigned` (the joined event is committed and
      // delivered first), or a room a colleague opened: show it, load what
      // came before; `assigned` fills in the rest.
      const sender = str(m.sender);
      const room = id.startsWith('op_');
      const peerId = room && sender.startsWith('agent:') && sender !== d.myself() ? sender.slice(6) : '';
      c = ensureConv(id, { kind: room ? 'operator' : 'visitor', peer: peerId ? { id: peerId, name: str(m.senderName) || d.agentName(peerId) } : null });
      S.client.history(id, 0);
    }
    const placed = c.model.add(m);
    if (!placed.added) return;
    const sender = str(m.sender);
    if (sender.startsWith('agent:') && m.senderName) S.names.set(sender.slice(6), str(m.senderName));
    if (c.kind === 'operator' && !c.peer && sender.startsWith('agent:') && sender !== d.myself()) {
      c.peer = { id: sender.slice(6), name: str(m.senderName) || d.agentName(sender) };
      if (S.selected === c.id) d.renderMain();
    }
    // Whether to follow the end is read once per batch: a replay of
    // thousands of messages must not force a layout for each one.
    if (S.selected === c.id && !c.refresh) c.refresh = { stick: nearBottom(el.transcriptWrap), scroll: false };
    if (m.kind === 'text' || m.kind === 'note') {
      const mine = sender === d.myself();
      const echo = mine ? c.model.echo(m) : null;
      const li = echo ? c.unsent.get(echo.id) : null;
      if (li) {
        c.unsent.delete(echo.id);
        d.settleItem(li, m.time);
        c.view.put(li, m.seq, placed.before);
      } else {
        c.view.put(messageItem(m, { mine, name: senderLabel(c, m) }), m.seq, placed.before);
      }
      const t = parseTime(m.time)?.getTime() || Date.now();
      if (m.kind === 'text') {
        if (sender === 'visitor') {
          if (!c.lastVisitorAt) c.lastVisitorAt = t;
        } else if (sender.startsWith('agent:')) {
          c.lastVisitorAt = 0;
        }
      }
      if (!mine) {
        if (c.typing && c.typing.sender === sender) c.typing = null;
        const seenNow = S.selected === c.id && !document.hidden;
        if (!seenNow && !c.quiet && !(c.status === 'closed')) {
          c.unread++;
          if (document.hidden || S.selected !== c.id) blip();
        }
      }
    } else if (m.kind === 'event') {
      applyEvent(c, m, placed.before);
    }
    if (c.refresh && sender === d.myself()) c.refresh.scroll = true;
    scheduleRefresh(c);
  }

  // scheduleRefresh redraws what depends on a conversation's messages (its
  // list entry, the header and banner, the title, the scroll position)
  // once per frame, however many messages arrived in it: the cost of a
  // replay stays linear in its length.
  function scheduleRefresh(c) {
    if (c.refreshQueued) return;
    c.refreshQueued = true;
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      c.refreshQueued = false;
      const r = c.refresh;
      c.refresh = null;
      d.updateItem(c);
      if (S.selected === c.id) {
        d.renderConvState();
        if (r && (r.stick || r.scroll)) d.scrollToEnd();
      }
      d.renderTitle();
    };
    requestAnimationFrame(run);
    setTimeout(run, 100); // rAF waits while the tab is hidden
  }

  // senderLabel names who wrote a message: a visitor by the name they
  // gave or their label (never the server's generic "Visitor"), an agent
  // by the name sent with the message.
  function senderLabel(c, m) {
    const sender = str(m.sender);
    return sender === 'visitor' ? nameForSender(c, sender) : str(m.senderName) || nameForSender(c, sender);
  }

  function nameForSender(c, sender) {
    if (sender === 'visitor') return visitorLabel(c.visitor.name, c.id);
    if (sender === 'system') return 'System';
    return d.agentName(sender);
  }

  function applyEvent(c, m, before) {
    const sender = str(m.sender);
    const data = obj(m.data);
    const who = sender === d.myself() ? 'You' : senderLabel(c, m);
    let line = '';
    switch (m.event) {
      case 'joined':
        if (data.role === 'consult') {
          if (sender !== d.myself()) c.consult = { sender, name: who };
          line = sender === d.myself() ? 'You joined as a consultant' : `${who} joined as a consultant`;
        } else {
          line = `${who} joined`;
          if (sender === d.myself()) {
            const t = parseTime(m.time);
            if (t) c.startedAt = t.getTime();
          }
        }
        break;
      case 'left':
        if (c.consult && c.consult.sender === sender) c.consult = null;
        line = `${who} left`;
        break;
      case 'handed_over': {
        const to = str(data.to);
        const toName = to === d.myself() ? 'you' : d.agentName(to);
        line = `${who} handed the conversation over to ${toName}`;
        if (to === d.myself()) {
          c.role = 'owner';
          c.consult = null;
        } else if (c.consult && c.consult.sender === to) {
          c.consult = null;
        }
        if (sender === d.myself()) c.transfer = null;
        break;
      }
      case 'hold':
        c.held = true;
        line = sender === d.myself() ? 'You put the chat on hold' : `${who} put the chat on hold`;
        break;
      case 'resume':
        c.held = false;
        line = sender === d.myself() ? 'You resumed the chat' : `${who} resumed the chat`;
        break;
      case 'call_started':
        // A call to the visitor's phone says so itself (phone_dialled).
        if (c.phoneCall) break;
        line = `${sender === 'visitor' ? c.visitor.name || 'The visitor' : who} started a voice call`;
        break;
      case 'call_connected':
        line = c.phoneCall ? 'Phone call connected' : 'Voice call connected';
        break;
      case 'call_ended': {
        if (c.phoneCall) break;
        const secs = Number(data.seconds) || 0;
        line = `Voice call ended after ${clock(secs)}`;
        break;
      }
      case 'phone_dialled':
        c.phoneCall = true;
        line = `${sender === d.myself() ? 'You' : who} called ${str(data.number)}`;
        break;
      case 'phone_call_ended': {
        c.phoneCall = false;
        const secs = Number(data.seconds) || 0;
        const why = PHONE_OUTCOME[str(data.outcome)];
        line = str(data.outcome) === 'answered'
          ? `Phone call to ${str(data.number)} ended after ${clock(secs)}${str(data.cause) === 'phone_hung_up' ? ' (the customer hung up)' : ''}`
          : `Phone call to ${str(data.number)}: ${why || 'not connected'}`;
        break;
      }
      case 'call_invited':
        line = sender === d.myself() ? 'You asked the visitor to talk by voice' : `${who} asked the visitor to talk by voice`;
        break;
      case 'call_declined':
        line = `${c.visitor.name || 'The visitor'} chose to keep typing`;
        break;
      case 'ended': {
        // Reasons are said in words; a code nobody listed is not shown.
        const why = ENDED_WHY[str(data.reason)] || '';
        c.endedBy = sender === 'visitor' ? displayName(c) : sender === 'system' ? '' : sender === d.myself() ? 'you' : who;
        line = sender === 'visitor' ? `${displayName(c)} ended the chat`
          : sender === 'system' ? `The chat ended${why ? ` (${why})` : ''}`
          : sender === d.myself() ? 'You ended the chat' : `${who} ended the chat`;
        if (c.status === 'active') c.status = 'ended';
        c.endedAt = parseTime(m.time)?.getTime() || Date.now();
        c.lastVisitorAt = 0;
        c.typing = null;
        c.held = false;
        c.consult = null;
        c.transfer = null;
        break;
      }
      default:
        line = str(m.event);
    }
    if (line) c.view.put(systemItem(line, m), m.seq, before);
  }

  function onSynced(m) {
    for (const id of Object.keys(obj(m.conversations))) {
      const c = S.convs.get(id);
      if (!c) continue;
      c.loaded = true;
      c.quiet = false;
      if (S.selected === id) d.scrollToEnd();
    }
  }

  function onTyping(m) {
    const c = S.convs.get(str(m.conversation));
    const sender = str(m.sender);
    if (!c || sender === d.myself()) return;
    c.typing = m.on ? { sender, name: nameForSender(c, sender), until: Date.now() + 6000 } : null;
    d.updateItem(c);
    if (S.selected === c.id) d.renderTyping(c);
  }

  function onWrapup(m) {
    const c = S.convs.get(str(m.conversation));
    if (!c) return;
    const dl = parseTime(m.deadline);
    const deadline = dl ? dl.getTime() : Date.now() + 30000;
    if (deadline <= Date.now()) return;
    c.status = 'wrapup';
    c.wrapDeadline = deadline;
    c.wrapTotal = Math.max(1000, deadline - Date.now());
    d.updateItem(c);
    if (S.selected === c.id) d.renderMain();
    else d.toast(`Wrap-up for ${displayName(c)}.`);
  }

  return { applyEvent, closeConv, dismiss, displayName, ensureConv, isLive, nameForSender, onAssigned, onMessage, onSynced, onTyping, onUnassigned, onWrapup, reopen, statusOf };
}
