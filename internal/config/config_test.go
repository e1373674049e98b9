package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// env returns a getenv reading from m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes a config file into a fresh temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "contactd.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load calls LoadOutput and returns what it printed too.
func load(t *testing.T, args []string, environ map[string]string) (Config, string, error) {
	t.Helper()
	var out bytes.Buffer
	c, err := LoadOutput(args, env(environ), &out)
	return c, out.String(), err
}

func TestLoadWithNothingGivenReturnsTheDefaults(t *testing.T) {
	c, out, err := load(t, nil, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v, want the defaults %+v", c, Default())
	}
	if out != "" {
		t.Errorf("printed %q, want nothing", out)
	}
	want := Config{HTTPAddr: ":8080", DataDir: "./data", DrainTimeout: 30 * time.Second,
		LogLevel: "info", LogFormat: "text", VisitorGrace: time.Minute, WidgetSessionsPerAddress: 10, WidgetSessionRate: 30, Routing: RoutingSettings{MaxMissedOffers: 2},
		MediaAddr: ":40000", MediaTimeout: 20 * time.Second, MediaCodec: "PCMU",
		Security: Security{ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
			MaxConnsPerAddress: 256, MaxSocketsPerVisitor: 4},
		SIP:         SIP{SIPListen: "udp://:5060,tcp://:5060", RTPPorts: "10000-20000", SIPUserAgent: "contactd", AnnounceInterval: time.Minute},
		SIPSecurity: SIPSecurity{SIPFloodRate: 50, SIPFloodBurst: 200}}
	if !reflect.DeepEqual(Default(), want) {
		t.Errorf("Default() = %+v, want %+v", Default(), want)
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "http_addr: \":1001\"\ndrain_timeout: 10s\n")
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantAddr string
		wantTO   time.Duration
	}{
		{"the default applies when nothing sets a value", nil, nil, ":8080", 30 * time.Second},
		{"the file overrides the default", []string{"--config", file}, nil, ":1001", 10 * time.Second},
		{"the environment overrides the file",
			[]string{"--config", file},
			map[string]string{"CONTACTD_HTTP_ADDR": ":1002", "CONTACTD_DRAIN_TIMEOUT": "20s"},
			":1002", 20 * time.Second},
		{"a flag overrides the environment",
			[]string{"--config", file, "--http-addr", ":1003", "-drain-timeout=40s"},
			map[string]string{"CONTACTD_HTTP_ADDR": ":1002", "CONTACTD_DRAIN_TIMEOUT": "20s"},
			":1003", 40 * time.Second},
		{"an empty environment variable counts as unset",
			[]string{"--config", file},
			map[string]string{"CONTACTD_HTTP_ADDR": "", "CONTACTD_DRAIN_TIMEOUT": ""},
			":1001", 10 * time.Second},
		{"the file named by CONTACTD_CONFIG is read",
			nil, map[string]string{"CONTACTD_CONFIG": file}, ":1001", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.HTTPAddr != tt.wantAddr || c.DrainTimeout != tt.wantTO {
				t.Errorf("got http_addr %q, drain_timeout %s; want %q, %s", c.HTTPAddr, c.DrainTimeout, tt.wantAddr, tt.wantTO)
			}
		})
	}
}

func TestTheConfigFlagWinsOverTheEnvironment(t *testing.T) {
	fromEnv := writeFile(t, "http_addr: \":2001\"\n")
	fromFlag := writeFile(t, "http_addr: \":2002\"\n")
	c, _, err := load(t, []string{"--config", fromFlag}, map[string]string{"CONTACTD_CONFIG": fromEnv})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTPAddr != ":2002" || c.ConfigFile != fromFlag {
		t.Errorf("got http_addr %q from %q, want \":2002\" from %q", c.HTTPAddr, c.ConfigFile, fromFlag)
	}
}

// Every setting can be given as a flag and as an environment variable.
func TestEverySettingIsReadFromItsFlagAndItsVariable(t *testing.T) {
	want := Config{
		HTTPAddr:                 "127.0.0.1:9090",
		DataDir:                  "/var/lib/contactd",
		DatabaseURL:              "postgres://u@127.0.0.1:5432/db",
		DrainTimeout:             5 * time.Second,
		LogLevel:                 "debug",
		LogFormat:                "json",
		Demo:                     true,
		AllowedOrigins:           []string{"https://shop.example.com", "http://localhost:3000"},
		VisitorGrace:             90 * time.Second,
		WidgetSessionsPerAddress: 3,
		WidgetSessionRate:        12,
		MediaAddr:                "127.0.0.1:40100",
		MediaPublicIPs:           []string{"203.0.113.7"},
		MediaTimeout:             7 * time.Second,
		MediaCodec:               "PCMA",
		Routing:                  RoutingSettings{MaxMissedOffers: 2},
		Security: Security{PublicURL: "https://contact.example.com", StaffOrigins: []string{"https://admin.example.com"},
			TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"}, ReadTimeout: 11 * time.Second, WriteTimeout: 12 * time.Second,
			IdleTimeout: 13 * time.Second, MaxConnsPerAddress: 50, MaxSocketsPerVisitor: 3, LoginConcurrency: 2,
			MetricsAddr: "127.0.0.1:9100", MetricsToken: "s3cret", MetricsPerAgent: true},
		SIP: SIP{SIPListen: "udp://127.0.0.1:5070", SIPPublicAddr: "203.0.113.8", RTPPorts: "30000-30100",
			SIPDomain: "sip.example.com", SIPUserAgent: "cc/1", SIPDropUnknown: true, AnnounceInterval: 45 * time.Second, PromptsDir: "/etc/contactd/prompts"},
		SIPSecurity: SIPSecurity{SIPFloodRate: 7, SIPFloodBurst: 9},
	}
	secArgs := []string{"--public-url", "https://contact.example.com", "--staff-origins", "https://admin.example.com",
		"--trusted-proxies", "10.0.0.0/8,192.0.2.1", "--http-read-timeout", "11s", "--http-write-timeout", "12s",
		"--http-idle-timeout", "13s", "--max-conns-per-address", "50", "--max-sockets-per-visitor", "3", "--login-concurrency", "2",
		"--metrics-addr", "127.0.0.1:9100", "--metrics-token", "s3cret", "--metrics-per-agent"}
	args := []string{"--media-addr", "127.0.0.1:40100", "--media-public-ips", "203.0.113.7", "--media-timeout", "7s", "--media-codec", "PCMA", "--http-addr", want.HTTPAddr, "--data-dir", want.DataDir, "--database-url", want.DatabaseURL,
		"--drain-timeout", "5s", "--log-level", "debug", "--log-format", "json", "--demo",
		"--allowed-origins", "https://shop.example.com, http://localhost:3000", "--visitor-grace", "90s",
		"--widget-sessions-per-address", "3", "--widget-session-rate", "12"}
	args = append(args, secArgs...)
	args = append(args, "--sip-listen", "udp://127.0.0.1:5070", "--sip-public-addr", "203.0.113.8", "--rtp-ports", "30000-30100",
		"--sip-domain", "sip.example.com", "--sip-user-agent", "cc/1", "--sip-drop-unknown", "--announce-interval", "45s", "--prompts-dir", "/etc/contactd/prompts",
		"--sip-flood-rate", "7", "--sip-flood-burst", "9")
	environ := map[string]string{
		"CONTACTD_PUBLIC_URL": "https://contact.example.com", "CONTACTD_STAFF_ORIGINS": "https://admin.example.com",
		"CONTACTD_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1", "CONTACTD_HTTP_READ_TIMEOUT": "11s", "CONTACTD_HTTP_WRITE_TIMEOUT": "12s",
		"CONTACTD_HTTP_IDLE_TIMEOUT": "13s", "CONTACTD_MAX_CONNS_PER_ADDRESS": "50", "CONTACTD_MAX_SOCKETS_PER_VISITOR": "3",
		"CONTACTD_LOGIN_CONCURRENCY": "2", "CONTACTD_METRICS_ADDR": "127.0.0.1:9100", "CONTACTD_METRICS_TOKEN": "s3cret",
		"CONTACTD_METRICS_PER_AGENT": "true",
		"CONTACTD_HTTP_ADDR":         want.HTTPAddr, "CONTACTD_DATA_DIR": want.DataDir, "DATABASE_URL": want.DatabaseURL,
		"CONTACTD_DRAIN_TIMEOUT": "5s", "CONTACTD_LOG_LEVEL": "debug", "CONTACTD_LOG_FORMAT": "json", "CONTACTD_DEMO": "true",
		"CONTACTD_ALLOWED_ORIGINS": "https://shop.example.com,http://localhost:3000", "CONTACTD_VISITOR_GRACE": "90s",
		"CONTACTD_WIDGET_SESSIONS_PER_ADDRESS": "3", "CONTACTD_WIDGET_SESSION_RATE": "12",
		"CONTACTD_MEDIA_ADDR": "127.0.0.1:40100", "CONTACTD_MEDIA_PUBLIC_IPS": "203.0.113.7", "CONTACTD_MEDIA_TIMEOUT": "7s", "CONTACTD_MEDIA_CODEC": "PCMA",
		"CONTACTD_SIP_LISTEN": "udp://127.0.0.1:5070", "CONTACTD_SIP_PUBLIC_ADDR": "203.0.113.8", "CONTACTD_RTP_PORTS": "30000-30100",
		"CONTACTD_SIP_DOMAIN": "sip.example.com", "CONTACTD_SIP_USER_AGENT": "cc/1", "CONTACTD_SIP_DROP_UNKNOWN": "true",
		"CONTACTD_ANNOUNCE_INTERVAL": "45s", "CONTACTD_PROMPTS_DIR": "/etc/contactd/prompts",
		"CONTACTD_SIP_FLOOD_RATE": "7", "CONTACTD_SIP_FLOOD_BURST": "9",
	}
	t.Run("from flags", func(t *testing.T) {
		c, _, err := load(t, args, nil)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got %+v, want %+v", c, want)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		c, _, err := load(t, nil, environ)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got %+v, want %+v", c, want)
		}
	})
	t.Run("a false demo flag overrides a true variable", func(t *testing.T) {
		c, _, err := load(t, []string{"--demo=false"}, map[string]string{"CONTACTD_DEMO": "true"})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if c.Demo {
			t.Error("demo is on, want off")
		}
	})
}

func TestHelpPrintsUsageAndReturnsErrHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		t.Run(arg+" prints the usage", func(t *testing.T) {
			_, out, err := load(t, []string{arg}, nil)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v, want flag.ErrHelp", err)
			}
			if !strings.Contains(out, "Usage: contactd") {
				t.Errorf("output does not start the usage:\n%s", out)
			}
		})
	}
}

func TestUsageDocumentsEverySetting(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	out := b.String()
	for _, s := range settings() {
		for _, want := range []string{"--" + s.flag, s.env, s.usage} {
			if !strings.Contains(out, want) {
				t.Errorf("usage lacks %q", want)
			}
		}
		if s.yaml != "" && !strings.Contains(out, "yaml "+s.yaml) {
			t.Errorf("usage lacks the yaml key %q", s.yaml)
		}
	}
	for _, want := range []string{
		`default ":8080"`, `default "./data"`, "default 30s", `default "info"`, `default "text"`, "default false",
		"routing.max_missed_offers (default 2)", "queues", "agents", SampleConfigPath,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	// Every top-level key of the file is documented.
	for _, key := range yamlKeys(reflect.TypeFor[Config]()) {
		if !strings.Contains(out, key) {
			t.Errorf("usage does not mention the file key %q", key)
		}
	}
}

func TestBadFlagsAndArgumentsAreErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown flag is named", []string{"--htp-addr", ":1"}, "htp-addr"},
		{"a bad duration flag names the flag", []string{"--drain-timeout", "soon"}, "drain-timeout"},
		{"a bad boolean flag names the flag", []string{"--demo=perhaps"}, "demo"},
		{"a positional argument is refused", []string{"serve"}, `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, err := load(t, tt.args, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q, want nothing: the caller prints the error", out)
			}
		})
	}
}

func TestBadEnvironmentValuesNameTheVariable(t *testing.T) {
	_, _, err := load(t, nil, map[string]string{
		"CONTACTD_DRAIN_TIMEOUT": "soon",
		"CONTACTD_DEMO":          "perhaps",
	})
	if err == nil {
		t.Fatal("Load accepted bad variables")
	}
	for _, want := range []string{"CONTACTD_DRAIN_TIMEOUT", `"soon"`, "30s", "CONTACTD_DEMO", `"perhaps"`, "true or false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestFileErrorsSayWhereAndWhat(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"an unknown top-level key is named with its line",
			"http_addr: \":8080\"\nhttp_adr: \":9090\"\n",
			[]string{`line 2: unknown key "http_adr" at the top level`, "known keys: http_addr, data_dir"}},
		{"an unknown key inside a queue is named with its line",
			"queues:\n  - id: sales\n    offer_timout: 30s\n",
			[]string{`line 3: unknown key "offer_timout" in a queue`, "offer_timeout"}},
		{"an unknown key inside a queue step is named with its line",
			"queues:\n  - id: sales\n    steps:\n      - after: 60s\n        fallbak: support\n",
			[]string{`line 5: unknown key "fallbak" in a queue step`, "fallback"}},
		{"an unknown key inside an agent is named with its line",
			"agents:\n  - id: alice\n    password: secret\n",
			[]string{`line 3: unknown key "password" in an agent`, "display_name"}},
		{"an unknown key inside routing is named with its line",
			"routing:\n  max_missed: 3\n",
			[]string{`line 2: unknown key "max_missed" in routing`, "max_missed_offers"}},
		{"a duration without a unit is refused",
			"drain_timeout: 30\n",
			[]string{`line 1: "30" is not a duration`, "such as 30s"}},
		{"a misspelt duration is refused",
			"queues:\n  - id: sales\n    max_wait: 5 min\n",
			[]string{`line 3: "5 min" is not a duration`}},
		{"a key given twice is refused",
			"log_level: info\nlog_level: debug\n",
			[]string{"line 2", "log_level", "already defined at line 1"}},
		{"a second document is refused",
			"log_level: info\n---\nlog_level: debug\n",
			[]string{"more than one YAML document"}},
		{"broken YAML is refused with its line",
			"queues: [\n",
			[]string{"line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.yaml)
			_, _, err := load(t, []string{"--config", path}, nil)
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			for _, want := range append(tt.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestAMissingConfigFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, _, err := load(t, []string{"--config", path}, nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want a not-exist error naming %s", err, path)
	}
}

func TestAnEmptyFileKeepsTheDefaults(t *testing.T) {
	path := writeFile(t, "# nothing here\n")
	c, _, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.ConfigFile = path
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestLoadValidates(t *testing.T) {
	path := writeFile(t, "log_level: loud\n")
	_, _, err := load(t, []string{"--config", path, "--http-addr", "8080"}, nil)
	if err == nil {
		t.Fatal("Load accepted an invalid configuration")
	}
	for _, want := range []string{path, `log_level "loud"`, `http_addr "8080"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestTheSampleConfigLoadsAndIsValid(t *testing.T) {
	path := filepath.Join("..", "..", SampleConfigPath)
	c, _, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every top-level key is shown", func(t *testing.T) {
		for _, key := range yamlKeys(reflect.TypeFor[Config]()) {
			if !regexp.MustCompile(`(?m)^` + key + `:`).Match(data) {
				t.Errorf("the sample does not set %q", key)
			}
		}
	})
	t.Run("every queue and agent key is shown", func(t *testing.T) {
		for _, key := range append(yamlKeys(reflect.TypeFor[routing.QueueConfig]()), yamlKeys(reflect.TypeFor[AgentSpec]())...) {
			if !regexp.MustCompile(`(?m)^\s+(- )?` + key + `:`).Match(data) {
				t.Errorf("the sample does not show %q", key)
			}
		}
	})
	t.Run("queues sales and support are read with their durations", func(t *testing.T) {
		if len(c.Queues) != 2 || c.Queues[0].ID != "sales" || c.Queues[1].ID != "support" {
			t.Fatalf("queues = %+v, want sales and support", c.Queues)
		}
		sales := c.Queues[0]
		if sales.OfferTimeout != 2*time.Minute || sales.ServiceLevel != 20*time.Second || sales.WrapUp != 30*time.Second {
			t.Errorf("sales durations = offer %s, service level %s, wrap-up %s; want 2m, 20s, 30s",
				sales.OfferTimeout, sales.ServiceLevel, sales.WrapUp)
		}
		wantSteps := []routing.Step{
			{After: 60 * time.Second, Skills: []routing.SkillReq{{Skill: "english", MinLevel: 1}}},
			{After: 3 * time.Minute, Fallback: "support"},
		}
		if !reflect.DeepEqual(sales.Steps, wantSteps) {
			t.Errorf("sales steps = %+v, want %+v", sales.Steps, wantSteps)
		}
		support := c.Queues[1]
		last := support.Steps[len(support.Steps)-1]
		if last.Skills == nil || len(last.Skills) != 0 || last.Fallback != "sales" {
			t.Errorf("support's last step = %+v, want skills dropped (empty, not nil) and fallback sales", last)
		}
	})
	t.Run("agents are read, with roles defaulting to agent", func(t *testing.T) {
		byID := map[routing.AgentID]AgentSpec{}
		for _, a := range c.Agents {
			byID[a.ID] = a
		}
		if got := byID["chen"].Roles; !reflect.DeepEqual(got, []store.Role{store.RoleAgent}) {
			t.Errorf("chen's roles = %v, want [agent]", got)
		}
		if got := byID["alice"].Roles; !reflect.DeepEqual(got, []store.Role{store.RoleAgent, store.RoleSupervisor}) {
			t.Errorf("alice's roles = %v, want [agent supervisor]", got)
		}
		if got := byID["bruno"].Skills["german"]; got != 10 {
			t.Errorf("bruno's german = %d, want 10", got)
		}
		if got := byID["admin"].Capacity; got == nil || len(got) != 0 {
			t.Errorf("admin's capacity = %#v, want an empty, non-nil map", got)
		}
	})
}

func TestAgentConfigCarriesTheRoutingFields(t *testing.T) {
	a := AgentSpec{
		ID: "alice", DisplayName: "Alice", Roles: []store.Role{store.RoleAdmin},
		Skills:          map[routing.Skill]int{"english": 5},
		Capacity:        map[routing.Channel]int{routing.ChannelChat: 2},
		VoiceBlocksChat: true,
	}
	want := routing.AgentConfig{ID: "alice", Skills: a.Skills, Capacity: a.Capacity, VoiceBlocksChat: true}
	if got := a.AgentConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("AgentConfig() = %+v, want %+v", got, want)
	}
}

func TestLoggerHonoursFormatAndLevel(t *testing.T) {
	var b bytes.Buffer
	c := Default()
	c.LogFormat, c.LogLevel = "json", "warn"
	log := c.Logger(&b)
	log.Info("hidden")
	log.Warn("shown", "queue", "sales")
	got := b.String()
	if strings.Contains(got, "hidden") {
		t.Errorf("an info line was written at level warn: %s", got)
	}
	if !strings.HasPrefix(got, "{") || !strings.Contains(got, `"queue":"sales"`) {
		t.Errorf("output is not the JSON line expected: %s", got)
	}
}

func TestBadVoiceSettingsAreNamed(t *testing.T) {
	path := writeFile(t, "media_addr: nope\nmedia_timeout: 10ms\nmedia_codec: opus\nmedia_public_ips: [not-an-ip]\nice_servers:\n  - urls: [http://x]\n")
	_, _, err := load(t, []string{"--config", path}, nil)
	if err == nil {
		t.Fatal("Load accepted bad voice settings")
	}
	for _, want := range []string{`media_addr "nope"`, "media_timeout 10ms", `media_codec "opus"`, `media_public_ips "not-an-ip"`, `ice_servers[0]: url "http://x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	off := writeFile(t, "media_addr: \"off\"\nmedia_codec: opus\n")
	c, _, err := load(t, []string{"--config", off}, nil)
	if err != nil || c.VoiceOn() {
		t.Errorf("media_addr off: err %v, voice on %t; want no error (the other voice settings do not matter) and voice off", err, c.VoiceOn())
	}
}

func TestAQueueOfTheFileWithoutNoAgentsLetsVisitorsLeaveAMessage(t *testing.T) {
	path := writeFile(t, "queues:\n  - id: plain\n  - id: patient\n    no_agents: wait\n")
	c, _, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := []routing.NoAgentsPolicy{c.Queues[0].NoAgents, c.Queues[1].NoAgents}; got[0] != routing.NoAgentsLeave || got[1] != routing.NoAgentsWait {
		t.Fatalf("no_agents %v, want leave by default and wait where the file says so", got)
	}
}
