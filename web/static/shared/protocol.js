// The browser side of docs/PROTOCOL.md, shared by the visitor widget and the
// agent desk: one WebSocket with the cc.v1 subprotocol, commands with ids and
// promises settled by their ack or error, an outbox re-sent with the same ids
// after a reconnect (the server never acts twice on one id), the last seq
// seen per conversation and a resume after every reconnect.
//
//   const client = new ProtocolClient({ url: () => wsURL('/ws') });
//   client.on('message', (m) => ...);
//   client.start();
//   const { seq } = await client.request('send', { text: 'Hi' });

/** ProtocolError is how a command fails: a server error code or a local one. */
export class ProtocolError extends Error {
  /**
   * @param {string} code server code (on_hold, too_long, ...) or a local one:
   *   timeout, closed, offline
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message || code);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/** Emitter is a tiny event emitter: on(type, fn) returns an unsubscribe. */
export class Emitter {
  #handlers = new Map();
  on(type, fn) {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }
  emit(type, payload) {
    for (const key of [type, '*']) {
      const set = this.#handlers.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(payload, type);
        } catch (e) {
          console.error(`contactd: handler for ${type} failed`, e);
        }
      }
    }
  }
}

/** wsURL makes the ws(s):// address of a path on this page's origin. */
export function wsURL(path, params) {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  return u.href;
}

/** newIdSource returns a function making command ids: a random prefix and a counter. */
export function newIdSource(prefix) {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  const p = prefix || Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  let n = 0;
  return () => `${p}-${(++n).toString(36)}`;
}

const STATUS = Object.freeze({
  idle: 'idle',
  connecting: 'connecting',
  open: 'open',
  reconnecting: 'reconnecting',
  closed: 'closed',
});
export { STATUS };

// Commands that are not kept in the outbox: typing has no reply, resume and
// history are re-derived from the seq cursors on every reconnect.
const FIRE_AND_FORGET = new Set(['typing', 'ice']);

/**
 * ProtocolClient keeps one connection alive and speaks protocol v1 over it.
 *
 * Events (client.on):
 *   'status'  {status, attempt, delay?}  connecting, open, reconnecting, closed
 *   'hello'   the hello message; 'synced' after a resume or history
 *   'outbox'  the outbox changed (for callers that persist it)
 *   'resume_failed' {error} the server refused the resume (the caller may
 *             fall back to history per conversation)
 *   'history_failed' {conversation, error}
 *   every server message type ('message', 'position', 'offer', ...), and '*'
 */
export class ProtocolClient extends Emitter {
  /**
   * @param {object} o
   * @param {() => string} o.url the ws(s) URL, asked again before each attempt
   * @param {string} [o.protocol] subprotocol, cc.v1
   * @param {number[]} [o.backoff] delays between attempts in ms
   * @param {number} [o.staleAfter] ms without a reply to a sent command
   *   before the connection is taken for dead and replaced
   * @param {number} [o.timeout] default ms before a command's promise
   *   rejects with 'timeout' (0: never; the command stays queued)
   * @param {typeof WebSocket} [o.WebSocket] for tests
   * @param {() => string} [o.newId]
   */
  constructor(o) {
    super();
    this.url = o.url;
    this.protocol = o.protocol ?? 'cc.v1';
    this.backoff = o.backoff ?? [1000, 2000, 5000, 10000];
    this.staleAfter = o.staleAfter ?? 15000;
    this.defaultTimeout = o.timeout ?? 20000;
    this.WS = o.WebSocket ?? globalThis.WebSocket;
    this.newId = o.newId ?? newIdSource();
    this.status = STATUS.idle;
    /** Highest seq seen per conversation. */
    this.lastSeq = new Map();
    /** Conversations whose history was asked for and has not synced: conversation -> after. */
    this.pendingHistory = new Map();
    /** The role from the last hello: visitor or agent. */
    this.role = '';
    this.hello = null;
    this.attempt = 0;
    /** @type {Map<string, {id:string,type:string,fields:object,resolve:Function,reject:Function,sentAt:number,timer:any,tries:number}>} */
    this.outbox = new Map();
    this.ws = null;
    this.retryTimer = null;
    this.staleTimer = null;
    this.resumeId = '';
    /** Ids of history commands in flight: id -> conversation. */
    this.historyIds = new Map();
    this.stopped = true;
    this.onOnline = () => {
      if (this.status === STATUS.reconnecting) this.#connectNow();
    };
  }

  /** start opens the connection and keeps it open until stop. */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    globalThis.addEventListener?.('online', this.onOnline);
    this.#connectNow();
  }

  /** stop closes the connection and rejects every queued command with 'closed'. */
  stop() {
    this.stopped = true;
    globalThis.removeEventListener?.('online', this.onOnline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.staleTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(1000, 'bye'); } catch { /* already closed */ }
    }
    for (const item of this.outbox.values()) {
      clearTimeout(item.timer);
      item.reject(new ProtocolError('closed', 'The connection was closed.'));
    }
    this.outbox.clear();
    this.emit('outbox', []);
    this.#setStatus(STATUS.closed);
  }

  /** isOpen says whether the socket is up and the hello arrived. */
  get isOpen() {
    return this.status === STATUS.open;
  }

  /**
   * request sends a command and settles with its ack's result or its error.
   * The command stays queued across reconnects and is re-sent with the same
   * id until it gets a reply or times out.
   * @param {string} type
   * @param {object} [fields]
   * @param {{timeout?: number, id?: string}} [opts] timeout in ms (0: never);
   *   id to re-send a command that timed out before (the server answers a
   *   repeated id with its first result)
   * @returns {Promise<object>}
   */
  request(type, fields = {}, opts = {}) {
    const id = opts.id || this.newId();
    const existing = this.outbox.get(id);
    if (existing) return existing.promise;
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    const item = { id, type, fields, resolve, reject, promise, sentAt: 0, timer: null, tries: 0 };
    const timeout = opts.timeout ?? this.defaultTimeout;
    if (timeout > 0) {
      item.timer = setTimeout(() => {
        if (!this.outbox.has(id)) return;
        this.outbox.delete(id);
        this.emit('outbox', this.pendingCommands());
        reject(new ProtocolError('timeout', 'No answer from the server.'));
      }, timeout);
    }
    this.outbox.set(id, item);
    this.emit('outbox', this.pendingCommands());
    if (this.isOpen) this.#transmit(item);
    return promise;
  }

  /** notify sends a command that has no reply (typing), only while connected. */
  notify(type, fields = {}) {
    if (!this.isOpen || !FIRE_AND_FORGET.has(type)) return false;
    // The id is harmless where the server does not want one and present where it does.
    return this.#write({ type, id: this.newId(), ...fields });
  }

  /**
   * history asks for the messages of a conversation after a seq. Until the
   * server answers with synced, a reconnect resumes it from the same point.
   */
  history(conversation, after = 0) {
    this.pendingHistory.set(conversation, after);
    if (!this.isOpen) return;
    const id = this.newId();
    this.historyIds.set(id, conversation);
    this.#write({ type: 'history', id, conversation, after });
  }

  /** follow makes a conversation part of the resume after every reconnect. */
  follow(conversation, seq = 0) {
    if (!this.lastSeq.has(conversation)) this.lastSeq.set(conversation, seq);
  }

  /** forget drops a conversation from the resume. */
  forget(conversation) {
    this.lastSeq.delete(conversation);
    this.pendingHistory.delete(conversation);
  }

  /** pendingCommands lists queued commands as {id, type, fields} (to persist them). */
  pendingCommands() {
    return [...this.outbox.values()].map(({ id, type, fields }) => ({ id, type, fields }));
  }

  /** restore queues commands saved by pendingCommands; returns their promises by id. */
  restore(commands, opts = {}) {
    const out = new Map();
    for (const c of commands || []) {
      if (c && typeof c.id === 'string' && typeof c.type === 'string') {
        out.set(c.id, this.request(c.type, c.fields || {}, { ...opts, id: c.id }));
      }
    }
    return out;
  }

  /** reconnect drops the socket and connects again at once (keeping the outbox). */
  reconnect() {
    if (this.stopped) return;
    this.attempt = 0;
    if (this.ws) this.ws.close(4000, 'reconnect');
    else this.#connectNow();
  }

  // --- internals ---

  #setStatus(status, extra = {}) {
    this.status = status;
    this.emit('status', { status, attempt: this.attempt, ...extra });
  }

  #connectNow() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    this.#setStatus(this.attempt === 0 && !this.hello ? STATUS.connecting : STATUS.reconnecting);
    let ws;
    try {
      ws = new this.WS(this.url(), this.protocol);
    } catch (e) {
      console.error('contactd: cannot open the WebSocket', e);
      this.#scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.#onFrame(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.staleTimer);
      this.lastClose = { code: ev.code, reason: ev.reason };
      if (!this.stopped) this.#scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  #scheduleRetry() {
    const delay = this.backoff[Math.min(this.attempt, this.backoff.length - 1)];
    this.attempt++;
    this.#setStatus(STATUS.reconnecting, { delay, close: this.lastClose });
    this.retryTimer = setTimeout(() => this.#connectNow(), delay);
  }

  #write(obj) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    try {
      this.ws.send(JSON.stringify(obj));
      return true;
    } catch {
      return false;
    }
  }

  #transmit(item) {
    item.sentAt = Date.now();
    item.tries++;
    this.#write({ type: item.type, id: item.id, ...item.fields });
    this.#armStale();
  }

  // A command without a reply for staleAfter means the socket is dead in a
  // way the browser has not noticed: replace it; the outbox is re-sent.
  #armStale() {
    if (this.staleTimer || !this.staleAfter) return;
    this.staleTimer = setTimeout(() => {
      this.staleTimer = null;
      if (!this.isOpen) return;
      const now = Date.now();
      const oldest = Math.min(...[...this.outbox.values()].filter((i) => i.sentAt).map((i) => i.sentAt));
      if (Number.isFinite(oldest) && now - oldest >= this.staleAfter) {
        console.warn('contactd: no reply from the server; reconnecting');
        this.ws?.close(4000, 'stale');
      } else if (Number.isFinite(oldest)) {
        this.#armStale();
      }
    }, this.staleAfter);
  }

  #onFrame(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('contactd: a frame that is not JSON was ignored');
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    switch (msg.type) {
      case 'hello':
        return this.#onHello(msg);
      case 'ack':
      case 'error':
        if (this.#onReply(msg)) return;
        break;
      case 'message':
        if (msg.conversation && Number.isFinite(msg.seq)) {
          if (msg.seq > (this.lastSeq.get(msg.conversation) ?? 0)) this.lastSeq.set(msg.conversation, msg.seq);
        }
        break;
      case 'synced':
        for (const [conv, seq] of Object.entries(msg.conversations || {})) {
          this.pendingHistory.delete(conv);
          if (Number.isFinite(seq) && seq > (this.lastSeq.get(conv) ?? 0)) this.lastSeq.set(conv, seq);
        }
        break;
    }
    this.emit(msg.type, msg);
  }

  #onHello(msg) {
    this.hello = msg;
    this.role = msg.role || '';
    this.historyIds.clear();
    this.attempt = 0;
    if (msg.role === 'visitor' && msg.conversation) this.follow(msg.conversation, 0);
    this.#setStatus(STATUS.open);
    this.emit('hello', msg);
    this.#resume();
    // Re-send what was not answered, in the order it was first sent.
    for (const item of this.outbox.values()) this.#transmit(item);
  }

  #resume() {
    const convs = {};
    for (const [conv, seq] of this.lastSeq) convs[conv] = seq;
    for (const [conv, after] of this.pendingHistory) convs[conv] = Math.min(after, convs[conv] ?? after);
    const keys = Object.keys(convs);
    if (keys.length === 0) return;
    this.resumeId = this.newId();
    if (this.role === 'visitor' && keys.length === 1) {
      this.#write({ type: 'resume', id: this.resumeId, after: convs[keys[0]] });
    } else {
      this.#write({ type: 'resume', id: this.resumeId, conversations: convs });
    }
  }

  // #onReply settles a queued command; false when the id is not ours.
  #onReply(msg) {
    if (msg.id && msg.id === this.resumeId) {
      if (msg.type === 'error') this.emit('resume_failed', { error: new ProtocolError(msg.code, msg.message) });
      return true;
    }
    if (msg.id && this.historyIds.has(msg.id)) {
      const conversation = this.historyIds.get(msg.id);
      this.historyIds.delete(msg.id);
      if (msg.type === 'error') {
        this.pendingHistory.delete(conversation);
        this.emit('history_failed', { conversation, error: new ProtocolError(msg.code, msg.message) });
      }
      return true;
    }
    const item = msg.id ? this.outbox.get(msg.id) : null;
    if (!item) return false;
    if (msg.type === 'error' && msg.code === 'rate_limited' && item.tries < 5) {
      // Nothing happened on the server: the same id goes again a little later.
      setTimeout(() => { if (this.outbox.has(item.id) && this.isOpen) this.#transmit(item); }, 1000 * item.tries);
      return true;
    }
    this.outbox.delete(item.id);
    clearTimeout(item.timer);
    this.emit('outbox', this.pendingCommands());
    if (msg.type === 'ack') item.resolve(msg.result ?? {});
    else item.reject(new ProtocolError(msg.code || 'internal', msg.message));
    return true;
  }
}
