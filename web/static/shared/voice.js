// Voice legs in the browser: one RTCPeerConnection to contactd per call.
// The browser always offers and the server answers; ICE candidates trickle
// both ways over the protocol's WebSocket (type "ice"). A network change
// (ICE disconnected/failed, the browser coming back online) restarts ICE
// with a new offer on the same peer connection ("renew"), so the call
// keeps going. Used by the widget and the desk.

/** webrtcSupported says whether this browser can make calls at all. */
export function webrtcSupported() {
  return typeof globalThis.RTCPeerConnection === 'function' &&
    !!globalThis.navigator?.mediaDevices?.getUserMedia;
}

/**
 * getMicrophone asks for the microphone. Rejects with an Error whose
 * `reason` is 'denied' (the user or the page's policy said no), 'nodevice'
 * (no microphone), 'unsupported' (no WebRTC here) or 'failed'.
 */
export async function getMicrophone() {
  if (!webrtcSupported()) throw voiceError('unsupported');
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
  } catch (e) {
    const name = e?.name || '';
    if (name === 'NotAllowedError' || name === 'SecurityError') throw voiceError('denied', e);
    if (name === 'NotFoundError' || name === 'OverconstrainedError') throw voiceError('nodevice', e);
    throw voiceError('failed', e);
  }
}

function voiceError(reason, cause) {
  const e = new Error(`voice: ${reason}`);
  e.reason = reason;
  e.cause = cause;
  return e;
}

/**
 * VoiceLeg is this browser's side of one call.
 *
 * @param {object} o
 * @param {(sdp: string, renew: boolean) => Promise<{sdp: string}>} o.offer sends call_offer, resolves with the ack's result
 * @param {(candidate: object) => void} o.ice sends a local candidate
 * @param {object[]} [o.iceServers]
 * @param {(state: string) => void} [o.onState] 'connecting', 'connected', 'reconnecting', 'failed', 'closed'
 */
export class VoiceLeg {
  constructor(o) {
    this.o = o;
    this.pc = null;
    this.stream = null;
    this.remote = new MediaStream();
    this.audio = null;
    this.pending = []; // remote candidates before the answer
    this.haveAnswer = false;
    this.state = 'new';
    this.muted = false;
    this.restarting = false;
    this.closed = false;
    this.analyser = null;
    this.ctx = null;
    this.onOnline = () => this.#restartSoon(0);
  }

  /** start opens the peer connection with the microphone stream and makes the offer. */
  async start(stream) {
    this.stream = stream;
    const pc = new RTCPeerConnection({ iceServers: this.o.iceServers || [] });
    this.pc = pc;
    for (const tr of stream.getAudioTracks()) pc.addTrack(tr, stream);
    pc.ontrack = (ev) => {
      for (const tr of ev.streams[0]?.getTracks() || [ev.track]) this.remote.addTrack(tr);
      this.#play();
    };
    pc.onicecandidate = (ev) => {
      if (ev.candidate) this.o.ice(ev.candidate.toJSON());
    };
    pc.onconnectionstatechange = () => {
      switch (pc.connectionState) {
        case 'connected': this.restarting = false; this.#set('connected'); break;
        case 'disconnected': this.#set('reconnecting'); this.#restartSoon(2000); break;
        case 'failed': this.#set('reconnecting'); this.#restartSoon(0); break;
      }
    };
    globalThis.addEventListener?.('online', this.onOnline);
    this.#set('connecting');
    await this.#negotiate(false);
  }

  async #negotiate(renew) {
    const pc = this.pc;
    const offer = await pc.createOffer(renew ? { iceRestart: true } : {});
    await pc.setLocalDescription(offer);
    this.haveAnswer = false;
    const res = await this.o.offer(pc.localDescription.sdp, renew);
    if (this.closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
    this.haveAnswer = true;
    const queued = this.pending;
    this.pending = [];
    for (const c of queued) await this.#add(c);
  }

  #restartSoon(ms) {
    if (this.closed || this.restarting || !this.pc) return;
    this.restarting = true;
    setTimeout(async () => {
      if (this.closed) return;
      if (this.pc.connectionState === 'connected') { this.restarting = false; return; }
      try {
        await this.#negotiate(true);
      } catch {
        this.restarting = false;
        this.#set('failed');
      }
    }, ms);
  }

  /** addCandidate takes a candidate from the server; early ones wait for the answer. */
  async addCandidate(c) {
    if (!c || this.closed) return;
    if (!this.haveAnswer) { this.pending.push(c); return; }
    await this.#add(c);
  }

  async #add(c) {
    try { await this.pc.addIceCandidate(c); } catch (e) { console.warn('voice: candidate refused', e); }
  }

  #play() {
    if (this.audio) return;
    const a = new Audio();
    a.autoplay = true;
    a.srcObject = this.remote;
    this.audio = a;
    a.play?.().catch(() => { /* autoplay refused: the next user gesture plays */ });
  }

  /** resumeAudio retries playback after a user gesture (autoplay policies). */
  resumeAudio() { this.audio?.play?.().catch(() => {}); }

  #set(s) {
    if (this.state === s) return;
    this.state = s;
    this.o.onState?.(s);
  }

  /** setMuted stops sending the microphone (the track stays, so unmuting is instant). */
  setMuted(on) {
    this.muted = !!on;
    for (const tr of this.stream?.getAudioTracks() || []) tr.enabled = !this.muted;
  }

  /** setVolume sets how loud the other side plays here, 0..1. */
  setVolume(v) {
    if (this.audio) this.audio.volume = Math.max(0, Math.min(1, v));
    this.volume = v;
  }

  /** level is the microphone's input level now, 0..1 (for a meter). */
  level() {
    if (!this.stream) return 0;
    if (!this.analyser) {
      try {
        this.ctx = new AudioContext();
        const src = this.ctx.createMediaStreamSource(this.stream);
        this.analyser = this.ctx.createAnalyser();
        this.analyser.fftSize = 512;
        src.connect(this.analyser);
        this.buf = new Uint8Array(this.analyser.fftSize);
      } catch { return 0; }
    }
    this.analyser.getByteTimeDomainData(this.buf);
    let peak = 0;
    for (const b of this.buf) peak = Math.max(peak, Math.abs(b - 128));
    return this.muted ? 0 : Math.min(1, peak / 100);
  }

  /** stats returns audio byte counters: {inBytes, outBytes}. */
  async stats() {
    const out = { inBytes: 0, outBytes: 0, inPackets: 0 };
    if (!this.pc) return out;
    const rep = await this.pc.getStats();
    rep.forEach((s) => {
      if (s.kind !== 'audio') return;
      if (s.type === 'inbound-rtp') { out.inBytes += s.bytesReceived || 0; out.inPackets += s.packetsReceived || 0; }
      if (s.type === 'outbound-rtp') out.outBytes += s.bytesSent || 0;
    });
    return out;
  }

  /** close ends this side: the peer connection and the microphone. */
  close() {
    if (this.closed) return;
    this.closed = true;
    globalThis.removeEventListener?.('online', this.onOnline);
    try { this.pc?.close(); } catch { /* closed */ }
    for (const tr of this.stream?.getTracks() || []) tr.stop();
    if (this.audio) { this.audio.srcObject = null; this.audio = null; }
    this.ctx?.close?.().catch?.(() => {});
    this.#set('closed');
  }
}

/** formatDuration turns seconds into m:ss or h:mm:ss. */
export function formatDuration(sec) {
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const two = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}
