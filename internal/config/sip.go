package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/contactd/contactd/routing"
)

// SIP defaults.
const (
	DefaultSIPListen    = "udp://:5060,tcp://:5060"
	DefaultRTPPorts     = "10000-20000"
	DefaultSIPUserAgent = "contactd"
	// DefaultAnnounceInterval is how often a waiting caller hears its place.
	DefaultAnnounceInterval = 60 * time.Second
)

// SIP holds the settings of the SIP edge (signaling/sip) and of the plain
// RTP legs of phone calls.
type SIP struct {
	// SIPListen is a comma-separated list of transport://host:port
	// (udp, tcp) the SIP edge listens on; "off" turns SIP off.
	SIPListen string `yaml:"sip_listen"`
	// SIPPublicAddr is the address (host or host:port) put in Contact
	// and Via headers and in the SDP of phone calls instead of the local
	// one (the server behind a 1:1 NAT).
	SIPPublicAddr string `yaml:"sip_public_addr"`
	// RTPPorts is the UDP port range (lo-hi) of phone calls' RTP.
	RTPPorts string `yaml:"rtp_ports"`
	// SIPDomain is our SIP domain (the host of our URIs); empty: the
	// public or local address.
	SIPDomain string `yaml:"sip_domain"`
	// SIPUserAgent is the User-Agent and Server header.
	SIPUserAgent string `yaml:"sip_user_agent"`
	// SIPDropUnknown drops requests from addresses that are neither a
	// trunk nor a registered device without an answer (else 403).
	SIPDropUnknown bool `yaml:"sip_drop_unknown"`
	// AnnounceInterval: a phone caller waiting in a queue hears its
	// position and estimated wait this often; 0 never.
	AnnounceInterval time.Duration `yaml:"announce_interval"`
	// PromptsDir holds WAV files replacing built-in prompts (see
	// docs/PROMPTS.md); empty: the built-in set.
	PromptsDir string `yaml:"prompts_dir"`
	// Trunks are the SIP trunks that deliver phone calls (config file
	// only).
	Trunks []Trunk `yaml:"trunks"`
	// Click-to-call (config file only; README "Click-to-call").
	// DialTrunk names the trunk calls are placed through; empty: the
	// first trunk with a host.
	DialTrunk string `yaml:"dial_trunk"`
	// DialCountryCode (digits, such as 44) turns national numbers
	// (0...) into E.164; empty: national numbers are refused.
	DialCountryCode string `yaml:"dial_country_code"`
	// DialAllow are the destination prefixes (+44, +447) that may be
	// called when the trunk has none of its own; empty: no dialling.
	DialAllow []string `yaml:"dial_allow"`
	// DialRoles may type a number (others call only the visitor
	// context's phone); empty: supervisor and admin.
	DialRoles []string `yaml:"dial_roles"`
	// DialRingTimeout: a placed call not answered by then is cancelled
	// (no_answer); default 45s.
	DialRingTimeout time.Duration `yaml:"dial_ring_timeout"`
	// DialCallerID is the number customers see (From and
	// P-Asserted-Identity) and DialCallerName its name; DialCallerIDs
	// replaces the number per queue (queue id: number).
	DialCallerID   string            `yaml:"dial_caller_id"`
	DialCallerName string            `yaml:"dial_caller_name"`
	DialCallerIDs  map[string]string `yaml:"dial_caller_ids"`
}

// Trunk is a SIP trunk: the provider that delivers calls to our numbers.
type Trunk struct {
	Name string `yaml:"name"`
	// Sources are the CIDRs (or single addresses) its INVITEs come from.
	Sources []string `yaml:"sources"`
	// Username and Password answer the provider's digest challenge on
	// calls we place through the trunk.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Numbers are the numbers (DIDs) it delivers.
	Numbers []TrunkNumber `yaml:"numbers"`
	// Outbound (click-to-call): Host is the provider's domain (the host
	// of the Request-URI and From); OutboundProxy the host:port the
	// INVITE goes to (default Host:5060); Transport udp (default) or tcp;
	// DialAllow the destination prefixes, replacing dial_allow.
	Host          string   `yaml:"host"`
	OutboundProxy string   `yaml:"outbound_proxy"`
	Transport     string   `yaml:"transport"`
	DialAllow     []string `yaml:"dial_allow"`
}

// TrunkNumber is a number a trunk delivers and where its calls go.
type TrunkNumber struct {
	// Number as the trunk sends it in the Request-URI (or To) user part,
	// such as +15551230000.
	Number string `yaml:"number"`
	Queue  string `yaml:"queue"`
	// Skills the call requires on top of the queue's.
	Skills []routing.SkillReq `yaml:"skills"`
	// Priority in the queue: higher first; default 0.
	Priority int `yaml:"priority"`
	// Answer is early_media (183 Session Progress with ringback and music
	// while queued, the default) or answer (200 OK at once).
	Answer string `yaml:"answer"`
	// Menu, when set, is offered first ("for sales, press one"): the key
	// pressed picks the queue; no key, Queue.
	Menu []MenuOption `yaml:"menu"`
	// MessageKey (0-9, * or #), when set, lets a waiting caller leave a
	// voice message instead (offered in the announcements).
	MessageKey string `yaml:"message_key"`
}

// MenuOption is a key of a number's menu.
type MenuOption struct {
	Key      string             `yaml:"key"` // 0-9, * or #
	Queue    string             `yaml:"queue"`
	Skills   []routing.SkillReq `yaml:"skills"`
	Priority int                `yaml:"priority"`
	// Label is a WAV file saying the option's name ("sales"); without
	// one the option is spoken by its place ("for option two").
	Label string `yaml:"label"`
}

// Answer modes of a trunk number.
const (
	AnswerEarlyMedia = "early_media"
	AnswerAnswer     = "answer"
)

// SIPOn reports whether the SIP edge is enabled.
func (c Config) SIPOn() bool {
	return strings.TrimSpace(c.SIPListen) != "" && c.SIPListen != "off" && c.VoiceOn()
}

// SIPListener is one address the SIP edge listens on.
type SIPListener struct {
	Transport string // udp or tcp
	Addr      string // host:port
}

// SIPListeners parses SIPListen (nil when off).
func (s SIP) SIPListeners() ([]SIPListener, error) {
	if strings.TrimSpace(s.SIPListen) == "" || s.SIPListen == "off" {
		return nil, nil
	}
	var out []SIPListener
	for _, part := range strings.Split(s.SIPListen, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		tr, addr, ok := strings.Cut(part, "://")
		if !ok || (tr != "udp" && tr != "tcp") {
			return nil, fmt.Errorf("%q: want udp://host:port or tcp://host:port", part)
		}
		if err := checkAddr(addr); err != nil {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		out = append(out, SIPListener{Transport: tr, Addr: addr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address: want udp://:5060,tcp://:5060 or off")
	}
	return out, nil
}

// RTPPortRange parses RTPPorts.
func (s SIP) RTPPortRange() (lo, hi int, err error) {
	a, b, ok := strings.Cut(s.RTPPorts, "-")
	lo, e1 := strconv.Atoi(strings.TrimSpace(a))
	hi, e2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || e1 != nil || e2 != nil || lo < 1024 || hi > 65535 || hi-lo < 3 {
		return 0, 0, fmt.Errorf("want lo-hi with 1024 <= lo, hi <= 65535 and room for two calls, such as %s", DefaultRTPPorts)
	}
	return lo, hi, nil
}

// validate reports what is wrong with the SIP settings through add.
func (s SIP) validate(add func(format string, args ...any)) {
	if _, err := s.SIPListeners(); err != nil {
		add("sip_listen %v", err)
	}
	if s.SIPListen == "off" {
		return
	}
	if _, _, err := s.RTPPortRange(); err != nil {
		add("rtp_ports %q: %v", s.RTPPorts, err)
	}
	if s.SIPPublicAddr != "" {
		host := s.SIPPublicAddr
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if net.ParseIP(host) == nil {
			add("sip_public_addr %q: want a public IP address (optionally :port) such as 203.0.113.7", s.SIPPublicAddr)
		}
	}
	if strings.ContainsAny(s.SIPDomain, " \t\r\n<>\"@;:") {
		add("sip_domain %q: want a host name such as sip.example.com", s.SIPDomain)
	}
	if s.AnnounceInterval != 0 && s.AnnounceInterval < 5*time.Second {
		add("announce_interval %s: want 0 (never) or 5s or more, such as 60s", s.AnnounceInterval)
	}
	if strings.ContainsFunc(s.SIPUserAgent, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		add("sip_user_agent: no control characters")
	}
	for _, p := range s.DialAllow {
		if !validDialPrefix(p) {
			add("dial_allow %q: want a prefix such as +44 or +4420", p)
		}
	}
	if cc := s.DialCountryCode; cc != "" && (len(cc) > 3 || strings.Trim(cc, "0123456789") != "" || cc[0] == '0') {
		add("dial_country_code %q: want the digits of a country code, such as 44", cc)
	}
	for q, n := range s.DialCallerIDs {
		if !validCallerID(n) {
			add("dial_caller_ids[%s] %q: want a number such as +442079460000", q, n)
		}
	}
	if s.DialCallerID != "" && !validCallerID(s.DialCallerID) {
		add("dial_caller_id %q: want a number such as +442079460000", s.DialCallerID)
	}
	if strings.ContainsFunc(s.DialCallerName, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' || r == '\\' }) {
		add("dial_caller_name: no control characters, quotes or backslashes")
	}
	for _, r := range s.DialRoles {
		if r != "agent" && r != "supervisor" && r != "admin" {
			add("dial_roles %q: want agent, supervisor or admin", r)
		}
	}
	if s.DialTrunk != "" && !slicesContainsTrunk(s.Trunks, s.DialTrunk) {
		add("dial_trunk %q: no trunk has that name", s.DialTrunk)
	}
	seen := map[string]string{}
	names := map[string]bool{}
	for i, t := range s.Trunks {
		if t.Name == "" {
			add("trunks[%d]: want a name", i)
		} else if names[t.Name] {
			add("trunks[%d]: the name %q is used twice", i, t.Name)
		}
		names[t.Name] = true
		if len(t.Sources) == 0 {
			add("trunks[%d] (%s): sources: want the addresses its calls come from, such as [203.0.113.0/24]", i, t.Name)
		}
		for _, src := range t.Sources {
			if _, err := ParseSource(src); err != nil {
				add("trunks[%d] (%s): sources %q: want a CIDR such as 203.0.113.0/24 or an address", i, t.Name, src)
			}
		}
		if strings.ContainsAny(t.Host+t.OutboundProxy, " \t\r\n<>\"@;") {
			add("trunks[%d] (%s): host and outbound_proxy: want a host name or host:port", i, t.Name)
		}
		if t.Transport != "" && t.Transport != "udp" && t.Transport != "tcp" {
			add("trunks[%d] (%s): transport %q: want udp or tcp", i, t.Name, t.Transport)
		}
		for _, p := range t.DialAllow {
			if !validDialPrefix(p) {
				add("trunks[%d] (%s): dial_allow %q: want a prefix such as +44 or +4420", i, t.Name, p)
			}
		}
		if (t.Username == "") != (t.Password == "") {
			add("trunks[%d] (%s): username and password go together", i, t.Name)
		}
		for j, n := range t.Numbers {
			if n.Number == "" || strings.ContainsFunc(n.Number, func(r rune) bool { return !(r == '+' || r >= '0' && r <= '9' || r == '*' || r == '#') }) {
				add("trunks[%d].numbers[%d]: number %q: want digits, optionally with a leading +", i, j, n.Number)
			}
			if other, ok := seen[n.Number]; ok {
				add("trunks[%d].numbers[%d]: number %q is also on trunk %s", i, j, n.Number, other)
			}
			seen[n.Number] = t.Name
			if n.Queue == "" {
				add("trunks[%d].numbers[%d]: want the queue its calls go to", i, j)
			}
			if n.Answer != "" && n.Answer != AnswerEarlyMedia && n.Answer != AnswerAnswer {
				add("trunks[%d].numbers[%d]: answer %q: want %s or %s", i, j, n.Answer, AnswerEarlyMedia, AnswerAnswer)
			}
			if n.MessageKey != "" && (len(n.MessageKey) != 1 || !strings.Contains("0123456789*#", n.MessageKey)) {
				add("trunks[%d].numbers[%d]: message_key %q: want one of 0-9, * or #", i, j, n.MessageKey)
			}
			keys := map[string]bool{}
			for k, o := range n.Menu {
				if len(o.Key) != 1 || !strings.Contains("0123456789*#", o.Key) || keys[o.Key] {
					add("trunks[%d].numbers[%d].menu[%d]: key %q: want one of 0-9, * or #, once", i, j, k, o.Key)
				}
				keys[o.Key] = true
				if o.Queue == "" {
					add("trunks[%d].numbers[%d].menu[%d]: want the queue of key %s", i, j, k, o.Key)
				}
			}
			for _, sk := range n.Skills {
				if sk.Skill == "" || sk.MinLevel < 0 || sk.MinLevel > routing.MaxSkillLevel {
					add("trunks[%d].numbers[%d]: skills: want {skill, min_level 0..%d}", i, j, routing.MaxSkillLevel)
				}
			}
		}
	}
}

// ParseSource parses a trunk source: a CIDR or a single address.
func ParseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// validDialPrefix: + and 1 to 15 digits.
func validDialPrefix(p string) bool {
	return len(p) >= 2 && len(p) <= 16 && p[0] == '+' && strings.Trim(p[1:], "0123456789") == ""
}

func slicesContainsTrunk(ts []Trunk, name string) bool {
	for _, t := range ts {
		if t.Name == name {
			return true
		}
	}
	return false
}

// validCallerID: digits with an optional leading +, at most 16.
func validCallerID(n string) bool {
	d := strings.TrimPrefix(n, "+")
	return d != "" && len(d) <= 15 && strings.Trim(d, "0123456789") == ""
}
