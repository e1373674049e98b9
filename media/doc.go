// Package media owns the voice legs of contactd: the server side of every
// browser's WebRTC connection, the bridges between legs, hold music and
// ringback. It knows nothing of SIP, of the browser protocol or of routing:
// the edges give it SDP and ICE candidates and tell it who hears whom.
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
// # The media path
//
// Each leg has one reader goroutine for the browser's audio: it reads
// decrypted RTP into a reused buffer, reads the header in place (no
// rtp.Packet, no allocation) and hands the payload to the leg that hears
// it, found through an atomic pointer. Writing happens on the reader's
// goroutine: the destination's outStream rewrites the header and gives
// header and payload straight to SRTP, which sends the datagram.
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
// per MediaTimeout, never by a timer per packet), when ICE fails
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
