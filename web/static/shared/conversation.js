// One conversation as both the desk and the widget hold it: the stored
// messages by seq (each drawn once, whatever order they come in), the resume
// position (the highest seq seen), and the outbox of messages sent but not
// yet stored, each with its client-made command id so that a retry after a
// reconnect never duplicates (docs/PROTOCOL.md).
//
// It is plain data, with no DOM and no socket: the views ask it where a new
// message goes (`add` answers the seq it goes before), so that drawing a
// transcript of n messages in order costs O(n), not O(n²).
//
//   const conv = createConversation({ id, lastSeq });
//   const { added, before } = conv.add(m);   // before: seq to insert before, or null (end)
//   conv.addPending({ id: cmdId, text, kind });
//   conv.acked(cmdId, seq);                  // the send's ack
//   conv.echo(m);                            // the stored message came back first

/** Error codes after which a send is not worth retrying. */
export const FINAL_SEND_ERRORS = Object.freeze(['ended', 'too_long', 'invalid_text', 'forbidden', 'not_found']);

/**
 * @param {object} [o]
 * @param {string} [o.id] the conversation id
 * @param {number} [o.lastSeq] the resume position known from before (a reload)
 */
export function createConversation(o = {}) {
  const bySeq = new Map(); // seq -> message
  const order = []; // the seqs held, ascending
  /** @type {Map<string, {id: string, text: string, kind: string, state: string, error: string, seq: number}>} */
  const pending = new Map(); // client command id -> unsent message, in send order
  let lastSeq = Number.isFinite(o.lastSeq) ? o.lastSeq : 0;

  // place says where seq goes in order: the index of the first larger seq.
  function place(seq) {
    if (order.length === 0 || order[order.length - 1] < seq) return order.length; // the common case: O(1)
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function remember(seq, m) {
    const i = place(seq);
    order.splice(i, 0, seq);
    bySeq.set(seq, m);
    if (seq > lastSeq) lastSeq = seq;
    return i + 1 < order.length ? order[i + 1] : null;
  }

  return {
    id: o.id || '',

    /** The resume position: the highest seq seen (acks count too). */
    get lastSeq() { return lastSeq; },
    /** How many stored messages are held. */
    get size() { return order.length; },
    has(seq) { return bySeq.has(seq); },
    get(seq) { return bySeq.get(seq); },
    /** The stored messages in seq order. */
    messages() { return order.map((s) => bySeq.get(s)); },

    /**
     * add takes a stored message (one with a numeric seq). A seq seen before
     * is not added again (added: false). before is the seq of the message it
     * goes in front of, or null when it goes after every stored one (and
     * before the unsent ones).
     * @returns {{added: boolean, before: number|null}}
     */
    add(m) {
      const seq = Number(m?.seq);
      if (!Number.isFinite(seq) || bySeq.has(seq)) return { added: false, before: null };
      return { added: true, before: remember(seq, m) };
    },

    /** addPending records a message being sent under a client command id. */
    addPending({ id, text, kind = 'text' }) {
      const p = { id, text, kind, state: 'sending', error: '', seq: 0 };
      pending.set(id, p);
      return p;
    },
    /** The unsent messages in the order they were sent. */
    pending() { return [...pending.values()]; },
    pendingById(id) { return pending.get(id) || null; },

    /**
     * acked settles a pending message by its send's ack. It answers the
     * pending entry and whether its seq was already drawn from the message
     * event (then the caller drops its own copy), or null when no such
     * send was pending.
     */
    acked(id, seq, time) {
      const p = pending.get(id);
      if (!p || !Number.isFinite(seq)) return null;
      pending.delete(id);
      p.state = 'stored';
      p.seq = seq;
      const dup = bySeq.has(seq);
      const before = dup ? null : remember(seq, { seq, sender: '', kind: p.kind, text: p.text, time: time || '', own: true });
      return { pending: p, duplicate: dup, before };
    },

    /**
     * echo matches a stored message of our own that arrived before its ack
     * to the oldest pending send of the same kind and text; it answers that
     * pending entry (now settled) or null.
     */
    echo(m) {
      for (const p of pending.values()) {
        if (p.state === 'sending' && p.text === m.text && p.kind === m.kind) {
          pending.delete(p.id);
          p.state = 'stored';
          p.seq = m.seq;
          return p;
        }
      }
      return null;
    },

    /** failed marks a send refused; retryable says whether a retry could succeed. */
    failed(id, code) {
      const p = pending.get(id);
      if (!p) return null;
      p.state = 'failed';
      p.error = code || 'error';
      return { pending: p, retryable: !FINAL_SEND_ERRORS.includes(p.error) };
    },

    /** retry forgets a failed send and records it again under a new id. */
    retry(oldId, newId) {
      const p = pending.get(oldId);
      if (!p) return null;
      pending.delete(oldId);
      return this.addPending({ id: newId, text: p.text, kind: p.kind });
    },

    /** drop forgets an unsent message (the chat ended). */
    drop(id) { return pending.delete(id); },
  };
}
