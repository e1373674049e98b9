package sip

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Request validation after parsing. sipgo v1.7.3 parses several messages
// that RFC 3261 and RFC 4475 say to refuse (a wrong SIP version, missing or
// repeated single-value headers, a CSeq method that is not the request's,
// a Content-Length that does not match the body, escaped headers in the
// Request-URI); Validator refuses them with the code the RFC gives, before
// any handler sees the request.
//
// What sipgo cannot parse at all it drops without an answer, and so do we:
// answering from raw bytes would mean trusting an unparsed Via to address
// the answer (or answering the packet's source, which a flood spoofs), for
// messages that RFC 4475 mostly allows to be discarded. Such datagrams are
// counted (cc_sip_dropped_total{reason="unparseable"}, via SafeLogger).

// knownMethods are the methods we recognise (RFC 3261 and extensions);
// another method is answered 501 Not Implemented.
var knownMethods = map[sip.RequestMethod]bool{
	sip.INVITE: true, sip.ACK: true, sip.CANCEL: true, sip.BYE: true, sip.REGISTER: true,
	sip.OPTIONS: true, sip.SUBSCRIBE: true, sip.NOTIFY: true, sip.REFER: true, sip.INFO: true,
	sip.MESSAGE: true, sip.PRACK: true, sip.UPDATE: true, sip.PUBLISH: true,
}

// singleHeaders may appear at most once in a request (RFC 3261 7.3.1 and
// 20; RFC 4475 3.3.8, 3.3.9).
var singleHeaders = []string{"To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length",
	"Content-Type", "Expires", "Min-Expires"}

// requiredHeaders must appear in every request (RFC 3261 8.1.1).
var requiredHeaders = []string{"To", "From", "Call-ID", "CSeq", "Via", "Max-Forwards"}

// Validator checks requests. The zero value supports no extensions.
type Validator struct {
	// Supported are the option tags we implement; a Require naming another
	// is answered 420 Bad Extension (RFC 3261 8.2.2.3).
	Supported []string
	// Allow is the value of the Allow header of a 501 answer.
	Allow string
	// Drops counts refused requests (may be nil).
	Drops *Drops
}

// Check validates req. It returns nil when req may proceed; otherwise the
// answer to send, or nil with drop true when nothing may be sent (an ACK
// is never answered).
func (v *Validator) Check(req *sip.Request) (res *sip.Response, drop bool) {
	// sipgo splits lines at CRLF only: a bare CR or LF stays inside a
	// header value, and an answer would copy it back out (From, To,
	// Call-ID, Via). Such a request cannot be answered safely.
	for _, h := range req.Headers() {
		if strings.ContainsAny(h.Value(), "\r\n") {
			v.Drops.Add(DropInvalid)
			return nil, true
		}
	}
	res = v.check(req)
	if res == nil {
		return nil, false
	}
	v.Drops.Add(DropInvalid)
	if req.IsAck() {
		return nil, true
	}
	// A response carries our version, never the request's (RFC 4475
	// 3.1.2.16: a 505 to SIP/7.0 is a SIP/2.0 message).
	res.SipVersion = "SIP/2.0"
	return res, false
}

func reply(req *sip.Request, code int, reason string) *sip.Response {
	return sip.NewResponseFromRequest(req, code, reason, nil)
}

func (v *Validator) check(req *sip.Request) *sip.Response {
	if req.SipVersion != "SIP/2.0" {
		return reply(req, 505, "Version Not Supported")
	}
	for _, name := range requiredHeaders {
		if len(req.GetHeaders(name)) == 0 {
			return reply(req, 400, "Bad Request: missing "+name)
		}
	}
	for _, name := range singleHeaders {
		if len(req.GetHeaders(name)) > 1 {
			return reply(req, 400, "Bad Request: several "+name)
		}
	}
	// Headers the caller copies into the answer are known good from here.
	if !knownMethods[req.Method] {
		res := reply(req, 501, "Not Implemented")
		if v.Allow != "" {
			res.AppendHeader(sip.NewHeader("Allow", v.Allow))
		}
		return res
	}
	cseq := req.CSeq()
	if !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return reply(req, 400, "Bad Request: CSeq method does not match")
	}
	if cseq.SeqNo >= 1<<31 {
		return reply(req, 400, "Bad Request: CSeq")
	}
	// Content-Length must match the body (over UDP, octets past it are
	// already cut off by the parser, RFC 3261 18.3).
	if hs := req.GetHeaders("Content-Length"); len(hs) == 1 {
		n, err := strconv.ParseUint(strings.TrimSpace(hs[0].Value()), 10, 32)
		if err != nil || int(n) != len(req.Body()) {
			return reply(req, 400, "Bad Request: Content-Length")
		}
	} else if len(req.Body()) > 0 && !strings.EqualFold(req.Transport(), "UDP") {
		return reply(req, 400, "Bad Request: missing Content-Length")
	}
	via := req.Via()
	if via == nil {
		return reply(req, 400, "Bad Request: Via")
	}
	if b, ok := via.Params.Get("branch"); ok && strings.EqualFold(b, "z9hG4bK") {
		// RFC 4475 3.2.1: the magic cookie alone identifies no transaction.
		return reply(req, 400, "Bad Request: Via branch")
	}
	u := req.Recipient
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips":
	case "tel":
		if req.Method == sip.REGISTER {
			return reply(req, 416, "Unsupported URI Scheme")
		}
	default:
		return reply(req, 416, "Unsupported URI Scheme")
	}
	if u.Headers != nil && u.Headers.Length() > 0 {
		// RFC 4475 3.1.2.11: headers have no place in a Request-URI.
		return reply(req, 400, "Bad Request: headers in Request-URI")
	}
	if require := optionTags(req, "Require"); len(require) > 0 && !req.IsCancel() {
		var unsupported []string
		for _, tag := range require {
			if !v.supports(tag) {
				unsupported = append(unsupported, tag)
			}
		}
		if len(unsupported) > 0 {
			res := reply(req, 420, "Bad Extension")
			res.AppendHeader(sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
			return res
		}
	}
	if req.IsInvite() {
		if len(req.Body()) > 0 {
			if ct := req.ContentType(); ct == nil || !strings.EqualFold(mediaType(ct.Value()), "application/sdp") {
				res := reply(req, 415, "Unsupported Media Type")
				res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
				return res
			}
		}
		if accepts := req.GetHeaders("Accept"); len(accepts) > 0 && !acceptsSDP(accepts) {
			res := reply(req, 406, "Not Acceptable")
			res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
			return res
		}
	}
	return nil
}

func (v *Validator) supports(tag string) bool {
	for _, s := range v.Supported {
		if strings.EqualFold(s, tag) {
			return true
		}
	}
	return false
}

// optionTags lists the comma-separated tokens of every name header.
func optionTags(req *sip.Request, name string) []string {
	var out []string
	for _, h := range req.GetHeaders(name) {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, CleanHeaderValue(t, 64))
			}
		}
	}
	return out
}

func mediaType(v string) string {
	t, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(t)
}

func acceptsSDP(hs []sip.Header) bool {
	for _, h := range hs {
		for t := range strings.SplitSeq(h.Value(), ",") {
			switch strings.ToLower(mediaType(t)) {
			case "application/sdp", "application/*", "*/*":
				return true
			}
		}
		if strings.TrimSpace(h.Value()) == "" {
			return true // an empty Accept: nothing said
		}
	}
	return false
}
