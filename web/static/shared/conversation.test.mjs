// Self-check for conversation.js. Run with: node web/static/shared/conversation.test.mjs
import { createConversation, FINAL_SEND_ERRORS } from './conversation.js';

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
const msg = (seq, text = `m${seq}`, extra = {}) => ({ seq, kind: 'text', sender: 'agent:a', text, ...extra });

// Messages in order go at the end; out of order before the next larger seq.
{
  const c = createConversation({ id: 'c1' });
  check('first message goes at the end', c.add(msg(1)), { added: true, before: null });
  check('a later one too', c.add(msg(3)), { added: true, before: null });
  check('a gap filled goes before the next larger seq', c.add(msg(2)), { added: true, before: 3 });
  check('an early one before the first', c.add(msg(0.5)), { added: true, before: 1 });
  check('a seq seen before is not added again', c.add(msg(2, 'other')), { added: false, before: null });
  check('messages are in seq order', c.messages().map((m) => m.seq), [0.5, 1, 2, 3]);
  check('the first copy of a seq is kept', c.get(2).text, 'm2');
  check('size counts each seq once', c.size, 4);
  check('the resume position is the highest seq', c.lastSeq, 3);
  check('a message without a seq is refused', c.add({ kind: 'text' }), { added: false, before: null });
}

// The resume position starts where a reload left off and only grows.
{
  const c = createConversation({ id: 'c2', lastSeq: 40 });
  check('resume from the stored position', c.lastSeq, 40);
  c.add(msg(12));
  check('an older message does not move it back', c.lastSeq, 40);
  c.add(msg(41));
  check('a newer one moves it on', c.lastSeq, 41);
}

// A long replay in order and in reverse lands sorted, each once.
{
  const c = createConversation();
  for (let i = 1; i <= 13000; i++) c.add(msg(i));
  for (let i = 1; i <= 13000; i += 7) c.add(msg(i)); // replayed again
  check('13,000 in order, replayed twice, held once', c.size, 13000);
  const r = createConversation();
  for (let i = 500; i >= 1; i--) r.add(msg(i));
  const seqs = r.messages().map((m) => m.seq);
  check('in reverse, still sorted', seqs.every((s, i) => s === i + 1), true);
}

// The outbox: an ack settles its send; the echo may come first.
{
  const c = createConversation();
  c.add(msg(1));
  c.addPending({ id: 'x-1', text: 'hello' });
  c.addPending({ id: 'x-2', text: 'hello' });
  c.addPending({ id: 'x-3', text: 'a note', kind: 'note' });
  check('three unsent, in order', c.pending().map((p) => p.id), ['x-1', 'x-2', 'x-3']);
  const a = c.acked('x-1', 2, '2026-01-01T00:00:00Z');
  check('the ack settles its send', [a.pending.id, a.pending.seq, a.duplicate, a.before], ['x-1', 2, false, null]);
  check('and counts as seen', c.has(2), true);
  check('the resume position follows the ack', c.lastSeq, 2);
  check('a second ack of the same id is nothing', c.acked('x-1', 2), null);
  // The echo of x-2 comes before its ack: it matches the oldest send of that text.
  const e = msg(3, 'hello', { sender: 'visitor' });
  check('the echo is new', c.add(e).added, true);
  check('the echo settles the oldest matching send', c.echo(e)?.id, 'x-2');
  check('then its ack finds nothing pending', c.acked('x-2', 3), null);
  check('a note is not matched by a text of the same words', c.echo({ seq: 4, kind: 'text', text: 'a note' }), null);
  check('one unsent left', c.pending().map((p) => p.id), ['x-3']);
  // An ack for a seq the model has from elsewhere (history) is a duplicate.
  c.add(msg(5, 'a note', { kind: 'note' }));
  const d = c.acked('x-3', 5);
  check('an ack of a seq already drawn says duplicate', d.duplicate, true);
  check('nothing unsent', c.pending().length, 0);
}

// Failures and retries: a final error is not retried; a retry takes a new id.
{
  const c = createConversation();
  c.addPending({ id: 'y-1', text: 'too much' });
  check('too_long is final', c.failed('y-1', 'too_long').retryable, false);
  c.addPending({ id: 'y-2', text: 'try again' });
  const f = c.failed('y-2', 'rate_limited');
  check('rate_limited may be retried', [f.retryable, f.pending.state], [true, 'failed']);
  const r = c.retry('y-2', 'y-3');
  check('a retry is a new send under a new id', [r.id, r.text, r.state], ['y-3', 'try again', 'sending']);
  check('the old id is gone', c.pendingById('y-2'), null);
  check('a failed send is not matched by an echo', c.echo({ seq: 1, kind: 'text', text: 'too much' }), null);
  check('drop forgets', c.drop('y-1'), true);
  check('every final code is listed', FINAL_SEND_ERRORS.includes('ended') && FINAL_SEND_ERRORS.includes('invalid_text'), true);
  check('failing an unknown id is nothing', c.failed('nope', 'x'), null);
}

if (failures) {
  console.error(`${failures} of ${count} checks failed`);
  process.exit(1);
}
console.log(`conversation: ${count} checks passed`);
