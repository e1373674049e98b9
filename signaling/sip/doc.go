// Package sip is contactd's SIP edge: phone calls from SIP trunks land in
// the same queues as web visitors, as one more kind of voice leg under the
// same call plan (docs/CALLS.md).
//
// It is built on sipgo (github.com/emiago/sipgo): one UserAgent serves
// requests and sends ours (BYE). We open the sockets ourselves (Start) so
// tests bind 127.0.0.1:0, keep our own dialog registry (dialogs.go; an
// entry goes when its dialog's context ends), and split each call into the
// SIP dialog (dialog) and the call object (inboundCall, call.go). Every
// handler runs under recover: a panic answers 500 and is logged and
// counted, never taking the process down.
//
// # Seams for the registrar, flood control and validation
//
// Hooks (passed to New) are where the rest of the SIP hardening plugs in
// without touching the dialog and call code:
//
//   - Hooks.WrapPacketConn and Hooks.WrapListener wrap every UDP socket
//     and TCP listener before sipgo reads from them: flood control per
//     source address, oversized datagram drops, raw-byte checks. A wrapper
//     may drop a datagram (read the next one instead) or close a
//     connection.
//   - Hooks.Validate runs on every request after parsing and before
//     dispatch (OPTIONS, REGISTER and ACK included). It returns 0 to go on,
//     a SIP status (400, 413, 414, 416, 420, 505, ...) to answer with it
//     and stop, or Drop to stop without answering. Its reason phrase comes
//     from sip.StatusText-like defaults (statusReason).
//   - Hooks.Register handles REGISTER. Without it REGISTER is answered
//     403 Forbidden (no registrar here).
//   - Hooks.Devices answers "is this source address a registered device,
//     and whose". Today an INVITE from a registered device is answered
//     501 (agent phones calling in come later), and such a source is not
//     "unknown" for DropUnknown.
//   - Hooks.DTMF receives the digits a caller presses outside a menu.
//
// # While a caller waits
//
// A number's menu (Number.Menu, menu.go) answers at once and picks the
// queue by the key pressed. In the queue, the caller's leg hears what the
// call plan says (ringback, music) and, every Config.AnnounceInterval, an
// announcement of its position and estimated wait (announce.go) fed by
// routing's Position effects (Edge.Position). With the number's
// MessageKey the caller may leave a voice message instead (voicemail.go):
// recorded on the leg the call let go, stored by Calls.LeaveMessage.
//
// # Admission of an INVITE
//
// In order: Validate; the source address must be one of a trunk's
// sources or a registered device (else 403 Forbidden, or no answer at all
// with DropUnknown); the dialled number (Request-URI user, else To user)
// must be one of the trunk's numbers (else 404 Not Found); the body must
// be an SDP offer (else 488; offerless INVITEs are not supported).
//
// # Agents' phones
//
// agentphone.go rings agents' registered phones for routing's voice offers
// (RingAgent, StopRinging, AgentAssigned; AgentPhones is the contact
// center's side): the edge is then the UAC of an INVITE per contact, the
// first 2xx wins, the rest are CANCELled. Those dialogs are sipgo
// DialogClientSessions, found for in-dialog requests (BYE, re-INVITE,
// REFER) by their dialog id before the inbound registry is asked.
//
// # Calls we place
//
// Edge.Dial (outbound.go) places a click-to-call call through a trunk
// with outbound settings (Trunk.Host, OutboundProxy as a preloaded Route,
// Transport): the number must be E.164 and covered by the trunk's
// DialAllow without being premium-rate (numbers.go: NormalizeNumber,
// CheckDestination), the caller ID a number; nothing is sent otherwise.
// The RTP leg's offer goes in the INVITE, a 401/407 is answered with the
// trunk's Username/Password (sipgo's DialogUA and WaitAnswer), a 183 with
// SDP is early media, the leg is reported up at the 200. The answered
// call's dialog is in the same registry as inbound ones (the callee's BYE,
// our BYE from the leg's Close, shutdown).
//
// # Metrics
//
// cc_sip_requests_total{method,outcome}: requests by method (INVITE, ACK,
// BYE, CANCEL, OPTIONS, REGISTER, other) and the class of our final answer
// (2xx, 3xx, 4xx, 5xx, 6xx; dropped: not answered on purpose; none: ACK
// and requests answered by nobody). cc_sip_requests_sent_total{method,
// outcome}: the requests of the calls we place by click-to-call (INVITE by
// the class of its final answer, cancelled, timeout, failed; BYE sent).
// cc_sip_calls_active{direction}: calls with a dialog (early or
// confirmed), inbound (from trunks) or outbound (to agents' phones, from
// the first INVITE until the call or the ringing ends; click-to-call, from
// the INVITE until the call ends). cc_sip_announcements_total,
// cc_sip_menu_choices_total{how} (key, timeout),
// cc_sip_voice_messages_total. cc_rtp_leg_loss_ratio and
// cc_rtp_leg_jitter_seconds: a phone leg's received packet loss and
// interarrival jitter, observed when it ends.
package sip
