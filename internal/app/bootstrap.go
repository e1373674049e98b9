package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/contactd/contactd/internal/auth"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/postgres"
	"github.com/contactd/contactd/internal/store/sqlite"
	"github.com/contactd/contactd/routing"
)

// SQLiteFile is the name of the embedded store's file in the data dir.
const SQLiteFile = "contactd.db"

// openStore opens PostgreSQL when a database URL is set, else the embedded
// SQLite file in the data dir. Both apply their migrations on open.
func openStore(ctx context.Context, cfg config.Config) (store.Store, string, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, "", fmt.Errorf("open PostgreSQL: %w", err)
		}
		return st, "postgres", nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, "", fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, SQLiteFile)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, "", fmt.Errorf("open embedded store %s: %w", path, err)
	}
	return st, "sqlite:" + path, nil
}

// SampleQueues are created on a first start when neither the store nor the
// configuration has any queue, so that a bare `contactd` is ready to try.
func SampleQueues() []routing.QueueConfig {
	return []routing.QueueConfig{
		{
			ID: "sales", Name: "Sales", Strategy: routing.StrategyLongestIdle, NoAgents: routing.NoAgentsLeave,
			Skills: []routing.SkillReq{{Skill: "english", MinLevel: 3}},
			WrapUp: 30 * time.Second, ServiceLevel: 20 * time.Second,
			Steps: []routing.Step{
				{After: 60 * time.Second, Skills: []routing.SkillReq{{Skill: "english", MinLevel: 1}}},
				{After: 3 * time.Minute, Fallback: "support"},
			},
		},
		{
			ID: "support", Name: "Customer support", Strategy: routing.StrategyBestSkill, NoAgents: routing.NoAgentsLeave,
			Skills: []routing.SkillReq{{Skill: "technical", MinLevel: 2}},
			WrapUp: time.Minute, ServiceLevel: 30 * time.Second, DefaultHandleTime: 5 * time.Minute,
			Steps: []routing.Step{{After: 2 * time.Minute, Skills: []routing.SkillReq{}, Fallback: "sales"}},
		},
	}
}

// DemoAgents are created by --demo when they do not exist yet.
func DemoAgents() []config.AgentSpec {
	return []config.AgentSpec{
		{ID: "alice", DisplayName: "Alice Martin", Roles: []store.Role{store.RoleAgent},
			Skills: map[routing.Skill]int{"english": 9, "german": 6, "billing": 7}},
		{ID: "bob", DisplayName: "Bob Okafor", Roles: []store.Role{store.RoleAgent},
			Skills: map[routing.Skill]int{"english": 7, "technical": 8}},
		{ID: "carla", DisplayName: "Carla Rossi", Roles: []store.Role{store.RoleAgent, store.RoleSupervisor},
			Skills: map[routing.Skill]int{"english": 5, "technical": 4, "billing": 5}},
	}
}

type credential struct {
	id       routing.AgentID
	roles    []store.Role
	password string
}

// seed makes the store hold what the configuration says: its queues
// (replacing stored ones of the same id), its accounts (created with a
// generated password when missing; skills, capacity and roles updated when
// present), the sample queues on an empty store, the demo accounts with
// --demo, and an "admin" account when no account has the admin role. It returns
// the passwords it generated, to be shown once.
func seed(ctx context.Context, st store.Store, cfg config.Config, now time.Time) ([]credential, error) {
	queues := cfg.Queues
	if len(queues) == 0 {
		stored, err := st.ListQueues(ctx)
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		if len(stored) == 0 {
			queues = SampleQueues()
		}
	}
	for _, q := range queues {
		if err := st.UpsertQueue(ctx, q); err != nil {
			return nil, fmt.Errorf("store queue %s: %w", q.ID, err)
		}
	}
	specs := slices.Clone(cfg.Agents)
	if cfg.Demo {
		specs = append(specs, DemoAgents()...)
	}
	var creds []credential
	for _, sp := range specs {
		c, err := ensureAccount(ctx, st, sp, now)
		if err != nil {
			return nil, err
		}
		if c != nil {
			creds = append(creds, *c)
		}
	}
	all, err := st.ListAgents(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if !slices.ContainsFunc(all, func(a store.Agent) bool { return slices.Contains(a.Roles, store.RoleAdmin) }) {
		c, err := ensureAccount(ctx, st, config.AgentSpec{ID: "admin", DisplayName: "Administrator",
			Roles: []store.Role{store.RoleAdmin, store.RoleSupervisor}, Capacity: map[routing.Channel]int{}}, now)
		if err != nil {
			return nil, err
		}
		creds = append(creds, *c)
	}
	return creds, nil
}

// ensureAccount creates the account sp when it is missing, with the
// password hash sp gives or a generated password, which it returns to be
// shown once; an existing account gets sp's profile, routing settings and
// roles and keeps its password.
func ensureAccount(ctx context.Context, st store.Store, sp config.AgentSpec, now time.Time) (*credential, error) {
	roles := sp.Roles
	if len(roles) == 0 {
		roles = []store.Role{store.RoleAgent}
	}
	a, err := st.GetAgent(ctx, sp.ID)
	if err == nil {
		a.DisplayName, a.Roles, a.Skills, a.Capacity, a.VoiceBlocksChat = sp.DisplayName, roles, sp.Skills, sp.Capacity, sp.VoiceBlocksChat
		a.UpdatedAt = now
		if err := st.UpdateAgent(ctx, a); err != nil {
			return nil, fmt.Errorf("update account %s: %w", sp.ID, err)
		}
		return nil, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read account %s: %w", sp.ID, err)
	}
	// A hash from the file is the password; otherwise one is generated and
	// returned to be printed once.
	hash, pw := sp.PasswordHash, ""
	if hash != "" {
		if err := config.CheckPasswordHash(hash); err != nil {
			return nil, fmt.Errorf("create account %s: password_hash: %w", sp.ID, err)
		}
	} else {
		if pw, err = auth.GeneratePassword(); err != nil {
			return nil, err
		}
		if hash, err = auth.HashPassword(pw); err != nil {
			return nil, err
		}
	}
	name := sp.DisplayName
	if name == "" {
		name = string(sp.ID)
	}
	err = st.CreateAgent(ctx, store.Agent{
		ID: sp.ID, DisplayName: name, PasswordHash: hash, Roles: roles, Skills: sp.Skills, Capacity: sp.Capacity,
		VoiceBlocksChat: sp.VoiceBlocksChat, Presence: routing.PresenceOffline, PresenceSince: now, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return nil, fmt.Errorf("create account %s: %w", sp.ID, err)
	}
	if pw == "" {
		return nil, nil // its password is the configured hash's: nothing to show
	}
	return &credential{id: sp.ID, roles: roles, password: pw}, nil
}

func printCredentials(w io.Writer, creds []credential) {
	if len(creds) == 0 {
		return
	}
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "New accounts were created. Their passwords are shown this once; store them now:")
	for _, c := range creds {
		fmt.Fprintf(w, "  %-12s %-24s password: %s\n", c.id, fmt.Sprint(c.roles), c.password)
	}
	fmt.Fprintln(w, "")
}

// restoreState reads what routing needs after a (re)start: queues,
// accounts with their presence, open interactions, and the statistics
// replayed from the whole event log.
func restoreState(ctx context.Context, st store.Store) (routing.RestoreState, error) {
	var s routing.RestoreState
	var err error
	if s.Queues, err = st.ListQueues(ctx); err != nil {
		return s, fmt.Errorf("list queues: %w", err)
	}
	agents, err := st.ListAgents(ctx)
	if err != nil {
		return s, fmt.Errorf("list accounts: %w", err)
	}
	for _, a := range agents {
		s.Agents = append(s.Agents, routing.AgentRestore{
			Config:   routing.AgentConfig{ID: a.ID, Skills: a.Skills, Capacity: a.Capacity, VoiceBlocksChat: a.VoiceBlocksChat},
			Presence: a.Presence, Reason: a.AwayReason, Since: a.PresenceSince,
		})
	}
	open, err := st.ListOpenInteractions(ctx)
	if err != nil {
		return s, fmt.Errorf("list open interactions: %w", err)
	}
	for _, in := range open {
		s.Interactions = append(s.Interactions, routing.InteractionInfo{
			ID: in.ID, Channel: in.Channel, Queue: in.Queue, Skills: in.Skills, PreferredAgent: in.PreferredAgent,
			Priority: in.Priority, Status: in.Status, Agent: in.Agent, EnqueuedAt: in.EnqueuedAt,
			AcceptedAt: in.AcceptedAt, EndedAt: in.EndedAt, EndReason: in.EndReason,
		})
	}
	if s.LastSeq, err = st.MaxEventSeq(ctx); err != nil {
		return s, fmt.Errorf("read the event log: %w", err)
	}
	sl := map[routing.QueueID]time.Duration{}
	for _, q := range s.Queues {
		sl[q.ID] = q.WithDefaults().ServiceLevel
	}
	s.Stats = routing.NewStats(func(q routing.QueueID) time.Duration {
		if d, ok := sl[q]; ok {
			return d
		}
		return routing.DefaultServiceLevel
	})
	for after := int64(0); ; {
		evs, err := st.ListEventsAfter(ctx, after, 5000)
		if err != nil {
			return s, fmt.Errorf("replay the event log: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			s.Stats.Apply(ev)
		}
		after = evs[len(evs)-1].Seq
	}
	return s, nil
}
