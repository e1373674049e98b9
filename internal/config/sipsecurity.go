package config

import (
	"strings"
)

// SIP security defaults: a phone sends a few messages a second; a trunk's
// addresses are exempt (a trunk at 1,000 calls/s sends several thousand).
const (
	DefaultSIPFloodRate  = 50
	DefaultSIPFloodBurst = 200
	// MinSIPPassword is the shortest sip_password accepted: registrations
	// are open to the Internet and digest is guessed offline from one
	// captured exchange.
	MinSIPPassword = 12
)

// Voice devices of an agent.
const (
	VoiceBrowser = "browser"
	VoiceSIP     = "sip"
)

// SIPSecurity holds the SIP edge's flood control (README, Phones (SIP),
// Security).
type SIPSecurity struct {
	// SIPFloodRate is the SIP messages a second one source address (an
	// IPv6 /64) may send on average, SIPFloodBurst how many at once; past
	// them its messages are dropped without an answer. Trunks' source
	// addresses are exempt.
	SIPFloodRate  int `yaml:"sip_flood_rate"`
	SIPFloodBurst int `yaml:"sip_flood_burst"`
}

func (s SIPSecurity) validate(add func(format string, args ...any)) {
	if s.SIPFloodRate < 1 {
		add("sip_flood_rate %d: want at least 1 message a second (default %d)", s.SIPFloodRate, DefaultSIPFloodRate)
	}
	if s.SIPFloodBurst < 1 {
		add("sip_flood_burst %d: want at least 1 (default %d)", s.SIPFloodBurst, DefaultSIPFloodBurst)
	}
}

// validSIPUsername: a SIP URI user part we accept as an account name:
// letters, digits and - _ . ! ~ * ' ( ) + (no @ : ; < > or spaces).
func validSIPUsername(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.!~*'()+", r)) {
			return false
		}
	}
	return true
}

// validateSIPAgents checks the agents' SIP accounts.
func validateSIPAgents(agents []AgentSpec, add func(format string, args ...any)) {
	users := map[string]string{}
	for _, a := range agents {
		switch a.VoiceDevice {
		case "", VoiceBrowser, VoiceSIP:
		default:
			add("agent %s: voice_device %q: want %s or %s", a.ID, a.VoiceDevice, VoiceBrowser, VoiceSIP)
		}
		if (a.SIPUsername == "") != (a.SIPPassword == "") {
			add("agent %s: sip_username and sip_password go together", a.ID)
		}
		if a.VoiceDevice == VoiceSIP && a.SIPUsername == "" {
			add("agent %s: voice_device sip needs sip_username and sip_password (the phone registers with them)", a.ID)
		}
		if a.SIPUsername != "" {
			if !validSIPUsername(a.SIPUsername) {
				add("agent %s: sip_username %q: want letters, digits and - _ . (at most 64)", a.ID, a.SIPUsername)
			}
			if other, dup := users[a.SIPUsername]; dup {
				add("agent %s: sip_username %q is also agent %s's", a.ID, a.SIPUsername, other)
			}
			users[a.SIPUsername] = string(a.ID)
		}
		if a.SIPPassword != "" && len(a.SIPPassword) < MinSIPPassword {
			add("agent %s: sip_password: want at least %d characters", a.ID, MinSIPPassword)
		}
		if strings.ContainsFunc(a.SIPPassword, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			add("agent %s: sip_password: no control characters", a.ID)
		}
	}
}
