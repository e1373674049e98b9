// Self-check for voice.js with a fake RTCPeerConnection.
// Run with: node web/static/shared/voice.test.mjs
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

const pcs = [];
class FakePC {
  constructor(cfg) { this.cfg = cfg; this.added = []; this.remote = null; this.closed = false; this.connectionState = 'new'; this.offers = []; pcs.push(this); }
  addTrack() {}
  async createOffer(o) { this.offers.push(o || {}); return { type: 'offer', sdp: `offer-${this.offers.length}` }; }
  async setLocalDescription(d) { this.localDescription = d; }
  async setRemoteDescription(d) { this.remote = d; }
  async addIceCandidate(c) { if (!this.remote) throw new Error('no remote description'); this.added.push(c); }
  async getStats() {
    return new Map([['a', { type: 'inbound-rtp', kind: 'audio', bytesReceived: 480, packetsReceived: 3 }], ['b', { type: 'outbound-rtp', kind: 'audio', bytesSent: 320 }]]);
  }
  close() { this.closed = true; }
}
class FakeTrack { constructor() { this.enabled = true; this.stopped = false; } stop() { this.stopped = true; } }
class FakeStream {
  constructor() { this.tracks = [new FakeTrack()]; }
  getAudioTracks() { return this.tracks; }
  getTracks() { return this.tracks; }
  addTrack(t) { this.tracks.push(t); }
}
globalThis.RTCPeerConnection = FakePC;
globalThis.MediaStream = FakeStream;

const { VoiceLeg, formatDuration, webrtcSupported, getMicrophone } = await import('./voice.js');

check('formatDuration m:ss', formatDuration(65), '1:05');
check('formatDuration h:mm:ss', formatDuration(3725), '1:02:05');
check('formatDuration negative', formatDuration(-3), '0:00');
check('no getUserMedia: unsupported', webrtcSupported(), false);
try {
  await getMicrophone();
  check('getMicrophone without WebRTC rejects', true, false);
} catch (e) {
  check('getMicrophone without WebRTC: reason', e.reason, 'unsupported');
}

// Candidates from the server that arrive before the answer wait for it.
let answer;
const offers = [];
const states = [];
const leg = new VoiceLeg({
  offer: (sdp, renew) => { offers.push({ sdp, renew }); return new Promise((r) => { answer = r; }); },
  ice: () => {},
  onState: (s) => states.push(s),
});
const mic = new FakeStream();
const started = leg.start(mic);
await tick();
leg.addCandidate({ candidate: 'candidate:1 1 udp 1 127.0.0.1 40000 typ host' });
check('early candidate buffered', pcs[0].added.length, 0);
answer({ sdp: 'answer-1' });
await started;
check('buffered candidate applied after the answer', pcs[0].added.length, 1);
check('first offer is not a renewal', offers[0], { sdp: 'offer-1', renew: false });
await leg.addCandidate({ candidate: 'candidate:2 1 udp 1 127.0.0.1 40000 typ host' });
check('later candidate applied at once', pcs[0].added.length, 2);

// Mute disables the microphone track without removing it.
leg.setMuted(true);
check('muted track disabled', mic.tracks[0].enabled, false);
leg.setMuted(false);
check('unmuted track enabled', mic.tracks[0].enabled, true);

check('stats', await leg.stats(), { inBytes: 480, outBytes: 320, inPackets: 3 });

// A failed connection restarts ICE on the same peer connection (renew).
pcs[0].connectionState = 'failed';
pcs[0].onconnectionstatechange();
await tick(5);
answer({ sdp: 'answer-2' });
await tick(5);
check('ICE restart offer', pcs[0].offers[1], { iceRestart: true });
check('restart sent as renew', offers[1], { sdp: 'offer-2', renew: true });
check('one peer connection for the call', pcs.length, 1);

leg.close();
check('closed: microphone stopped', mic.tracks[0].stopped, true);
check('closed: peer connection closed', pcs[0].closed, true);
check('states', states, ['connecting', 'reconnecting', 'closed']);

if (failures) {
  console.error(`${failures} of ${count} checks failed`);
  process.exit(1);
}
console.log(`voice.js: ${count} checks passed`);
