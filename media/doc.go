// Package media will own voice legs: WebRTC peer connections (pion) and
// plain RTP for SIP, the bridge between two legs, hold music and tones. It
// knows nothing of SIP or of the browser protocol. It lands with the voice
// milestone.
package media
