package media

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is), with the context around it:
// fmt.Errorf("media: ...: %w", ErrBadSDP).
var (
	// ErrBadSDP: the offer (or answer) is not a session description we can
	// parse, or it lacks something its kind of leg requires: for WebRTC ICE
	// credentials, a DTLS fingerprint, mid, BUNDLE; for RTP a connection
	// address and an audio port.
	ErrBadSDP = errors.New("malformed session description")

	// ErrNoCommonCodec: the offer has no audio section that offers the
	// engine's codec (PCMU or PCMA); for an RTP leg, over RTP/AVP. A SIP
	// edge answers it with 488.
	ErrNoCommonCodec = errors.New("no common audio codec")

	// ErrBadCandidate: a remote ICE candidate does not parse.
	ErrBadCandidate = errors.New("malformed ICE candidate")

	// ErrTooManyCandidates: more remote candidates arrived before the offer
	// than a leg buffers.
	ErrTooManyCandidates = errors.New("too many ICE candidates before the offer")

	// ErrOfferPending: an offer arrived while the leg was still answering
	// the previous one. The browser never does this (it waits for the
	// answer); the edge can answer it as glare.
	ErrOfferPending = errors.New("an offer is already being handled")

	// ErrClosed: the leg (or the engine) has ended.
	ErrClosed = errors.New("closed")

	// ErrDuplicateLeg: NewLeg was given the id of a leg that is still open.
	ErrDuplicateLeg = errors.New("a leg with this id is open")

	// ErrNoPorts: every RTP port pair of the configured range is in use or
	// in quarantine (a SIP edge answers 503).
	ErrNoPorts = errors.New("no free RTP port")

	// ErrLegKind: a method of one kind of leg was called on the other (an
	// RTP offer on a WebRTC leg, an ICE candidate on an RTP leg).
	ErrLegKind = errors.New("not supported by this kind of leg")

	// ErrNoDTMF: SendDTMF on a leg whose peer did not negotiate
	// telephone-event (or on a WebRTC leg).
	ErrNoDTMF = errors.New("the peer takes no telephone-event")

	// ErrBadDTMF: SendDTMF was given something other than 0-9, *, #, A-D,
	// or more digits than a leg queues.
	ErrBadDTMF = errors.New("invalid DTMF digits")

	// ErrConfig: the engine configuration is invalid.
	ErrConfig = errors.New("invalid configuration")
)
