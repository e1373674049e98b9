package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/contactd/contactd/internal/auth"
)

// writeConfig prints what a load test needs in contactd's config: queue
// -queue without skills, and agents <prefix>1..<prefix>N with -capacity
// chats and one call each and the password -agent-password as an argon2id
// hash; voice on a free loopback UDP port (ccload's peers run on this
// machine; --media-addr overrides it). One
// hash is made and shared by every agent: they have the same password, and
// contactd checks each distinct hash once when it loads the file.
func writeConfig(w io.Writer, o options) error {
	hash, err := auth.HashPassword(o.agentPassword)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# contactd load-test configuration, written by:
#   ccload -write-config -agents %d -capacity %d -agent-password ...
# Agents %s1..%s%d share the password given to ccload (kept here as an
# argon2id hash only). Start contactd with --config on this file.
queues:
  - id: %s
    name: Load test
    offer_timeout: 2m
    # No wrap-up: a chat's slot is free as soon as it ends.
    wrap_up: 0s
    # Visitors may arrive before the agents have logged in.
    no_agents: wait
# Voice (ccload -mode voice) on a free port of the loopback interface.
media_addr: "127.0.0.1:0"
# Every visitor comes from this one machine: lift the per-address limits
# of widget sessions.
widget_sessions_per_address: 1000000
widget_session_rate: 1000000
agents:
`, o.agents, o.capacity, o.agentPrefix, o.agentPrefix, o.agents, strconv.Quote(o.queue))
	hq := strconv.Quote(hash)
	for i := 1; i <= o.agents; i++ {
		id := strconv.Quote(o.agentPrefix + strconv.Itoa(i))
		fmt.Fprintf(&b, "  - id: %s\n    display_name: %s\n    capacity:\n      chat: %d\n      voice: 1\n    password_hash: %s\n", id, id, o.capacity, hq)
		if o.mode == "sip" || o.mode == "sip-media" {
			fmt.Fprintf(&b, "    sip_username: %s\n    sip_password: %s\n    voice_device: %s\n",
				strconv.Quote(sipUsername(o.agentPrefix, i)), strconv.Quote(sipPassword(o.agentPassword, i)), o.voiceDevice())
		}
	}
	if o.mode == "sip" || o.mode == "sip-media" {
		b.WriteString(sipConfig(o.queue))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// voiceDevice is the agents' voice_device in a -mode sip or sip-media
// config: sip when phones take the calls (the default of -mode sip).
func (o options) voiceDevice() string {
	if o.sipAgents == "phones" || o.mode == "sip" && o.sipAgents == "" {
		return "sip"
	}
	return "browser"
}

// sipConfig is the SIP part of a -mode sip or sip-media config: the edge on
// a free loopback UDP port, RTP ports as wide as a short run at 1,000
// calls/s needs (a closed pair is quarantined for 10 s: rate × (call
// length + 10 s) × legs per call must fit), a trunk for this machine with
// the two numbers, no announcements, and no flood control to speak of.
func sipConfig(queue string) string {
	return fmt.Sprintf(`# SIP (ccload -mode sip / sip-media): calls come from 127.0.0.0/8 (a
# trunk, so the flood guard lets them be); agents' phones register.
sip_listen: "udp://127.0.0.1:%d"
rtp_ports: "20000-65000"
announce_interval: 0s
sip_flood_rate: 1000000
sip_flood_burst: 1000000
trunks:
  - name: ccload
    sources: ["127.0.0.0/8"]
    numbers:
      - number: %q
        queue: %s
        answer: answer
      - number: %q
        queue: %s
        answer: early_media
`, freePort(), sipNumberAnswer, strconv.Quote(queue), sipNumberEarly, strconv.Quote(queue))
}
