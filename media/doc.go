// Package media owns the voice legs of contactd: the server side of every
// browser's WebRTC connection and of every SIP call's plain RTP, the
// bridges between legs, hold music, ringback and prompts. It knows nothing
// of SIP, of the browser protocol or of routing: the edges give it SDP and
// ICE candidates and tell it who hears whom.
//
// # Legs
//
// Every voice leg ends at the server; two parties talk through a bridge
// of two legs, never browser to browser. A Leg is one pion PeerConnection
// with one sendrecv audio transceiver. The browser always offers and the
// engine always answers (Leg.HandleOffer), for the first offer as for
// renegotiation and ICE restart; the leg keeps its bridge, its outgoing
// stream and its SSRC across them. The answer carries the server's
// candidates: on the UDP mux, with no STUN server, gathering is immediate,
// so LegHandler.OnCandidate is rarely called (never for a candidate that
// was in the answer). The browser's candidates (Leg.AddCandidate) are kept
// while no offer has been applied and applied after it.
//
// All legs share one UDP socket (Config.ListenAddr) through pion's ICE UDP
// mux, which tells legs apart by ICE username and then by the browser's
// address. A datagram from an address no leg has verified is dropped by
// the mux unless it is a STUN request, which the leg's ICE agent refuses
// without the leg's password; from a verified address, anything that is
// not authenticated SRTP is dropped. Before the mux, each source address
// may send 500 datagrams a second (a browser sends about 55); the rest are
// dropped unread, so a peer that floods its own connection cannot grow
// pion's queues, which have no bound. Config.PublicIPs replaces the local
// addresses in the candidates (1:1 NAT); mDNS is off; loopback candidates
// are announced when the socket is on a loopback address (tests).
//
// Only the configured codec (PCMU by default, or PCMA) is registered, so
// every leg speaks it and a bridge never transcodes. There are no pion
// interceptors (NACK, RTCP reports, congestion control buy nothing for
// G.711) and incoming RTCP is dropped as it arrives (pion's BufferFactory):
// nothing reads it, and buffering it would only grow memory.
//
// # RTP legs
//
// A leg is of one of two kinds (Leg.Kind): a WebRTC leg (NewLeg, above)
// or a plain RTP/AVP leg (Engine.NewRTPLeg) for SIP, with no ICE, DTLS or
// SRTP. Bridge, Play, PlayClip, SetOutputGain, Record, Close, the media
// timeout and the LegHandler callbacks work the same whatever the kinds of
// the legs; a bridge between a browser and a phone passes the payload
// bytes unchanged, since both speak the engine's one codec.
//
// NewRTPLeg binds a port pair from Config.RTPPortMin-RTPPortMax on
// Config.RTPAddr: RTP on an even port, RTCP on the one above. Pairs are
// taken round-robin from a random first pair (a restarted engine does not
// reuse at once the ports its predecessor released); a pair that closed stays unused for
// Config.RTPQuarantine (10 s), so the late packets of an old call drain
// instead of reaching a new one; a pair another process holds is skipped.
// A full range is ErrNoPorts.
//
// Negotiation takes SDP strings, as for browsers. When the peer offers (an
// INVITE, a re-INVITE), HandleRTPOffer returns the answer; when the engine
// offers (an outbound INVITE, or the 200 to an INVITE without SDP),
// RTPOffer makes the offer and HandleRTPAnswer takes the answer. The offer
// is the engine's codec (PCMU/8000 on 0 or PCMA/8000 on 8),
// telephone-event/8000 on 101 (a=fmtp:101 0-16), a=ptime:20, a=rtcp and
// a=sendrecv, with Config.RTPPublicIP (or RTPAddr) in the c= line. An
// answer uses the offer's payload type numbers (a dynamic number for the
// codec or for telephone-event is fine), takes the first RTP/AVP audio
// section with the codec and rejects every other section (port 0). No
// such section is ErrNoCommonCodec (a SIP edge answers 488); a description
// that does not parse, lacks a connection address or uses a host name or
// a multicast address is ErrBadSDP. A failed offer leaves the leg's
// session as it was.
//
// An answer mirrors the offer's direction: sendonly is answered recvonly,
// inactive inactive, recvonly sendonly. An offer with c=0.0.0.0 (RFC 2543
// hold) counts as sendonly (recvonly as inactive). Leg.RemoteDirection
// reports the peer's last direction, which a SIP edge reads as hold
// (SendOnly, Inactive). While the peer does not receive, the leg sends
// nothing; while the peer's direction is anything but sendrecv, the media
// timeout is suspended (a phone on hold may send nothing at all, RTCP
// included), and it starts again from the re-INVITE that resumes.
//
// # Addresses of RTP legs
//
// Before any description, everything that arrives is dropped. With
// symmetric RTP (the default; Config.DisableSymmetricRTP turns it off) the
// leg sends to the description's address until the first packet arrives
// that is RTP in a negotiated payload type, and then to that packet's
// source (a phone behind NAT): it latches. Once latched, packets from any
// other source are dropped, except from the description's own address,
// which takes the latch over. A new description with another address
// starts over. Without symmetric RTP, only packets from the description's
// address are taken. RTCP is read from the description's RTCP address
// (a=rtcp, or the RTP port + 1); with symmetric RTP, when RTP latched on
// another address than the description's (a NAT), also from the first
// source on the latched host, which then receives the leg's RTCP.
//
// Each socket drops datagrams larger than 1500 bytes, datagrams that are
// not RTP version 2 in a negotiated payload type, and, per source address,
// what passes 500 datagrams a second (the same guard as the WebRTC
// socket's, tracking 64 sources per socket one by one and the rest in one
// shared budget, so a spray from many ports cannot grow a leg's memory).
// Nothing is logged per packet; LegStats counts what was dropped
// (PacketsDropped) and throttled (Throttled).
//
// Each RTP leg has two goroutines, one reader per socket; Close closes the
// sockets and waits for both.
//
// # DTMF, prompts, recording
//
// RFC 4733 telephone-events from the peer of an RTP leg are reported by
// LegHandler.OnDTMF, once per event (the first packet with a new
// timestamp; its updates, its three end packets and late packets of an
// earlier event are not reported again). They are not forwarded to the
// bridged leg. Leg.SendDTMF sends digits the other way on the engine
// clock: a 100 ms event (packets every 20 ms, the end packet three times),
// 60 ms of pause, the next digit; the leg's own audio is held back
// meanwhile and resumes as a new talkspurt. It needs the peer to have
// negotiated telephone-event (ErrNoDTMF).
//
// Engine.NewClip encodes a prompt (8 kHz linear samples) once in the
// engine's codec; Leg.PlayClip plays it once and then a Sound (music,
// ringback or silence), on the same clock and stream as Play. Leg.Record
// writes what a leg receives, decoded to 16-bit little-endian 8 kHz PCM,
// on a goroutine of the recording (voicemail), for either kind of leg.
//
// # RTCP
//
// Every RTP leg sends a compound RTCP packet about every 5 s (on the
// watchdog's tick of the engine clock): a sender report (a receiver report before it has sent RTP) with
// one report block about what it receives (loss, RFC 3550 interarrival
// jitter, LSR/DLSR), and an SDES CNAME. The peer's reports are read for
// the block about the leg's own stream (LegStats.RemoteFractionLost,
// RemotePacketsLost, RemoteJitter) and for the LSR of its sender reports;
// nothing else is kept, so RTCP never grows memory. LegStats.PacketsLost
// and Jitter are measured on what the leg receives, for both kinds of leg.
//
// # The media path
//
// Each leg has one reader goroutine for the browser's audio: it reads
// decrypted RTP into a reused buffer, reads the header in place (no
// rtp.Packet, no allocation) and hands the payload to the leg that hears
// it, found through an atomic pointer. Writing happens on the reader's
// goroutine: the destination's outStream rewrites the header and gives
// header and payload straight to SRTP, which sends the datagram. An RTP
// leg's reader is the reader of its RTP socket, with the same path after
// its checks; to an RTP leg, the header and payload are written into one
// buffer and sent as one datagram to the peer's address.
//
// Who hears whom changes under one engine mutex (Bridge, Play, Close): a
// bridge is symmetric, and a leg hears exactly one source: its partner, a
// sound, or nothing. Bridge(a, b) unhooks both legs from their former
// partners (who then hear nothing) and stops their sounds; Play(s) unhooks
// the leg from its partner both ways. The edges build hold, resume and
// transfer from these two calls: hold is Play(SoundMusic) on the held leg,
// resume and transfer are Bridge.
//
// # Sequence numbers and timestamps
//
// Each leg sends one continuous RTP stream: its own SSRC (fixed by the
// answer), its own sequence numbers and timestamps. What it hears comes in
// segments, one per change of source (partner, music, new partner). The
// first packet of a segment takes the next sequence number and a
// timestamp advanced by the time since the last packet sent (at least one
// packet's worth), and carries the marker bit, so the browser's jitter
// buffer sees a talkspurt start, not a jump. Within a segment, the source's
// own steps are kept, gaps and reordering included. With gain 1 the
// payload bytes pass through unchanged.
//
// Leg.SetOutputGain scales what a leg hears: a 256-byte table per gain maps
// each G.711 code to the code of the decoded sample multiplied and clamped,
// so a gain costs one look-up per byte and no floating point per packet.
//
// # Sounds and pacing
//
// Hold music (an original melody over C-Am-F-G, about 20 s) and ringback
// (440 + 480 Hz, two seconds on, four off) are synthesized at New and
// encoded once in the engine's codec. One clock goroutine per engine sends
// them: while any leg plays a sound it ticks every 20 ms and sends each
// playing leg the frames due since its Play (frame n at n×20 ms), so a
// late tick catches up (up to a second's worth of frames at once) instead
// of slowing the sound down; with nothing playing it does not tick.
//
// # Ending
//
// A leg ends by itself when it has received no RTP for Config.MediaTimeout
// (cause "media_timeout", checked by the same clock goroutine a few times
// per MediaTimeout, never by a timer per packet; for an RTP leg counted
// from its first description and suspended while the peer's direction is
// not sendrecv), when ICE fails
// ("ice_failed": no packet or consent check from the browser for three
// quarters of MediaTimeout, at most 15 s, or no connection that long after
// the offer), when DTLS fails ("dtls_failed"), or when the browser closes
// the connection ("peer_closed"). OnEnded then reports the cause, after the
// leg's resources are freed, and never after Close; Leg.Context is
// cancelled either way, with the cause. Leg.Close and Engine.Close free
// everything: every goroutine of a leg ends (pion's through GracefulClose).
//
// Callbacks of a leg run one at a time on a goroutine of the leg, never on
// a pion goroutine (pion's callbacks only queue events), so a slow handler
// never stalls pion and a handler may call the leg's methods.
package media
