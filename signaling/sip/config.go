package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/routing"
)

// Config is the SIP edge's settings.
type Config struct {
	// PublicAddr is the IP put in Contact and Via instead of the local
	// one (1:1 NAT); empty: the listener's address.
	PublicAddr string
	// Domain is the host of our URIs; empty: the contact host.
	Domain string
	// UserAgent is our User-Agent and Server header; default "contactd".
	UserAgent string
	// DropUnknown: an INVITE (or a request to no handler) from an
	// address that is neither a trunk nor a registered device gets no
	// answer at all instead of 403.
	DropUnknown bool
	// Trunks deliver calls to our numbers.
	Trunks []Trunk
	// AckTimeout: a 2xx not acknowledged within this time is followed by
	// a BYE (RFC 3261 13.3.1.4: 64*T1 = 32 s). Tests shorten it.
	AckTimeout time.Duration
	// ByeTimeout bounds each BYE we send at shutdown or hang-up; default
	// 2 s.
	ByeTimeout time.Duration
	// AnnounceInterval: a caller waiting in a queue hears Announcement
	// (position and estimated wait) this often; 0 never.
	AnnounceInterval time.Duration
	// Announcement makes the clip of an announcement (the prompts set on
	// the media engine), with the offer to press messageKey (0: none) to
	// leave a message; nil: no announcements.
	Announcement func(position int, wait time.Duration, messageKey rune) *media.Clip
	// AfterTone ("leave your message after the tone", and the tone) and
	// MessageRecorded are the voice message's prompts.
	AfterTone, MessageRecorded *media.Clip
	// MaxMessage bounds a voice message's recording.
	MaxMessage time.Duration
	// InvalidChoice plays after a key no menu option has.
	InvalidChoice *media.Clip
	// MenuTimeout is how long a menu waits for a key after its clip
	// began; default 10 s.
	MenuTimeout time.Duration
}

// Trunk is a provider that delivers calls.
type Trunk struct {
	Name     string
	Sources  []netip.Prefix
	Username string // digest, for the calls we place (outbound.go)
	Password string
	Numbers  []Number
	// Outbound: where the calls we place go (outbound.go).
	Host          string   // the provider's domain: the host of the Request-URI and From
	OutboundProxy string   // host:port the INVITE is sent to; empty: Host (port 5060)
	Transport     string   // udp (default) or tcp
	DialAllow     []string // destination prefixes (CheckDestination); empty: no calls
}

// AnswerMode says when a call from a trunk is answered.
type AnswerMode string

// The answer modes.
const (
	// EarlyMedia: 183 Session Progress with SDP at once; the caller hears
	// ringback and music while queued; 200 OK when an agent takes it.
	EarlyMedia AnswerMode = "early_media"
	// AnswerNow: 200 OK at once.
	AnswerNow AnswerMode = "answer"
)

// Number is a number (DID) a trunk delivers and where its calls go.
type Number struct {
	Number   string
	Queue    routing.QueueID
	Skills   []routing.SkillReq
	Priority int
	Answer   AnswerMode
	// Menu, when set, is offered first ("for sales, press one"): the
	// call is answered at once, MenuClip plays, and the key pressed picks
	// the queue; no key within MenuTimeout (twice), the number's Queue.
	Menu     []MenuOption
	MenuClip *media.Clip
	// MessageKey, when set, lets a caller waiting in the queue leave a
	// voice message instead (offered in the announcements).
	MessageKey rune
}

// MenuOption is a key of a number's menu and where it leads.
type MenuOption struct {
	Key      rune // 0-9, *, #
	Queue    routing.QueueID
	Skills   []routing.SkillReq
	Priority int
}

func (c Config) withDefaults() Config {
	if c.UserAgent == "" {
		c.UserAgent = "contactd"
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 32 * time.Second
	}
	if c.ByeTimeout <= 0 {
		c.ByeTimeout = 2 * time.Second
	}
	if c.MenuTimeout <= 0 {
		c.MenuTimeout = 10 * time.Second
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 2 * time.Minute
	}
	for i := range c.Trunks {
		for j := range c.Trunks[i].Numbers {
			if c.Trunks[i].Numbers[j].Answer == "" {
				c.Trunks[i].Numbers[j].Answer = EarlyMedia
			}
		}
	}
	return c
}

// route is a number with its trunk.
type route struct {
	trunk *Trunk
	Number
}

// trunkAt returns the trunk whose sources hold addr.
func (c *Config) trunkAt(addr netip.Addr) *Trunk {
	addr = addr.Unmap()
	for i := range c.Trunks {
		for _, p := range c.Trunks[i].Sources {
			if p.Contains(addr) {
				return &c.Trunks[i]
			}
		}
	}
	return nil
}

// number finds the route of a dialled number on trunk t. Numbers are
// compared as written, and also without a leading + (providers differ).
func (t *Trunk) number(n string) (route, bool) {
	for _, x := range t.Numbers {
		if x.Number == n || strings.TrimPrefix(x.Number, "+") == strings.TrimPrefix(n, "+") {
			return route{trunk: t, Number: x}, true
		}
	}
	return route{}, false
}

// Listen is an address the edge listens on.
type Listen struct {
	Transport string // udp or tcp
	Addr      string // host:port; port 0 picks one
}

func (l Listen) String() string { return fmt.Sprintf("%s://%s", l.Transport, l.Addr) }
