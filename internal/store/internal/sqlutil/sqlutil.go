// Package sqlutil holds what the SQL stores share that does not depend on the
// dialect: the column lists, building query arguments from the store types,
// scanning rows back into them, the JSON form of maps, slices and queue
// configurations, and loading embedded migrations.
//
// Both schemas name their columns alike, so one column list, one argument
// order and one scan order serve both. Only times differ: each store passes a
// TimeEncoder, and Time scans what either driver returns.
package sqlutil

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// Row is one result row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all fit.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set: *sql.Rows and pgx.Rows both fit. The caller closes it.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// Collect scans every row with scan.
func Collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// TimeEncoder turns a time into a query argument. It must turn the zero time
// into nil, so that the column holds NULL.
type TimeEncoder func(time.Time) (any, error)

// Time scans a nullable timestamp column: NULL becomes the zero time, an
// integer is Unix nanoseconds (SQLite), a time.Time is taken as it is
// (PostgreSQL). A non-zero result is always in UTC.
type Time struct{ T time.Time }

// Scan implements sql.Scanner; pgx uses it too.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.T = time.Time{}
	case int64:
		t.T = time.Unix(0, v).UTC()
	case time.Time:
		t.T = v.UTC()
	default:
		return fmt.Errorf("sqlutil: cannot scan %T into a time", src)
	}
	return nil
}

// encodeJSON marshals v for a JSON column. A nil map or slice becomes JSON
// null and an empty one {} or [], so the difference survives the round trip
// (an agent's nil Capacity means the default, an empty one means none).
func encodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeJSON unmarshals a JSON column into v; an absent value leaves v
// untouched (nil).
func decodeJSON(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// AgentColumns lists the agents columns in the order of AgentArgs and
// ScanAgent.
const AgentColumns = "id, display_name, password_hash, roles, skills, capacity, voice_blocks_chat, presence, away_reason, presence_since, created_at, updated_at"

// AgentArgs returns a's values in AgentColumns order ($1..$12).
func AgentArgs(a store.Agent, enc TimeEncoder) ([]any, error) {
	roles, err := encodeJSON(a.Roles)
	if err != nil {
		return nil, fmt.Errorf("agent %q: roles: %w", a.ID, err)
	}
	skills, err := encodeJSON(a.Skills)
	if err != nil {
		return nil, fmt.Errorf("agent %q: skills: %w", a.ID, err)
	}
	capacity, err := encodeJSON(a.Capacity)
	if err != nil {
		return nil, fmt.Errorf("agent %q: capacity: %w", a.ID, err)
	}
	times, err := encodeTimes(enc, a.PresenceSince, a.CreatedAt, a.UpdatedAt)
	if err != nil {
		return nil, fmt.Errorf("agent %q: %w", a.ID, err)
	}
	return []any{
		string(a.ID), a.DisplayName, a.PasswordHash, roles, skills, capacity,
		a.VoiceBlocksChat, string(a.Presence), a.AwayReason, times[0], times[1], times[2],
	}, nil
}

// ScanAgent scans a row of AgentColumns.
func ScanAgent(r Row) (store.Agent, error) {
	var (
		a                                  store.Agent
		roles, skills, capacity            []byte
		presenceSince, createdAt, updateAt Time
	)
	if err := r.Scan(&a.ID, &a.DisplayName, &a.PasswordHash, &roles, &skills, &capacity,
		&a.VoiceBlocksChat, &a.Presence, &a.AwayReason, &presenceSince, &createdAt, &updateAt); err != nil {
		return store.Agent{}, err
	}
	if err := decodeJSON(roles, &a.Roles); err != nil {
		return store.Agent{}, fmt.Errorf("agent %q: roles: %w", a.ID, err)
	}
	if err := decodeJSON(skills, &a.Skills); err != nil {
		return store.Agent{}, fmt.Errorf("agent %q: skills: %w", a.ID, err)
	}
	if err := decodeJSON(capacity, &a.Capacity); err != nil {
		return store.Agent{}, fmt.Errorf("agent %q: capacity: %w", a.ID, err)
	}
	a.PresenceSince, a.CreatedAt, a.UpdatedAt = presenceSince.T, createdAt.T, updateAt.T
	return a, nil
}

// InteractionColumns lists the interactions columns in the order of
// InteractionArgs and ScanInteraction.
const InteractionColumns = "id, channel, queue, skills, preferred_agent, priority, status, agent, attributes, created_at, enqueued_at, accepted_at, ended_at, end_reason"

// InteractionArgs returns in's values in InteractionColumns order
// ($1..$14).
func InteractionArgs(in store.Interaction, enc TimeEncoder) ([]any, error) {
	skills, err := encodeJSON(in.Skills)
	if err != nil {
		return nil, fmt.Errorf("interaction %q: skills: %w", in.ID, err)
	}
	attrs, err := encodeJSON(in.Attributes)
	if err != nil {
		return nil, fmt.Errorf("interaction %q: attributes: %w", in.ID, err)
	}
	times, err := encodeTimes(enc, in.CreatedAt, in.EnqueuedAt, in.AcceptedAt, in.EndedAt)
	if err != nil {
		return nil, fmt.Errorf("interaction %q: %w", in.ID, err)
	}
	return []any{
		string(in.ID), string(in.Channel), string(in.Queue), skills, string(in.PreferredAgent),
		in.Priority, in.Status, string(in.Agent), attrs,
		times[0], times[1], times[2], times[3], string(in.EndReason),
	}, nil
}

// ScanInteraction scans a row of InteractionColumns.
func ScanInteraction(r Row) (store.Interaction, error) {
	var (
		in                                     store.Interaction
		skills, attrs                          []byte
		createdAt, enqueuedAt, accepted, ended Time
	)
	if err := r.Scan(&in.ID, &in.Channel, &in.Queue, &skills, &in.PreferredAgent,
		&in.Priority, &in.Status, &in.Agent, &attrs,
		&createdAt, &enqueuedAt, &accepted, &ended, &in.EndReason); err != nil {
		return store.Interaction{}, err
	}
	if err := decodeJSON(skills, &in.Skills); err != nil {
		return store.Interaction{}, fmt.Errorf("interaction %q: skills: %w", in.ID, err)
	}
	if err := decodeJSON(attrs, &in.Attributes); err != nil {
		return store.Interaction{}, fmt.Errorf("interaction %q: attributes: %w", in.ID, err)
	}
	in.CreatedAt, in.EnqueuedAt, in.AcceptedAt, in.EndedAt = createdAt.T, enqueuedAt.T, accepted.T, ended.T
	return in, nil
}

// EventColumns lists the events columns in the order of EventArgs and
// ScanEvent.
const EventColumns = "seq, time, type, interaction, queue, agent, channel, target, mode, reason, state, priority, step, wait_ns, handle_ns"

// EventArgs returns ev's values in EventColumns order ($1..$15).
func EventArgs(ev routing.Event, enc TimeEncoder) ([]any, error) {
	at, err := enc(ev.Time)
	if err != nil {
		return nil, fmt.Errorf("event %d: time: %w", ev.Seq, err)
	}
	return []any{
		ev.Seq, at, string(ev.Type), string(ev.Interaction), string(ev.Queue), string(ev.Agent),
		string(ev.Channel), ev.Target, ev.Mode, string(ev.Reason), string(ev.State),
		ev.Priority, ev.Step, int64(ev.Wait), int64(ev.Handle),
	}, nil
}

// ScanEvent scans a row of EventColumns.
func ScanEvent(r Row) (routing.Event, error) {
	var (
		ev           routing.Event
		at           Time
		wait, handle int64
	)
	if err := r.Scan(&ev.Seq, &at, &ev.Type, &ev.Interaction, &ev.Queue, &ev.Agent,
		&ev.Channel, &ev.Target, &ev.Mode, &ev.Reason, &ev.State,
		&ev.Priority, &ev.Step, &wait, &handle); err != nil {
		return routing.Event{}, err
	}
	ev.Time, ev.Wait, ev.Handle = at.T, time.Duration(wait), time.Duration(handle)
	return ev, nil
}

// ScanQueue scans a row of (id, config).
func ScanQueue(r Row) (routing.QueueConfig, error) {
	var (
		id     routing.QueueID
		config []byte
	)
	if err := r.Scan(&id, &config); err != nil {
		return routing.QueueConfig{}, err
	}
	q, err := DecodeQueue(config)
	if err != nil {
		return routing.QueueConfig{}, fmt.Errorf("queue %q: %w", id, err)
	}
	q.ID = id
	return q, nil
}

func encodeTimes(enc TimeEncoder, ts ...time.Time) ([]any, error) {
	out := make([]any, len(ts))
	for i, t := range ts {
		v, err := enc(t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// AgentUpdateArgs is AgentArgs without created_at: $1 is the id, $2..$9
// display_name..away_reason, $10 presence_since, $11 updated_at.
func AgentUpdateArgs(a store.Agent, enc TimeEncoder) ([]any, error) {
	args, err := AgentArgs(a, enc)
	if err != nil {
		return nil, err
	}
	return slices.Delete(args, 10, 11), nil
}
