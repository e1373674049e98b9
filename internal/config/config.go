// Package config is contactd's configuration: built-in defaults, overridden
// by a YAML file, then by environment variables, then by command-line flags.
//
// Load reads all four and validates the result; Usage documents every
// setting; deploy/contactd.sample.yaml in the source tree is a complete,
// commented example of the file.
package config

import (
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Defaults of the settings that have one.
const (
	DefaultHTTPAddr     = ":8080"
	DefaultDataDir      = "./data"
	DefaultDrainTimeout = 30 * time.Second
	DefaultLogLevel     = "info"
	DefaultLogFormat    = "text"
)

// Config is the whole configuration of a contactd process.
type Config struct {
	// HTTPAddr is the host:port the web server listens on.
	HTTPAddr string `yaml:"http_addr"`
	// DataDir holds the embedded store and other local files.
	DataDir string `yaml:"data_dir"`
	// DatabaseURL is a PostgreSQL connection string; empty means the
	// embedded SQLite store in DataDir.
	DatabaseURL string `yaml:"database_url"`
	// ConfigFile is the path of the YAML file that was read, empty when none
	// was. It is set by Load, never read from the file.
	ConfigFile string `yaml:"-"`
	// DrainTimeout is how long a shutdown waits for active interactions.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// Demo seeds demo queues and agents when the store has none.
	Demo bool `yaml:"demo"`
	// AllowedOrigins are the sites (scheme://host[:port]) that may embed
	// the widget.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// VisitorGrace is how long a visitor may be away before the agent is
	// told they left.
	VisitorGrace time.Duration `yaml:"visitor_grace"`
	// WidgetSessionsPerAddress is how many widget sessions from one client
	// address may wait in queues at once.
	WidgetSessionsPerAddress int `yaml:"widget_sessions_per_address"`
	// WidgetSessionRate is how many widget sessions one client address may
	// start a minute (also the burst).
	WidgetSessionRate int `yaml:"widget_session_rate"`
	// MediaAddr is the UDP host:port of every voice leg (one port for all
	// calls); "off" turns voice off.
	MediaAddr string `yaml:"media_addr"`
	// MediaPublicIPs are announced to browsers instead of the local
	// addresses (the server behind a 1:1 NAT).
	MediaPublicIPs []string `yaml:"media_public_ips"`
	// MediaTimeout ends a call whose leg received no audio for this long.
	MediaTimeout time.Duration `yaml:"media_timeout"`
	// MediaCodec is PCMU or PCMA (G.711): every leg uses it.
	MediaCodec string `yaml:"media_codec"`
	// ICEServers are STUN/TURN servers handed to browsers for voice.
	ICEServers []ICEServer `yaml:"ice_servers"`
	// Canned are the canned messages agents can insert.
	Canned []CannedMessage `yaml:"canned"`
	// Invitation is the invitation template; %name% is the agent's name.
	Invitation string `yaml:"invitation"`
	// Security settings (README, Security).
	Security `yaml:",inline"`
	// SIP settings (README, Phones (SIP)).
	SIP `yaml:",inline"`
	// SIP flood control (README, Phones (SIP), Security).
	SIPSecurity `yaml:",inline"`
	// Routing holds engine-wide routing settings.
	Routing RoutingSettings `yaml:"routing"`
	// Queues are the queues defined in the file, in file order. Unset
	// fields are left zero; routing.QueueConfig.WithDefaults fills them.
	Queues []routing.QueueConfig `yaml:"queues"`
	// Agents are the staff accounts defined in the file, in file order.
	Agents []AgentSpec `yaml:"agents"`
}

// Security holds the settings of the HTTP edge's defences.
type Security struct {
	// PublicURL is the address browsers use (https://contact.example.com);
	// when https, cookies are Secure and HSTS is sent even behind a
	// TLS-terminating proxy. It is the server's own origin when set.
	PublicURL string `yaml:"public_url"`
	// StaffOrigins may log staff in besides the server's own origin.
	StaffOrigins []string `yaml:"staff_origins"`
	// TrustedProxies are CIDRs whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// HTTP server timeouts (WebSockets are exempt from read and write).
	ReadTimeout  time.Duration `yaml:"http_read_timeout"`
	WriteTimeout time.Duration `yaml:"http_write_timeout"`
	IdleTimeout  time.Duration `yaml:"http_idle_timeout"`
	// MaxConnsPerAddress bounds the connections (TCP, from a client that
	// is not a trusted proxy) and the WebSockets of one client address;
	// 0: no bound.
	MaxConnsPerAddress int `yaml:"max_conns_per_address"`
	// MaxSocketsPerVisitor bounds the WebSockets of one visitor token.
	MaxSocketsPerVisitor int `yaml:"max_sockets_per_visitor"`
	// LoginConcurrency bounds the password checks at once; 0: one per CPU.
	LoginConcurrency int `yaml:"login_concurrency"`
	// MetricsAddr serves /metrics on its own host:port (and not on
	// http_addr); MetricsToken requires "Authorization: Bearer <token>".
	MetricsAddr  string `yaml:"metrics_addr"`
	MetricsToken string `yaml:"metrics_token"`
	// MetricsPerAgent adds the per-agent series (labelled with logins).
	MetricsPerAgent bool `yaml:"metrics_per_agent"`
	// Sites are the embedding sites that sign visitor context.
	Sites []Site `yaml:"sites"`
}

// Site is an embedding site with its key for signing visitor context.
type Site struct {
	Origin string `yaml:"origin"`
	Secret string `yaml:"secret"`
}

// Security defaults.
const (
	DefaultReadTimeout          = 30 * time.Second
	DefaultWriteTimeout         = 60 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultMaxConnsPerAddress   = 256
	DefaultMaxSocketsPerVisitor = 4
)

// CannedMessage is a canned message with its shortcut.
type CannedMessage struct {
	Shortcut string `yaml:"shortcut"`
	Text     string `yaml:"text"`
}

// ICEServer is a STUN or TURN server for browsers.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// Voice defaults.
const (
	DefaultMediaAddr    = ":40000"
	DefaultMediaTimeout = 20 * time.Second
	DefaultMediaCodec   = "PCMU"
)

// VoiceOn reports whether voice is enabled.
func (c Config) VoiceOn() bool { return c.MediaAddr != "" && c.MediaAddr != "off" }

// DefaultVisitorGrace is the default VisitorGrace.
const DefaultVisitorGrace = 60 * time.Second

// Defaults of the per-address widget session limits.
const (
	DefaultWidgetSessionsPerAddress = 10
	DefaultWidgetSessionRate        = 30
)

// RoutingSettings are routing settings that apply to every queue.
type RoutingSettings struct {
	// MaxMissedOffers is how many offers in a row an agent may let lapse
	// before being set Away; 0 never sets an agent Away.
	MaxMissedOffers int `yaml:"max_missed_offers"`
}

// AgentSpec is a staff account as written in the config file. The file
// carries no password: an account is created with a generated one (printed
// once), or with PasswordHash when the file gives one.
type AgentSpec struct {
	ID          routing.AgentID `yaml:"id"`
	DisplayName string          `yaml:"display_name"`
	// Roles defaults to [agent] when the file gives none.
	Roles           []store.Role            `yaml:"roles"`
	Skills          map[routing.Skill]int   `yaml:"skills"`
	Capacity        map[routing.Channel]int `yaml:"capacity"`
	VoiceBlocksChat bool                    `yaml:"voice_blocks_chat"`
	// PasswordHash, when set, is the password of the account when it is
	// created: an argon2id PHC string as made by auth.HashPassword (such as
	// `ccload -write-config` writes). Nothing is generated or printed then.
	// An account that exists already keeps its password.
	PasswordHash string `yaml:"password_hash"`
	// SIPUsername and SIPPassword are the account a SIP desk phone or
	// softphone registers with (digest); both or neither.
	SIPUsername string `yaml:"sip_username"`
	SIPPassword string `yaml:"sip_password"`
	// VoiceDevice is where the agent takes calls: browser (the default)
	// or sip (the registered phones ring).
	VoiceDevice string `yaml:"voice_device"`
}

// AgentConfig returns the routing part of the account. Defaults (such as the
// capacity when none is given) are left to routing.AgentConfig.WithDefaults.
func (a AgentSpec) AgentConfig() routing.AgentConfig {
	return routing.AgentConfig{
		ID:              a.ID,
		Skills:          a.Skills,
		Capacity:        a.Capacity,
		VoiceBlocksChat: a.VoiceBlocksChat,
	}
}

// Default returns the configuration used when nothing else is given: it
// runs, on the embedded store in ./data.
func Default() Config {
	return Config{
		HTTPAddr:                 DefaultHTTPAddr,
		DataDir:                  DefaultDataDir,
		DrainTimeout:             DefaultDrainTimeout,
		LogLevel:                 DefaultLogLevel,
		LogFormat:                DefaultLogFormat,
		VisitorGrace:             DefaultVisitorGrace,
		WidgetSessionsPerAddress: DefaultWidgetSessionsPerAddress,
		WidgetSessionRate:        DefaultWidgetSessionRate,
		MediaAddr:                DefaultMediaAddr,
		MediaTimeout:             DefaultMediaTimeout,
		MediaCodec:               DefaultMediaCodec,
		SIPSecurity:              SIPSecurity{SIPFloodRate: DefaultSIPFloodRate, SIPFloodBurst: DefaultSIPFloodBurst},
		SIP:                      SIP{SIPListen: DefaultSIPListen, RTPPorts: DefaultRTPPorts, SIPUserAgent: DefaultSIPUserAgent, AnnounceInterval: DefaultAnnounceInterval},
		Routing:                  RoutingSettings{MaxMissedOffers: routing.DefaultMaxMissedOffers},
		Security: Security{ReadTimeout: DefaultReadTimeout, WriteTimeout: DefaultWriteTimeout, IdleTimeout: DefaultIdleTimeout,
			MaxConnsPerAddress: DefaultMaxConnsPerAddress, MaxSocketsPerVisitor: DefaultMaxSocketsPerVisitor},
	}
}

// SlogLevel is LogLevel as a slog.Level; info if LogLevel is not valid.
func (c Config) SlogLevel() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Logger returns a logger writing to w in LogFormat at LogLevel.
func (c Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if strings.EqualFold(c.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
