package routing

import (
	"fmt"
	"time"
)

// Defaults applied by QueueConfig.WithDefaults and AgentConfig.WithDefaults.
const (
	DefaultOfferTimeout    = 120 * time.Second
	DefaultServiceLevel    = 20 * time.Second
	DefaultHandleTime      = 3 * time.Minute
	DefaultMaxMissedOffers = 2
	DefaultVoiceCapacity   = 1
	DefaultChatCapacity    = 4
)

// QueueConfig is everything routing needs to know about a queue.
type QueueConfig struct {
	ID   QueueID `json:"id" yaml:"id"`
	Name string  `json:"name,omitempty" yaml:"name"`
	// Skills every interaction of this queue requires (on top of its own).
	Skills   []SkillReq `json:"skills,omitempty" yaml:"skills"`
	Strategy Strategy   `json:"strategy,omitempty" yaml:"strategy"`
	// OfferTimeout is how long an agent has to answer an offer.
	OfferTimeout time.Duration `json:"offerTimeout,omitempty" yaml:"offer_timeout"`
	// MaxWait is the longest an interaction waits before it leaves with
	// reason timeout; 0 waits for ever.
	MaxWait time.Duration `json:"maxWait,omitempty" yaml:"max_wait"`
	// NoAgents says what happens when nobody who could take an interaction
	// is logged in.
	NoAgents NoAgentsPolicy `json:"noAgents,omitempty" yaml:"no_agents"`
	// ServiceLevel is the answer-time threshold of the service level.
	ServiceLevel time.Duration `json:"serviceLevel,omitempty" yaml:"service_level"`
	// WrapUp is how long the agent's slot stays in wrap-up after an
	// interaction of this queue ends; 0 means no wrap-up.
	WrapUp time.Duration `json:"wrapUp,omitempty" yaml:"wrap_up"`
	// DefaultHandleTime seeds the estimated wait until handle times have
	// been measured.
	DefaultHandleTime time.Duration `json:"defaultHandleTime,omitempty" yaml:"default_handle_time"`
	// Steps change an interaction's requirements as it waits, in order of
	// After.
	Steps []Step `json:"steps,omitempty" yaml:"steps"`
}

// Step is a change that applies to an interaction once it has waited After
// in the queue: its skill requirement is replaced by Skills (when Skills is
// not nil; an empty, non-nil list drops every requirement), and agents of the
// Fallback queue (when set) may take it too.
type Step struct {
	After    time.Duration `json:"after" yaml:"after"`
	Skills   []SkillReq    `json:"skills,omitempty" yaml:"skills"`
	Fallback QueueID       `json:"fallback,omitempty" yaml:"fallback"`
}

// WithDefaults returns c with unset fields set to their defaults.
func (c QueueConfig) WithDefaults() QueueConfig {
	if c.Strategy == "" {
		c.Strategy = StrategyLongestIdle
	}
	if c.OfferTimeout == 0 {
		c.OfferTimeout = DefaultOfferTimeout
	}
	if c.NoAgents == "" {
		c.NoAgents = NoAgentsWait
	}
	if c.ServiceLevel == 0 {
		c.ServiceLevel = DefaultServiceLevel
	}
	if c.DefaultHandleTime == 0 {
		c.DefaultHandleTime = DefaultHandleTime
	}
	if c.Name == "" {
		c.Name = string(c.ID)
	}
	return c
}

// Validate says what is wrong with c, if anything.
func (c QueueConfig) Validate() error {
	if c.ID == "" {
		return invalid("queue: id is empty")
	}
	switch c.Strategy {
	case "", StrategyLongestIdle, StrategyLeastOccupied, StrategyRoundRobin, StrategyBestSkill, StrategyRingAll:
	default:
		return invalid(fmt.Sprintf("queue %s: strategy %q is not one of longest_idle, least_occupied, round_robin, best_skill, ring_all", c.ID, c.Strategy))
	}
	switch c.NoAgents {
	case "", NoAgentsWait, NoAgentsLeave:
	default:
		return invalid(fmt.Sprintf("queue %s: no_agents %q is not one of wait, leave", c.ID, c.NoAgents))
	}
	if c.OfferTimeout < 0 || c.MaxWait < 0 || c.ServiceLevel < 0 || c.WrapUp < 0 || c.DefaultHandleTime < 0 {
		return invalid(fmt.Sprintf("queue %s: durations must not be negative", c.ID))
	}
	if err := validateSkills(c.Skills); err != nil {
		return invalid(fmt.Sprintf("queue %s: %v", c.ID, err))
	}
	var last time.Duration
	for i, s := range c.Steps {
		if s.After <= 0 || s.After < last {
			return invalid(fmt.Sprintf("queue %s: step %d: after must be positive and steps in increasing order", c.ID, i+1))
		}
		last = s.After
		if s.Fallback == c.ID {
			return invalid(fmt.Sprintf("queue %s: step %d: fallback is the queue itself", c.ID, i+1))
		}
		if err := validateSkills(s.Skills); err != nil {
			return invalid(fmt.Sprintf("queue %s: step %d: %v", c.ID, i+1, err))
		}
	}
	return nil
}

func validateSkills(reqs []SkillReq) error {
	for _, r := range reqs {
		if r.Skill == "" {
			return fmt.Errorf("a skill name is empty")
		}
		if r.MinLevel < 0 || r.MinLevel > MaxSkillLevel {
			return fmt.Errorf("skill %s: min level %d is outside 0..%d", r.Skill, r.MinLevel, MaxSkillLevel)
		}
	}
	return nil
}

// AgentConfig is everything routing needs to know about an agent.
type AgentConfig struct {
	ID AgentID `json:"id" yaml:"id"`
	// Skills maps each skill the agent has to a level from 1 to 10.
	Skills map[Skill]int `json:"skills,omitempty" yaml:"skills"`
	// Capacity is how many interactions of each channel the agent takes at
	// once. Nil means the default: 1 voice and 4 chats. A channel missing
	// from a non-nil map has capacity 0.
	Capacity map[Channel]int `json:"capacity,omitempty" yaml:"capacity"`
	// VoiceBlocksChat, when true, stops new chats from being offered while
	// the agent is on a call (chats in progress go on).
	VoiceBlocksChat bool `json:"voiceBlocksChat,omitempty" yaml:"voice_blocks_chat"`
}

// WithDefaults returns c with unset fields set to their defaults.
func (c AgentConfig) WithDefaults() AgentConfig {
	if c.Capacity == nil {
		c.Capacity = map[Channel]int{ChannelVoice: DefaultVoiceCapacity, ChannelChat: DefaultChatCapacity}
	}
	return c
}

// Validate says what is wrong with c, if anything.
func (c AgentConfig) Validate() error {
	if c.ID == "" {
		return invalid("agent: id is empty")
	}
	for s, l := range c.Skills {
		if s == "" {
			return invalid(fmt.Sprintf("agent %s: a skill name is empty", c.ID))
		}
		if l < MinSkillLevel || l > MaxSkillLevel {
			return invalid(fmt.Sprintf("agent %s: skill %s: level %d is outside %d..%d", c.ID, s, l, MinSkillLevel, MaxSkillLevel))
		}
	}
	for ch, n := range c.Capacity {
		if ch == "" || n < 0 || n > 100 {
			return invalid(fmt.Sprintf("agent %s: capacity %q=%d must name a channel and be 0..100", c.ID, ch, n))
		}
	}
	return nil
}
