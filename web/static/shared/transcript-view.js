// The list element of a transcript, kept in the order a conversation model
// (shared/conversation.js) gives: stored messages by seq, unsent ones after
// them. Each placement touches only the item and its neighbours, so drawing n
// messages costs O(n), never a walk over the list per message.

/**
 * @param {HTMLElement} list the <ol> holding the items
 */
export function createTranscriptView(list) {
  const bySeq = new Map(); // seq -> item
  const unsent = new Set(); // items without a seq yet, in send order

  function firstUnsent() {
    for (const li of unsent) if (li.parentNode === list) return li;
    return null;
  }

  return {
    list,
    /**
     * put places a stored item: before the item of seq `before` (as the
     * model's add answered), or after every stored one when before is null.
     */
    put(li, seq, before) {
      unsent.delete(li);
      li.classList.remove('is-pending');
      li.dataset.seq = String(seq);
      bySeq.set(seq, li);
      let ref = before === null || before === undefined ? firstUnsent() : bySeq.get(before);
      if (ref === undefined) {
        // The next stored message is not drawn (an event shown to nobody):
        // the rare out-of-order case looks for the next drawn one.
        ref = firstUnsent();
        for (const n of list.children) {
          if (n.dataset.seq && Number(n.dataset.seq) > seq) { ref = n; break; }
        }
      }
      if (li.parentNode === list) li.remove();
      list.insertBefore(li, ref);
      regroup(li);
    },
    /** putUnsent appends an item that has no seq yet (a message being sent). */
    putUnsent(li) {
      unsent.add(li);
      list.append(li);
      regroup(li);
    },
    /** item answers the drawn item of a seq. */
    item(seq) { return bySeq.get(seq) || null; },
    /** remove takes an item out (a duplicate, or a retried send). */
    remove(li) {
      unsent.delete(li);
      if (li.dataset.seq && bySeq.get(Number(li.dataset.seq)) === li) bySeq.delete(Number(li.dataset.seq));
      const prev = li.previousElementSibling;
      const next = li.nextElementSibling;
      li.remove();
      if (prev) regroup(prev);
      if (next) regroup(next);
    },
    /** clear empties the list. */
    clear() {
      bySeq.clear();
      unsent.clear();
      list.replaceChildren();
    },
  };
}

// regroup marks runs of messages from one sender (data-sender) so only the
// first shows the name and avatar, and only the last the time.
export function regroup(li) {
  for (const n of [li.previousElementSibling, li, li.nextElementSibling]) {
    if (!n || !n.classList.contains('msg')) continue;
    const prev = n.previousElementSibling;
    const next = n.nextElementSibling;
    n.classList.toggle('run-first', !(prev && prev.classList.contains('msg') && prev.dataset.sender === n.dataset.sender));
    n.classList.toggle('run-last', !(next && next.classList.contains('msg') && next.dataset.sender === n.dataset.sender));
  }
}
