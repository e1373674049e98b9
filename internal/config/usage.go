package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/contactd/contactd/routing"
)

// SampleConfigPath is where the commented sample config lives in the source
// tree.
const SampleConfigPath = "deploy/contactd.sample.yaml"

// Usage writes the --help text: every setting with its flag, environment
// variable, config file key, default and meaning.
func Usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage: contactd [flags]

contactd is a contact-center server: web chat and voice, SIP, queues and agents.
With no settings at all it runs on the embedded store in ./data.

Each setting is read from, the later overriding the earlier: the built-in
default, the YAML config file, the environment variable, the flag.
Flags take one or two dashes: -demo and --demo are the same.

Flags:
`)
	def := Default()
	fileOnly := []struct{ key, def, usage string }{
		{"routing.max_missed_offers", strconv.Itoa(def.Routing.MaxMissedOffers),
			"offers in a row an agent may let lapse before being set Away; 0 never sets Away"},
		{"queues", "none",
			"the queues: id, name, skills, strategy, offer_timeout, max_wait, no_agents, service_level, wrap_up,\n" +
				"default_handle_time, and steps that relax skills or add a fallback queue after a wait"},
		{"ice_servers", "none", "STUN/TURN servers handed to browsers for voice: a list of {urls, username, credential}"},
		{"trunks", "none", "SIP trunks that deliver phone calls: name, sources (CIDRs), username/password (digest, outbound),\n" +
			"numbers: {number, queue, skills, priority, answer: early_media (183, the default) or answer (200 at once)};\n" +
			"click-to-call: host, outbound_proxy (host:port), transport (udp, tcp), dial_allow (prefixes)"},
		{"dial_allow", "none", "destination prefixes click-to-call may dial (+44, +4420); none: no dialling; premium-rate refused"},
		{"dial_trunk", "the first trunk with a host", "the trunk click-to-call places calls through"},
		{"dial_country_code", "none", "digits of the country code that turn national numbers (0...) into E.164; none: refused"},
		{"dial_caller_id", "none", "the number customers called by click-to-call see (From, P-Asserted-Identity)"},
		{"dial_caller_ids", "none", "dial_caller_id per queue: {queue: number}"},
		{"dial_caller_name", "none", "the name shown with the caller ID"},
		{"dial_roles", "supervisor, admin", "roles that may type a number to call (agent, supervisor, admin); others call the visitor's own"},
		{"dial_ring_timeout", "45s", "a click-to-call call not answered by then is cancelled"},
		{"canned", "none", "canned messages for agents: a list of {shortcut, text}"},
		{"sites", "none", "embedding sites that sign visitor context (shown as verified): a list of {origin, secret};\n" +
			"see docs/INTEGRATION.md"},
		{"invitation", "\"Hello! I'm %name%. ...\"", "the invitation template; %name% becomes the agent's display name"},
		{"agents", "none",
			"staff accounts created when missing: id, display_name, roles (agent, supervisor, admin; default agent),\n" +
				fmt.Sprintf("skills (name: level %d..%d), capacity (channel: n; default voice %d, chat %d), voice_blocks_chat,\n",
					routing.MinSkillLevel, routing.MaxSkillLevel, routing.DefaultVoiceCapacity, routing.DefaultChatCapacity) +
				"password_hash. A new account gets a generated password, printed once, unless password_hash\n" +
				"gives an argon2id hash ($argon2id$v=19$..., as `ccload -write-config` writes): then it gets\n" +
				"that password and nothing is printed. Existing accounts keep their password.\n" +
				"sip_username, sip_password: the account a SIP phone registers with (digest; both or neither,\n" +
				fmt.Sprintf("password at least %d characters); voice_device: browser (default) or sip (calls ring the phone)", MinSIPPassword)},
	}
	for _, s := range settings() {
		name := "--" + s.flag
		if s.arg != "" {
			name += " " + s.arg
		}
		fmt.Fprintf(&b, "  %s\n        %s\n        env %s", name, s.usage, s.env)
		if s.yaml != "" {
			fmt.Fprintf(&b, ", yaml %s", s.yaml)
		}
		fmt.Fprintf(&b, ", default %s\n", s.get(def))
	}
	b.WriteString("\nConfig file only:\n")
	for _, f := range fileOnly {
		fmt.Fprintf(&b, "  %s (default %s)\n        %s\n", f.key, f.def,
			strings.ReplaceAll(f.usage, "\n", "\n        "))
	}
	fmt.Fprintf(&b, `
Unknown keys in the config file are errors. A complete, commented sample of
the file is %s in the source tree.
`, SampleConfigPath)
	io.WriteString(w, b.String())
}
