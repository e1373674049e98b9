package sqlutil

import (
	"encoding/json"
	"time"

	"github.com/contactd/contactd/routing"
)

// A queue is stored as one JSON document. It is not routing.QueueConfig's own
// JSON: that one drops empty lists (omitempty), and a step whose Skills is
// empty but not nil means "drop every requirement", unlike a nil one. The
// document keeps QueueConfig's field names and drops nothing, so nil stays
// nil and empty stays empty.
type queueDoc struct {
	ID                routing.QueueID        `json:"id"`
	Name              string                 `json:"name"`
	Skills            []routing.SkillReq     `json:"skills"`
	Strategy          routing.Strategy       `json:"strategy"`
	OfferTimeout      time.Duration          `json:"offerTimeout"`
	MaxWait           time.Duration          `json:"maxWait"`
	NoAgents          routing.NoAgentsPolicy `json:"noAgents"`
	ServiceLevel      time.Duration          `json:"serviceLevel"`
	WrapUp            time.Duration          `json:"wrapUp"`
	DefaultHandleTime time.Duration          `json:"defaultHandleTime"`
	Steps             []stepDoc              `json:"steps"`
}

// stepDoc has routing.Step's fields exactly, so the two convert into each
// other; a field added to Step stops that conversion from compiling.
type stepDoc struct {
	After    time.Duration      `json:"after"`
	Skills   []routing.SkillReq `json:"skills"`
	Fallback routing.QueueID    `json:"fallback"`
}

// queueShape has routing.QueueConfig's fields exactly. The conversion in
// EncodeQueue stops compiling when QueueConfig gains, loses or changes a
// field, so queueDoc cannot silently fall behind.
type queueShape struct {
	ID                routing.QueueID
	Name              string
	Skills            []routing.SkillReq
	Strategy          routing.Strategy
	OfferTimeout      time.Duration
	MaxWait           time.Duration
	NoAgents          routing.NoAgentsPolicy
	ServiceLevel      time.Duration
	WrapUp            time.Duration
	DefaultHandleTime time.Duration
	Steps             []routing.Step
}

// EncodeQueue returns q's JSON document.
func EncodeQueue(q routing.QueueConfig) (string, error) {
	s := queueShape(q)
	d := queueDoc{
		ID: s.ID, Name: s.Name, Skills: s.Skills, Strategy: s.Strategy,
		OfferTimeout: s.OfferTimeout, MaxWait: s.MaxWait, NoAgents: s.NoAgents,
		ServiceLevel: s.ServiceLevel, WrapUp: s.WrapUp, DefaultHandleTime: s.DefaultHandleTime,
	}
	if s.Steps != nil {
		d.Steps = make([]stepDoc, len(s.Steps))
		for i, st := range s.Steps {
			d.Steps[i] = stepDoc(st)
		}
	}
	return encodeJSON(d)
}

// DecodeQueue parses a document made by EncodeQueue.
func DecodeQueue(b []byte) (routing.QueueConfig, error) {
	var d queueDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return routing.QueueConfig{}, err
	}
	s := queueShape{
		ID: d.ID, Name: d.Name, Skills: d.Skills, Strategy: d.Strategy,
		OfferTimeout: d.OfferTimeout, MaxWait: d.MaxWait, NoAgents: d.NoAgents,
		ServiceLevel: d.ServiceLevel, WrapUp: d.WrapUp, DefaultHandleTime: d.DefaultHandleTime,
	}
	if d.Steps != nil {
		s.Steps = make([]routing.Step, len(d.Steps))
		for i, st := range d.Steps {
			s.Steps[i] = routing.Step(st)
		}
	}
	return routing.QueueConfig(s), nil
}
