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
	}
	_, err = io.WriteString(w, b.String())
	return err
}
