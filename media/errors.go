package media

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is), with the context around it:
// fmt.Errorf("media: ...: %w", ErrBadSDP).
var (
	// ErrBadSDP: the offer is not a session description we can parse, or it
	// lacks something WebRTC requires (ICE credentials, DTLS fingerprint,
	// mid, BUNDLE).
	ErrBadSDP = errors.New("malformed session description")

	// ErrNoCommonCodec: the offer has no audio section that offers the
	// engine's codec (PCMU or PCMA).
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

	// ErrConfig: the engine configuration is invalid.
	ErrConfig = errors.New("invalid configuration")
)
