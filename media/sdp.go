package media

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds an offer. Browsers send a few kilobytes.
const maxSDPSize = 64 << 10

// checkOffer parses an offer and checks, before pion sees it, what would
// otherwise fail half-way through SetRemoteDescription or produce an answer
// without audio: the description parses, every section has a mid, ICE
// credentials and a DTLS fingerprint are present (in the section or the
// session), and some audio section offers the engine's codec.
func checkOffer(offer string, law *codecLaw) error {
	if len(offer) > maxSDPSize {
		return fmt.Errorf("offer of %d bytes (at most %d): %w", len(offer), maxSDPSize, ErrBadSDP)
	}
	if strings.TrimSpace(offer) == "" {
		return fmt.Errorf("empty offer: %w", ErrBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("offer: %v: %w", err, ErrBadSDP)
	}
	if len(sd.MediaDescriptions) == 0 {
		return fmt.Errorf("offer has no media section: %w", ErrNoCommonCodec)
	}
	_, sessUfrag := sd.Attribute("ice-ufrag")
	_, sessPwd := sd.Attribute("ice-pwd")
	_, sessFP := sd.Attribute("fingerprint")
	audio, codec, active := false, false, false
	for i, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute("mid"); !ok {
			return fmt.Errorf("offer section %d has no mid: %w", i, ErrBadSDP)
		}
		if md.MediaName.Port.Value == 0 {
			continue // rejected or stopped section
		}
		if _, ok := md.Attribute("ice-ufrag"); !ok && !sessUfrag {
			return fmt.Errorf("offer section %d has no ice-ufrag: %w", i, ErrBadSDP)
		}
		if _, ok := md.Attribute("ice-pwd"); !ok && !sessPwd {
			return fmt.Errorf("offer section %d has no ice-pwd: %w", i, ErrBadSDP)
		}
		if _, ok := md.Attribute("fingerprint"); !ok && !sessFP {
			return fmt.Errorf("offer section %d has no DTLS fingerprint: %w", i, ErrBadSDP)
		}
		if md.MediaName.Media != "audio" {
			continue
		}
		audio = true
		if offersCodec(md, law) {
			codec = true
			if _, inactive := md.Attribute("inactive"); !inactive {
				active = true
			}
		}
	}
	switch {
	case !audio:
		return fmt.Errorf("offer has no audio: %w", ErrNoCommonCodec)
	case !codec:
		return fmt.Errorf("offer does not offer %s: %w", law.name, ErrNoCommonCodec)
	case !active:
		// Pion would stop the leg's transceiver for good. Hold is the
		// server's business (Leg.Play), not the browser's.
		return fmt.Errorf("offer sets the audio inactive (not supported; hold with Play): %w", ErrBadSDP)
	}
	return nil
}

// offersCodec tells whether an audio section lists the codec, by its
// rtpmap or, without one, by its static payload type.
func offersCodec(md *sdp.MediaDescription, law *codecLaw) bool {
	rtpmaps := map[string]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok {
			rtpmaps[pt] = enc
		}
	}
	for _, f := range md.MediaName.Formats {
		if enc, ok := rtpmaps[f]; ok {
			name, rate, _ := strings.Cut(enc, "/")
			rate, _, _ = strings.Cut(rate, "/")
			if strings.EqualFold(name, law.name) && rate == "8000" {
				return true
			}
			continue
		}
		if pt, err := strconv.Atoi(f); err == nil && pt == int(law.payloadType) {
			return true
		}
	}
	return false
}
