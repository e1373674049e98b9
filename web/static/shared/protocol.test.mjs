// Self-check for protocol.js with a fake WebSocket.
// Run with: node web/static/shared/protocol.test.mjs
import { ProtocolClient, ProtocolError } from './protocol.js';

let failures = 0;
let count = 0;
function check(name, got, want) {
  count++;
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) {
    failures++;
    console.error(`FAIL ${name}\n  got:  ${g}\n  want: ${w}`);
  }
}
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

// FakeSocket records what the client sends; the test plays the server.
const sockets = [];
class FakeSocket {
  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.readyState = 0;
    this.sent = [];
    sockets.push(this);
  }
  send(s) { this.sent.push(JSON.parse(s)); }
  close(code = 1000) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason: '' }));
  }
  // server side
  open(hello) {
    this.readyState = 1;
    this.onopen?.();
    this.push(hello);
  }
  push(msg) { this.onmessage?.({ data: JSON.stringify(msg) }); }
  drop() { this.readyState = 3; this.onclose?.({ code: 1006, reason: '' }); }
  types() { return this.sent.map((m) => m.type); }
}

let n = 0;
const client = new ProtocolClient({
  url: () => 'ws://test/ws?token=t',
  WebSocket: FakeSocket,
  backoff: [5, 10],
  staleAfter: 0,
  newId: () => `t-${++n}`,
});
const statuses = [];
client.on('status', (s) => statuses.push(s.status));
const messages = [];
client.on('message', (m) => messages.push(m.seq));

client.start();
check('offers the cc.v1 subprotocol', sockets[0].protocol, 'cc.v1');

// Commands queue while the socket is not open yet.
const p1 = client.request('send', { text: 'first' }, { timeout: 0 });
check('nothing written before hello', sockets[0].sent, []);

sockets[0].open({ type: 'hello', v: 1, role: 'visitor', conversation: 'c1', lastSeq: 0 });
check('resume then the queued send', sockets[0].types(), ['resume', 'send']);
check('visitor resume uses after', sockets[0].sent[0].after, 0);
const sendId = sockets[0].sent[1].id;

// Messages move lastSeq; an ack settles the promise with its result.
sockets[0].push({ type: 'message', conversation: 'c1', seq: 1, sender: 'visitor', kind: 'text', text: 'first' });
sockets[0].push({ type: 'ack', id: sendId, result: { seq: 1 } });
check('ack resolves with result', await p1, { seq: 1 });
check('lastSeq follows messages', client.lastSeq.get('c1'), 1);

// An error rejects with its code.
const p2 = client.request('send', { text: 'x'.repeat(10) });
const id2 = sockets[0].sent.at(-1).id;
sockets[0].push({ type: 'error', id: id2, code: 'on_hold', message: 'on hold' });
const err = await p2.catch((e) => e);
check('error rejects with code', [err instanceof ProtocolError, err.code], [true, 'on_hold']);

// A command sent, then the socket drops before the ack: it goes again with
// the same id after the reconnect, after the resume from lastSeq.
const p3 = client.request('send', { text: 'during drop' }, { timeout: 0 });
const id3 = sockets[0].sent.at(-1).id;
sockets[0].push({ type: 'message', conversation: 'c1', seq: 2, sender: 'agent:alice', kind: 'text', text: 'hi' });
sockets[0].drop();
check('status reconnecting', client.status, 'reconnecting');
const queuedWhileDown = client.request('end', {}, { timeout: 0 });
await tick(20);
check('a second socket was opened', sockets.length, 2);
sockets[1].open({ type: 'hello', v: 1, role: 'visitor', conversation: 'c1', lastSeq: 3 });
check('after reconnect: resume, re-send, queued', sockets[1].types(), ['resume', 'send', 'end']);
check('resume after the last seq seen', sockets[1].sent[0].after, 2);
check('same id re-sent', sockets[1].sent[1].id, id3);
sockets[1].push({ type: 'ack', id: id3, result: { seq: 3 } });
sockets[1].push({ type: 'ack', id: sockets[1].sent[2].id, result: { seq: 4 } });
check('re-sent command resolves', await p3, { seq: 3 });
check('queued command resolves', await queuedWhileDown, { seq: 4 });
check('outbox empty', client.pendingCommands(), []);

// Rate limited: the same id goes again by itself.
const p4 = client.request('send', { text: 'burst' });
const id4 = sockets[1].sent.at(-1).id;
sockets[1].push({ type: 'error', id: id4, code: 'rate_limited' });
await tick(1100);
check('rate-limited command re-sent with the same id', sockets[1].sent.at(-1).id, id4);
sockets[1].push({ type: 'ack', id: id4, result: { seq: 5 } });
check('then resolves', await p4, { seq: 5 });

// A timeout rejects and drops the command from the outbox.
const p5 = client.request('decline', { interaction: 'i1' }, { timeout: 20 });
const e5 = await p5.catch((e) => e);
check('timeout rejects', e5.code, 'timeout');
check('timed-out command left the outbox', client.pendingCommands().length, 0);

// Persisted commands come back with their ids.
const saved = [{ id: 'old-7', type: 'send', fields: { text: 'from storage' } }];
const restored = client.restore(saved, { timeout: 0 });
check('restored command sent with its id', sockets[1].sent.at(-1), { type: 'send', id: 'old-7', text: 'from storage' });
sockets[1].push({ type: 'ack', id: 'old-7', result: { seq: 6 } });
check('restored promise resolves', await restored.get('old-7'), { seq: 6 });

// Agent: history is resumed from where it was asked until synced.
const agent = new ProtocolClient({ url: () => 'ws://test/ws', WebSocket: FakeSocket, backoff: [5], staleAfter: 0 });
agent.start();
const as = sockets.at(-1);
as.open({ type: 'hello', v: 1, role: 'agent', agent: { id: 'alice' } });
check('agent without conversations sends no resume', as.types(), []);
agent.history('c9', 0);
check('history asked', as.sent.at(-1).type, 'history');
as.push({ type: 'message', conversation: 'c9', seq: 7, sender: 'visitor', kind: 'text', text: 'live' });
as.drop();
await tick(20);
const as2 = sockets.at(-1);
as2.open({ type: 'hello', v: 1, role: 'agent', agent: { id: 'alice' } });
check('resume covers the unsynced history from its start', as2.sent[0].conversations, { c9: 0 });
as2.push({ type: 'synced', conversations: { c9: 7 } });
check('synced clears the pending history', agent.pendingHistory.size, 0);
agent.follow('c10', 3);
as2.drop();
await tick(20);
sockets.at(-1).open({ type: 'hello', v: 1, role: 'agent', agent: { id: 'alice' } });
check('later resume uses lastSeq', sockets.at(-1).sent[0].conversations, { c9: 7, c10: 3 });

// A failed history is reported.
let hf = null;
agent.on('history_failed', (e) => { hf = e; });
agent.history('c11', 0);
const hid = sockets.at(-1).sent.at(-1).id;
sockets.at(-1).push({ type: 'error', id: hid, code: 'forbidden' });
check('history_failed', [hf?.conversation, hf?.error.code], ['c11', 'forbidden']);

// Stop rejects what is queued.
const p6 = agent.request('presence', { presence: 'away' }, { timeout: 0 });
agent.stop();
check('stop rejects queued', (await p6.catch((e) => e)).code, 'closed');
client.stop();
check('status sequence', statuses.slice(0, 4), ['connecting', 'open', 'reconnecting', 'reconnecting']);
check('messages delivered in order', messages, [1, 2]);

if (failures) {
  console.error(`${failures} of ${count} checks failed`);
  process.exit(1);
}
console.log(`ok: ${count} protocol client checks passed`);
