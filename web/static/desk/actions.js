// Conversation actions: hold, end, transfer (blind and warm), wrap-up.
// The desk's parts share one context d (desk.js): its state d.S, its
// elements d.el and the functions each part adds to it.
import { h, clear } from '/shared/dom.js';
import { STATE_LABEL, busy, errText, str } from '/desk/util.js';

export function createActions(d) {
  const { S, el } = d;
  // ---------------------------------------------------------------- actions

  async function act(c, key, type, fields = {}) {
    if (c.busyAction) return null;
    c.busyAction = key;
    if (S.selected === c.id) d.renderConvState();
    try {
      return await S.client.request(type, { conversation: c.id, ...fields });
    } catch (err) {
      d.toast(errText(err), 'error');
      return null;
    } finally {
      c.busyAction = '';
      if (S.selected === c.id) d.renderConvState();
    }
  }

  el.actHold.addEventListener('click', () => {
    const c = S.convs.get(S.selected);
    if (c) act(c, 'hold', c.held ? 'unhold' : 'hold');
  });

  el.actEnd.addEventListener('click', () => {
    const c = S.convs.get(S.selected);
    if (!c) return;
    el.endText.textContent = `${d.displayName(c)} will see that the chat has ended.`;
    el.endDialog.returnValue = '';
    el.endDialog.showModal();
  });
  el.endDialog.addEventListener('close', () => {
    const c = S.convs.get(S.selected);
    if (el.endDialog.returnValue === 'end' && c) act(c, 'end', 'end');
    else el.actEnd.focus();
  });

  el.actComplete.addEventListener('click', async () => {
    const c = S.convs.get(S.selected);
    if (!c) return;
    const to = c.consult?.name || c.transfer?.toName || 'your colleague';
    const res = await act(c, 'complete', 'transfer_complete');
    if (res) {
      c.transfer = null;
      d.toast(`Handed over to ${to}.`);
    }
  });
  el.actCancel.addEventListener('click', async () => {
    const c = S.convs.get(S.selected);
    if (!c) return;
    const res = await act(c, 'cancel', 'transfer_cancel');
    if (res) {
      c.transfer = null;
      c.consult = null;
      d.renderConvState();
      d.updateItem(c);
      d.toast('Transfer cancelled.');
    }
  });
  el.actClose.addEventListener('click', () => {
    const c = S.convs.get(S.selected);
    if (c) d.dismiss(c);
  });

  el.wrapupDone.addEventListener('click', async () => {
    const c = S.convs.get(S.selected);
    if (!c) return;
    busy(el.wrapupDone, true, 'Finishing…');
    try {
      await S.client.request('wrapup_done', { conversation: c.id });
      d.closeConv(c, 'Done');
    } catch (err) {
      if (err.code === 'wrong_state' || err.code === 'not_found') d.closeConv(c, 'Done');
      else d.toast(errText(err), 'error');
    } finally {
      busy(el.wrapupDone, false);
    }
  });

  // transfer dialog

  function targetKind() {
    return el.transferForm.elements.target.value;
  }

  el.actTransfer.addEventListener('click', () => {
    const c = S.convs.get(S.selected);
    if (!c) return;
    clear(el.transferAgent);
    const ops = S.operators.filter((o) => o.id !== S.me?.id);
    for (const o of ops) {
      const st = STATE_LABEL[o.state] || str(o.state);
      el.transferAgent.append(h('option', { value: o.id, text: `${str(o.displayName) || o.id}${st ? ` — ${st}` : ''}` }));
    }
    if (!ops.length) el.transferAgent.append(h('option', { value: '', disabled: true, selected: true, text: 'Nobody else is online' }));
    clear(el.transferQueue);
    for (const q of S.config.queues) el.transferQueue.append(h('option', { value: q.id, text: q.name, selected: q.id === c.queue }));
    if (!S.config.queues.length) el.transferQueue.append(h('option', { value: '', disabled: true, selected: true, text: 'No queues configured' }));
    el.transferForm.elements.target.value = ops.length || !S.config.queues.length ? 'agent' : 'queue';
    el.transferForm.elements.mode.value = 'blind';
    el.transferNote.value = '';
    el.transferError.textContent = '';
    syncTransferTarget();
    el.transferDialog.showModal();
    (targetKind() === 'agent' ? el.transferAgent : el.transferQueue).focus();
  });

  function syncTransferTarget() {
    const agent = targetKind() === 'agent';
    el.transferAgentField.hidden = !agent;
    el.transferQueueField.hidden = agent;
  }
  for (const r of el.transferForm.querySelectorAll('input[name="target"]')) r.addEventListener('change', syncTransferTarget);
  el.transferCancel.addEventListener('click', () => el.transferDialog.close());
  el.transferDialog.addEventListener('close', () => {
    if (!el.conv.hidden && !el.actTransfer.hidden) el.actTransfer.focus();
  });

  el.transferForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const c = S.convs.get(S.selected);
    if (!c || el.transferSubmit.disabled) return;
    const agent = targetKind() === 'agent';
    const target = agent ? el.transferAgent.value : el.transferQueue.value;
    const mode = el.transferForm.elements.mode.value === 'blind' ? 'blind' : 'warm';
    if (!target) {
      el.transferError.textContent = agent ? 'Choose a colleague.' : 'Choose a queue.';
      return;
    }
    const toName = agent ? d.agentName(target) : S.config.queues.find((q) => q.id === target)?.name || target;
    const fields = { conversation: c.id, mode, note: el.transferNote.value.trim().slice(0, 500) };
    if (agent) fields.toAgent = target;
    else fields.toQueue = target;
    el.transferError.textContent = '';
    busy(el.transferSubmit, true, 'Transferring…');
    try {
      await S.client.request('transfer', fields);
      c.transfer = { mode, toName };
      el.transferDialog.close();
      d.toast(mode === 'warm' ? `Consultation requested from ${toName}.` : `Transferred to ${toName}.`);
      d.updateItem(c);
      d.renderConvState();
    } catch (err) {
      el.transferError.textContent = errText(err);
    } finally {
      busy(el.transferSubmit, false);
    }
  });

  return { act, syncTransferTarget, targetKind };
}
