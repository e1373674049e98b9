package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// knownHash is an argon2id hash of "secret", as auth.HashPassword makes.
var knownHash = func() string {
	h, err := auth.HashPassword("secret")
	if err != nil {
		panic(err)
	}
	return h
}()

// valid returns a small configuration that passes Validate.
func valid() Config {
	c := Default()
	c.Queues = []routing.QueueConfig{
		{ID: "sales", Steps: []routing.Step{{After: time.Minute, Fallback: "support"}}},
		{ID: "support"},
	}
	c.Agents = []AgentSpec{
		{ID: "alice", Roles: []store.Role{store.RoleAgent}, Skills: map[routing.Skill]int{"english": 5}},
		{ID: "bob", Roles: []store.Role{store.RoleAdmin, store.RoleSupervisor}},
	}
	return c
}

func TestValidateAcceptsGoodConfigurations(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
	}{
		{"the defaults are valid", func(c *Config) { *c = Default() }},
		{"a small complete configuration is valid", func(*Config) {}},
		{"an address with a host is valid", func(c *Config) { c.HTTPAddr = "127.0.0.1:0" }},
		{"an IPv6 address is valid", func(c *Config) { c.HTTPAddr = "[::1]:8080" }},
		{"a postgresql URL is valid", func(c *Config) { c.DatabaseURL = "postgresql://u:p@db:5432/contactd?sslmode=disable" }},
		{"a key=value connection string is valid", func(c *Config) { c.DatabaseURL = "host=db user=contactd dbname=contactd" }},
		{"an upper-case log level is valid", func(c *Config) { c.LogLevel = "WARN" }},
		{"no drain timeout is valid", func(c *Config) { c.DrainTimeout = 0 }},
		{"never setting agents away is valid", func(c *Config) { c.Routing.MaxMissedOffers = 0 }},
		{"SIP off is valid", func(c *Config) { c.SIPListen = "off" }},
		{"a trunk with a number is valid", func(c *Config) {
			c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.0/24", "198.51.100.7"}, Numbers: []TrunkNumber{{Number: "+15551230000", Queue: "sales", Answer: "answer"}}}}
		}},
		{"agents sharing a password hash are valid", func(c *Config) {
			c.Agents[0].PasswordHash, c.Agents[1].PasswordHash = knownHash, knownHash
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateSaysWhatToFix(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"a port that is not a number is refused",
			func(c *Config) { c.HTTPAddr = ":x" }, `http_addr ":x": want host:port such as ":8080"`},
		{"an address without a port is refused",
			func(c *Config) { c.HTTPAddr = "localhost" }, `http_addr "localhost": want host:port`},
		{"a port above 65535 is refused",
			func(c *Config) { c.HTTPAddr = ":70000" }, `http_addr ":70000"`},
		{"an empty data dir is refused",
			func(c *Config) { c.DataDir = "" }, "data_dir is empty"},
		{"a database URL of another kind is refused",
			func(c *Config) { c.DatabaseURL = "mysql://root@db/contactd" }, `database_url: scheme "mysql" is not supported`},
		{"a database URL that is no URL is refused",
			func(c *Config) { c.DatabaseURL = "contactd" }, "database_url: want postgres://"},
		{"a negative drain timeout is refused",
			func(c *Config) { c.DrainTimeout = -time.Second }, "drain_timeout -1s: want zero or more"},
		{"an unknown log level is refused",
			func(c *Config) { c.LogLevel = "verbose" }, `log_level "verbose": want debug, info, warn or error`},
		{"an unknown log format is refused",
			func(c *Config) { c.LogFormat = "xml" }, `log_format "xml": want text or json`},
		{"negative missed offers are refused",
			func(c *Config) { c.Routing.MaxMissedOffers = -1 }, "routing.max_missed_offers -1"},
		{"a queue without an id is refused",
			func(c *Config) { c.Queues = append(c.Queues, routing.QueueConfig{}) }, "queues[2]: routing: queue: id is empty"},
		{"a queue with an unknown strategy is refused",
			func(c *Config) { c.Queues[1].Strategy = "random" }, `queues[1]: routing: queue support: strategy "random"`},
		{"a queue id used twice is refused",
			func(c *Config) { c.Queues = append(c.Queues, routing.QueueConfig{ID: "sales"}) },
			`queues[2]: queue id "sales" is already used by queues[0]`},
		{"a step falling back to an unknown queue is refused",
			func(c *Config) { c.Queues[0].Steps[0].Fallback = "billing" },
			`queue sales: step 1: fallback "billing" is not a queue in the config: want one of sales, support`},
		{"an agent skill level above 10 is refused",
			func(c *Config) { c.Agents[0].Skills["english"] = 11 }, "agents[0]: routing: agent alice: skill english: level 11 is outside 1..10"},
		{"an agent without an id is refused",
			func(c *Config) { c.Agents = append(c.Agents, AgentSpec{}) }, "agents[2]: routing: agent: id is empty"},
		{"an unknown voice device is refused",
			func(c *Config) { c.Agents[0].VoiceDevice = "phone" }, `agent alice: voice_device "phone": want browser or sip`},
		{"a SIP username without a password is refused",
			func(c *Config) { c.Agents[0].SIPUsername = "alice" }, "agent alice: sip_username and sip_password go together"},
		{"a short SIP password is refused",
			func(c *Config) { c.Agents[0].SIPUsername, c.Agents[0].SIPPassword = "alice", "short" },
			"agent alice: sip_password: want at least 12 characters"},
		{"a SIP username that is no URI user part is refused",
			func(c *Config) { c.Agents[0].SIPUsername, c.Agents[0].SIPPassword = "a@b;c", "long enough pw" },
			`agent alice: sip_username "a@b;c"`},
		{"a SIP username used twice is refused",
			func(c *Config) {
				c.Agents[0].SIPUsername, c.Agents[0].SIPPassword = "desk", "long enough pw"
				c.Agents[1].SIPUsername, c.Agents[1].SIPPassword = "desk", "long enough pw"
			}, `sip_username "desk" is also agent alice's`},
		{"voice_device sip without an account is refused",
			func(c *Config) { c.Agents[0].VoiceDevice = "sip" }, "agent alice: voice_device sip needs sip_username"},
		{"a zero SIP flood rate is refused",
			func(c *Config) { c.SIPFloodRate = 0 }, "sip_flood_rate 0"},
		{"an agent id used twice is refused",
			func(c *Config) { c.Agents = append(c.Agents, AgentSpec{ID: "alice"}) },
			`agents[2]: agent id "alice" is already used by agents[0]`},
		{"a password hash that is not argon2id is refused, naming the agent",
			func(c *Config) {
				c.Agents[1].PasswordHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
			},
			`agent bob: password_hash: auth: malformed password hash: 3 fields: want $argon2id$v=19$`},
		{"a truncated password hash is refused",
			func(c *Config) { c.Agents[0].PasswordHash = knownHash[:len(knownHash)-30] },
			`agent alice: password_hash: auth: malformed password hash: hash is not unpadded base64`},
		{"a SIP listener without a transport is refused",
			func(c *Config) { c.SIPListen = ":5060" }, `sip_listen ":5060": want udp://host:port or tcp://host:port`},
		{"a SIP listener over an unknown transport is refused",
			func(c *Config) { c.SIPListen = "udp://:5060,sctp://:5060" }, `sip_listen "sctp://:5060"`},
		{"an RTP port range the wrong way round is refused",
			func(c *Config) { c.RTPPorts = "20000-10000" }, `rtp_ports "20000-10000": want lo-hi`},
		{"a SIP public address that is a name is refused",
			func(c *Config) { c.SIPPublicAddr = "example.com" }, `sip_public_addr "example.com": want a public IP`},
		{"a trunk without sources is refused",
			func(c *Config) { c.Trunks = []Trunk{{Name: "p"}} }, "trunks[0] (p): sources: want the addresses"},
		{"a trunk source that is no address is refused",
			func(c *Config) { c.Trunks = []Trunk{{Name: "p", Sources: []string{"provider.example"}}} }, `trunks[0] (p): sources "provider.example"`},
		{"a number with letters is refused",
			func(c *Config) {
				c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.1"}, Numbers: []TrunkNumber{{Number: "1\r\nX: y", Queue: "sales"}}}}
			}, `trunks[0].numbers[0]: number "1\r\nX: y": want digits`},
		{"a number on two trunks is refused",
			func(c *Config) {
				n := []TrunkNumber{{Number: "100", Queue: "sales"}}
				c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.1"}, Numbers: n}, {Name: "q", Sources: []string{"192.0.2.2"}, Numbers: n}}
			}, `trunks[1].numbers[0]: number "100" is also on trunk p`},
		{"an unknown answer mode is refused",
			func(c *Config) {
				c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.1"}, Numbers: []TrunkNumber{{Number: "100", Queue: "sales", Answer: "ring"}}}}
			}, `answer "ring": want early_media or answer`},
		{"a dial_allow entry that is not a prefix", func(c *Config) { c.DialAllow = []string{"44"} }, `dial_allow "44": want a prefix`},
		{"a trunk's dial_allow entry with letters", func(c *Config) {
			c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.1"}, Host: "sip.p.example", DialAllow: []string{"+44x"}}}
		}, `trunks[0] (p): dial_allow "+44x"`},
		{"a trunk transport other than udp or tcp", func(c *Config) {
			c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.1"}, Host: "sip.p.example", Transport: "tls"}}
		}, `transport "tls": want udp or tcp`},
		{"a host with CR LF", func(c *Config) {
			c.Trunks = []Trunk{{Name: "p", Sources: []string{"192.0.2.1"}, Host: "sip.p.example\r\nX: y"}}
		}, `host and outbound_proxy`},
		{"a country code with a plus", func(c *Config) { c.DialCountryCode = "+44" }, `dial_country_code "+44"`},
		{"a caller ID with CR LF", func(c *Config) { c.DialCallerID = "+44\r\nX: y" }, `dial_caller_id`},
		{"a queue's caller ID that is no number", func(c *Config) { c.DialCallerIDs = map[string]string{"sales": "acme"} }, `dial_caller_ids[sales] "acme"`},
		{"a caller name with CR LF", func(c *Config) { c.DialCallerName = "Acme\r\nX: y" }, `dial_caller_name`},
		{"an unknown dial role", func(c *Config) { c.DialRoles = []string{"root"} }, `dial_roles "root"`},
		{"an unknown dial trunk", func(c *Config) { c.DialTrunk = "nope" }, `dial_trunk "nope"`},
		{"an unknown role is refused",
			func(c *Config) { c.Agents[1].Roles = append(c.Agents[1].Roles, "root") },
			`agent bob: role "root": want agent, supervisor or admin`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := valid()
	c.HTTPAddr = ":x"
	c.LogLevel = "loud"
	c.Queues[1].NoAgents = "hang_up"
	c.Agents[0].Skills["english"] = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted four problems")
	}
	for _, want := range []string{"http_addr", "log_level", "no_agents", "agent alice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, routing.ErrInvalid) {
		t.Errorf("error %v does not wrap routing.ErrInvalid for the queue and agent problems", err)
	}
}

func TestValidateNeverRepeatsADatabasePassword(t *testing.T) {
	for _, url := range []string{"mysql://root:hunter2@db/contactd", "postgres://root:hunter2@db:port/x", "hunter2"} {
		c := valid()
		c.DatabaseURL = url
		err := c.Validate()
		if err == nil {
			t.Errorf("Validate accepted %q", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q repeats the password", err)
		}
	}
}

func TestAPasswordHashIsReadFromTheFileAndChecked(t *testing.T) {
	path := writeFile(t, "agents:\n  - id: load1\n    password_hash: \""+knownHash+"\"\n")
	c, _, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Agents) != 1 || c.Agents[0].PasswordHash != knownHash {
		t.Fatalf("agents = %+v, want load1 with the hash", c.Agents)
	}

	path = writeFile(t, "agents:\n  - id: load1\n    password_hash: \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$\"\n")
	_, _, err = load(t, []string{"--config", path}, nil)
	if err == nil || !strings.Contains(err.Error(), "agent load1: password_hash: auth: malformed password hash") {
		t.Fatalf("Load of a malformed hash: %v", err)
	}
}
