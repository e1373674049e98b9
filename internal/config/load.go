package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// setting is one value that can be given as a flag and an environment
// variable, and (when yaml is set) as a top-level key of the file.
type setting struct {
	flag  string // without dashes
	arg   string // name of the value in the usage text; empty for booleans
	env   string
	yaml  string // empty when the setting is not read from the file
	usage string
	field func(c *Config) any // *string, *time.Duration or *bool
}

// settings lists the flags in the order Usage shows them.
func settings() []setting {
	return []setting{
		{"config", "FILE", "CONTACTD_CONFIG", "",
			"YAML config file to read; none by default",
			func(c *Config) any { return &c.ConfigFile }},
		{"http-addr", "ADDR", "CONTACTD_HTTP_ADDR", "http_addr",
			"host:port the web server (widget, agent desk, APIs) listens on",
			func(c *Config) any { return &c.HTTPAddr }},
		{"data-dir", "DIR", "CONTACTD_DATA_DIR", "data_dir",
			"directory for the embedded database and other local files",
			func(c *Config) any { return &c.DataDir }},
		{"database-url", "URL", "DATABASE_URL", "database_url",
			"PostgreSQL URL (postgres://user:pass@host:5432/db); empty uses the embedded SQLite store in the data dir",
			func(c *Config) any { return &c.DatabaseURL }},
		{"drain-timeout", "DURATION", "CONTACTD_DRAIN_TIMEOUT", "drain_timeout",
			"on SIGTERM, how long to wait for active chats and calls to end before exiting",
			func(c *Config) any { return &c.DrainTimeout }},
		{"log-level", "LEVEL", "CONTACTD_LOG_LEVEL", "log_level",
			"least important log messages written: debug, info, warn or error",
			func(c *Config) any { return &c.LogLevel }},
		{"log-format", "FORMAT", "CONTACTD_LOG_FORMAT", "log_format",
			"log line format: text or json",
			func(c *Config) any { return &c.LogFormat }},
		{"allowed-origins", "ORIGINS", "CONTACTD_ALLOWED_ORIGINS", "allowed_origins",
			"comma-separated origins (https://shop.example.com) of the sites that may embed the widget; the server's own origin is always allowed",
			func(c *Config) any { return &c.AllowedOrigins }},
		{"visitor-grace", "DURATION", "CONTACTD_VISITOR_GRACE", "visitor_grace",
			"a visitor who closed the page and is not back within this time has left (the agent is told)",
			func(c *Config) any { return &c.VisitorGrace }},
		{"widget-sessions-per-address", "N", "CONTACTD_WIDGET_SESSIONS_PER_ADDRESS", "widget_sessions_per_address",
			"widget sessions from one client address that may wait in queues at once (more are refused with 429)",
			func(c *Config) any { return &c.WidgetSessionsPerAddress }},
		{"widget-session-rate", "N", "CONTACTD_WIDGET_SESSION_RATE", "widget_session_rate",
			"widget sessions one client address may start a minute (also the burst; more are refused with 429)",
			func(c *Config) any { return &c.WidgetSessionRate }},
		{"media-addr", "ADDR", "CONTACTD_MEDIA_ADDR", "media_addr",
			"UDP host:port for the audio of every voice call (WebRTC, one port for all); off turns voice off",
			func(c *Config) any { return &c.MediaAddr }},
		{"media-public-ips", "IPS", "CONTACTD_MEDIA_PUBLIC_IPS", "media_public_ips",
			"comma-separated public addresses announced to browsers instead of the local ones (server behind 1:1 NAT)",
			func(c *Config) any { return &c.MediaPublicIPs }},
		{"media-timeout", "DURATION", "CONTACTD_MEDIA_TIMEOUT", "media_timeout",
			"a call whose audio stops for this long ends (and its agent is freed)",
			func(c *Config) any { return &c.MediaTimeout }},
		{"media-codec", "CODEC", "CONTACTD_MEDIA_CODEC", "media_codec",
			"voice codec of every leg: PCMU or PCMA (G.711, so no leg needs transcoding)",
			func(c *Config) any { return &c.MediaCodec }},
		{"sip-listen", "ADDRS", "CONTACTD_SIP_LISTEN", "sip_listen",
			"comma-separated udp://host:port and tcp://host:port the SIP edge (phone calls from trunks) listens on; off turns SIP off",
			func(c *Config) any { return &c.SIPListen }},
		{"sip-public-addr", "ADDR", "CONTACTD_SIP_PUBLIC_ADDR", "sip_public_addr",
			"public IP (optionally :port) put in SIP Contact/Via and in phone calls' SDP instead of the local one (server behind 1:1 NAT)",
			func(c *Config) any { return &c.SIPPublicAddr }},
		{"rtp-ports", "LO-HI", "CONTACTD_RTP_PORTS", "rtp_ports",
			"UDP port range of phone calls' audio (plain RTP, two ports a call); open it in the firewall",
			func(c *Config) any { return &c.RTPPorts }},
		{"sip-domain", "HOST", "CONTACTD_SIP_DOMAIN", "sip_domain",
			"our SIP domain (the host of our SIP URIs); empty: the public or local address",
			func(c *Config) any { return &c.SIPDomain }},
		{"sip-user-agent", "NAME", "CONTACTD_SIP_USER_AGENT", "sip_user_agent",
			"User-Agent and Server header of SIP messages",
			func(c *Config) any { return &c.SIPUserAgent }},
		{"sip-drop-unknown", "", "CONTACTD_SIP_DROP_UNKNOWN", "sip_drop_unknown",
			"drop SIP requests from addresses that are neither a trunk nor a registered phone without answering (else 403)",
			func(c *Config) any { return &c.SIPDropUnknown }},
		{"announce-interval", "DURATION", "CONTACTD_ANNOUNCE_INTERVAL", "announce_interval",
			"a phone caller waiting in a queue hears its position and estimated wait this often; 0 never",
			func(c *Config) any { return &c.AnnounceInterval }},
		{"prompts-dir", "DIR", "CONTACTD_PROMPTS_DIR", "prompts_dir",
			"directory of WAV files replacing built-in voice prompts (docs/PROMPTS.md); empty: the built-in set",
			func(c *Config) any { return &c.PromptsDir }},
		{"sip-flood-rate", "N", "CONTACTD_SIP_FLOOD_RATE", "sip_flood_rate",
			"SIP messages a second one source address (IPv6: its /64) may send on average; more are dropped unanswered (trunks' addresses are exempt)",
			func(c *Config) any { return &c.SIPFloodRate }},
		{"sip-flood-burst", "N", "CONTACTD_SIP_FLOOD_BURST", "sip_flood_burst",
			"SIP messages one source address may send at once before sip_flood_rate applies",
			func(c *Config) any { return &c.SIPFloodBurst }},
		{"public-url", "URL", "CONTACTD_PUBLIC_URL", "public_url",
			"the address browsers use (https://contact.example.com): the server's own origin; when https, cookies are Secure and HSTS is sent, also behind a TLS-terminating proxy",
			func(c *Config) any { return &c.PublicURL }},
		{"staff-origins", "ORIGINS", "CONTACTD_STAFF_ORIGINS", "staff_origins",
			"comma-separated origins besides the server's own from which staff may log in and open the desk (never the widget's allowed origins)",
			func(c *Config) any { return &c.StaffOrigins }},
		{"trusted-proxies", "CIDRS", "CONTACTD_TRUSTED_PROXIES", "trusted_proxies",
			"comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (every per-address limit uses the address found)",
			func(c *Config) any { return &c.TrustedProxies }},
		{"http-read-timeout", "DURATION", "CONTACTD_HTTP_READ_TIMEOUT", "http_read_timeout",
			"longest time to read a request, body included (WebSockets are exempt)",
			func(c *Config) any { return &c.ReadTimeout }},
		{"http-write-timeout", "DURATION", "CONTACTD_HTTP_WRITE_TIMEOUT", "http_write_timeout",
			"longest time to write a response (WebSockets are exempt)",
			func(c *Config) any { return &c.WriteTimeout }},
		{"http-idle-timeout", "DURATION", "CONTACTD_HTTP_IDLE_TIMEOUT", "http_idle_timeout",
			"an idle keep-alive connection is closed after this",
			func(c *Config) any { return &c.IdleTimeout }},
		{"max-conns-per-address", "N", "CONTACTD_MAX_CONNS_PER_ADDRESS", "max_conns_per_address",
			"connections and WebSockets open at once from one client address; 0 means no bound",
			func(c *Config) any { return &c.MaxConnsPerAddress }},
		{"max-sockets-per-visitor", "N", "CONTACTD_MAX_SOCKETS_PER_VISITOR", "max_sockets_per_visitor",
			"WebSockets open at once with one visitor token (tabs of one chat); 0 means no bound",
			func(c *Config) any { return &c.MaxSocketsPerVisitor }},
		{"login-concurrency", "N", "CONTACTD_LOGIN_CONCURRENCY", "login_concurrency",
			"password checks at once (each takes 19 MiB and tens of ms); more wait briefly, then get 503; 0 means one per CPU",
			func(c *Config) any { return &c.LoginConcurrency }},
		{"metrics-addr", "ADDR", "CONTACTD_METRICS_ADDR", "metrics_addr",
			"serve /metrics on this host:port instead of on http_addr",
			func(c *Config) any { return &c.MetricsAddr }},
		{"metrics-token", "TOKEN", "CONTACTD_METRICS_TOKEN", "metrics_token",
			"require Authorization: Bearer TOKEN on /metrics (prefer the environment variable)",
			func(c *Config) any { return &c.MetricsToken }},
		{"metrics-per-agent", "", "CONTACTD_METRICS_PER_AGENT", "metrics_per_agent",
			"add per-agent series (cc_agent_*, labelled with agent logins); off by default",
			func(c *Config) any { return &c.MetricsPerAgent }},
		{"demo", "", "CONTACTD_DEMO", "demo",
			"seed demo queues (sales, support) and demo agents when the store has none",
			func(c *Config) any { return &c.Demo }},
	}
}

func (s setting) set(c *Config, v string) error {
	switch p := s.field(c).(type) {
	case *string:
		*p = v
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration: want a number with a unit such as 30s, 2m or 1h30m", v)
		}
		*p = d
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean: want true or false", v)
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
	case *[]string:
		*p = nil
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*p = append(*p, part)
			}
		}
	default:
		panic(fmt.Sprintf("config: setting %s has field type %T", s.flag, p))
	}
	return nil
}

func (s setting) get(c Config) string {
	switch p := s.field(&c).(type) {
	case *string:
		return strconv.Quote(*p)
	case *time.Duration:
		return p.String()
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *[]string:
		if len(*p) == 0 {
			return "none"
		}
		return strings.Join(*p, ",")
	default:
		panic(fmt.Sprintf("config: setting %s has field type %T", s.flag, p))
	}
}

func (s setting) isBool() bool {
	_, ok := s.field(&Config{}).(*bool)
	return ok
}

// Load reads the configuration from, in increasing precedence, the
// defaults, the YAML file named by --config or CONTACTD_CONFIG, the
// environment (read with getenv; an empty value counts as unset) and the
// flags in args (without the program name), and validates it. Errors are
// returned, never printed. With -h or --help, Load writes the usage to
// os.Stdout and returns flag.ErrHelp; see LoadOutput to choose the writer.
func Load(args []string, getenv func(string) string) (Config, error) {
	return LoadOutput(args, getenv, os.Stdout)
}

// LoadOutput is Load writing the --help text to out.
func LoadOutput(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	type flagValue struct {
		s setting
		v string
	}
	var (
		given   []flagValue
		scratch Config // checks flag values as they are parsed
	)
	fs := flag.NewFlagSet("contactd", flag.ContinueOnError)
	// The error is returned, not printed, so the caller prints it once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, s := range settings() {
		parse := func(v string) error {
			if err := s.set(&scratch, v); err != nil {
				return err
			}
			given = append(given, flagValue{s, v})
			return nil
		}
		if s.isBool() {
			fs.BoolFunc(s.flag, s.usage, parse)
		} else {
			fs.Func(s.flag, s.usage, parse)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(out)
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w (contactd --help lists every setting)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: contactd takes only flags (see --help)", fs.Arg(0))
	}

	c := Default()
	path := getenv("CONTACTD_CONFIG")
	for _, g := range given {
		if g.s.flag == "config" {
			path = g.v
		}
	}
	if path != "" {
		if err := readFile(path, &c); err != nil {
			return Config{}, err
		}
	}
	var envErrs []error
	for _, s := range settings() {
		if v := getenv(s.env); v != "" {
			if err := s.set(&c, v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("environment variable %s: %w", s.env, err))
			}
		}
	}
	if err := errors.Join(envErrs...); err != nil {
		return Config{}, err
	}
	for _, g := range given {
		if err := g.s.set(&c, g.v); err != nil {
			return Config{}, fmt.Errorf("flag --%s: %w", g.s.flag, err) // checked during parsing already
		}
	}
	c.ConfigFile = path

	if err := c.Validate(); err != nil {
		if path != "" {
			return Config{}, fmt.Errorf("invalid configuration (file %s, environment and flags):\n%w", path, err)
		}
		return Config{}, fmt.Errorf("invalid configuration (environment and flags):\n%w", err)
	}
	return c, nil
}

// readFile decodes the YAML file at path over c. Keys missing from the file
// keep their value in c; unknown keys are errors.
func readFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := decode(data, c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	for i := range c.Agents {
		if len(c.Agents[i].Roles) == 0 {
			c.Agents[i].Roles = []store.Role{store.RoleAgent}
		}
	}
	for i := range c.Queues {
		if c.Queues[i].NoAgents == "" {
			// With nobody logged in (out of hours), the visitor is offered
			// to leave a message rather than waiting for nobody.
			c.Queues[i].NoAgents = routing.NoAgentsLeave
		}
	}
	return nil
}

func decode(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) { // empty file
			return nil
		}
		return explain(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document (a line with --- ?): want a single document")
	}
	return nil
}

var (
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	durationRe     = regexp.MustCompile("^line (\\d+): cannot unmarshal !!\\w+ `(.*)` into time.Duration$")
)

// explain rewrites yaml.v3's messages in the file's terms: an unknown key is
// named with the keys allowed where it stands, a bad duration with the form
// wanted.
func explain(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		if sub := unknownFieldRe.FindStringSubmatch(m); sub != nil {
			where, t := placeOf(sub[3])
			msgs[i] = fmt.Sprintf("line %s: unknown key %q %s", sub[1], sub[2], where)
			if t != nil {
				msgs[i] += " (known keys: " + strings.Join(yamlKeys(t), ", ") + ")"
			}
		} else if sub := durationRe.FindStringSubmatch(m); sub != nil {
			msgs[i] = fmt.Sprintf("line %s: %q is not a duration: want a number with a unit such as 30s, 2m or 1h30m", sub[1], sub[2])
		}
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// placeOf names where in the file a mapping of the given Go type stands.
func placeOf(goType string) (string, reflect.Type) {
	for _, p := range []struct {
		t     reflect.Type
		where string
	}{
		{reflect.TypeFor[Config](), "at the top level"},
		{reflect.TypeFor[RoutingSettings](), "in routing"},
		{reflect.TypeFor[routing.QueueConfig](), "in a queue"},
		{reflect.TypeFor[routing.Step](), "in a queue step"},
		{reflect.TypeFor[routing.SkillReq](), "in a skill requirement"},
		{reflect.TypeFor[AgentSpec](), "in an agent"},
		{reflect.TypeFor[Site](), "in a site"},
	} {
		if p.t.String() == goType {
			return p.where, p.t
		}
	}
	return "in " + goType, nil
}

// yamlKeys lists the keys a struct type accepts in YAML.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
	}
	return keys
}
