package sqlutil

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// CheckText returns an error wrapping store.ErrInvalid when s holds a NUL
// byte or is not valid UTF-8. PostgreSQL refuses both (and jsonb refuses
// \u0000) where SQLite would store them, so both stores check text with this
// before writing and behave alike.
func CheckText(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s holds a NUL byte: %w", field, store.ErrInvalid)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8: %w", field, store.ErrInvalid)
	}
	return nil
}

// textField is one string field to check, named for the error.
type textField struct{ name, value string }

func checkFields(fields []textField, maps ...map[string]string) error {
	for _, f := range fields {
		if err := CheckText(f.name, f.value); err != nil {
			return err
		}
	}
	for _, m := range maps {
		for k, v := range m {
			if err := CheckText("a key", k); err != nil {
				return err
			}
			if err := CheckText(fmt.Sprintf("the value of %q", k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// ConversationColumns lists the conversations columns in the order of
// ConversationArgs and ScanConversation.
const ConversationColumns = "id, interaction, queue, visitor_name, attributes, status, last_seq, created_at, updated_at, ended_at, end_reason"

// ConversationArgs returns c's values in ConversationColumns order
// ($1..$11), for a new conversation: last_seq ($7) is 0, whatever c holds.
// Text the stores refuse is an error wrapping store.ErrInvalid.
func ConversationArgs(c store.Conversation, enc TimeEncoder) ([]any, error) {
	if err := checkFields([]textField{
		{"id", string(c.ID)}, {"interaction", string(c.Interaction)}, {"queue", string(c.Queue)},
		{"visitor name", c.VisitorName}, {"status", c.Status}, {"end reason", c.EndReason},
	}, c.Attributes); err != nil {
		return nil, fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	attrs, err := encodeJSON(c.Attributes)
	if err != nil {
		return nil, fmt.Errorf("conversation %q: attributes: %w", c.ID, err)
	}
	times, err := encodeTimes(enc, c.CreatedAt, c.UpdatedAt, c.EndedAt)
	if err != nil {
		return nil, fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	return []any{
		string(c.ID), string(c.Interaction), string(c.Queue), c.VisitorName, attrs, c.Status,
		int64(0), times[0], times[1], times[2], c.EndReason,
	}, nil
}

// ConversationUpdateArgs is ConversationArgs without last_seq and
// created_at: $1 is the id, $2..$6 interaction..status, $7 updated_at, $8
// ended_at, $9 end_reason.
func ConversationUpdateArgs(c store.Conversation, enc TimeEncoder) ([]any, error) {
	args, err := ConversationArgs(c, enc)
	if err != nil {
		return nil, err
	}
	return slices.Delete(args, 6, 8), nil
}

// ScanConversation scans a row of ConversationColumns.
func ScanConversation(r Row) (store.Conversation, error) {
	var (
		c                           store.Conversation
		attrs                       []byte
		createdAt, updatedAt, ended Time
	)
	if err := r.Scan(&c.ID, &c.Interaction, &c.Queue, &c.VisitorName, &attrs, &c.Status,
		&c.LastSeq, &createdAt, &updatedAt, &ended, &c.EndReason); err != nil {
		return store.Conversation{}, err
	}
	if err := decodeJSON(attrs, &c.Attributes); err != nil {
		return store.Conversation{}, fmt.Errorf("conversation %q: attributes: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt, c.EndedAt = createdAt.T, updatedAt.T, ended.T
	return c, nil
}

// MessageColumns lists the messages columns in the order of MessageArgs and
// ScanMessage.
const MessageColumns = "conversation, seq, client_id, sender, kind, text, event, data, created_at"

// CheckMessage returns an error wrapping store.ErrInvalid when m cannot be
// stored: a Seq below 1, or text CheckText refuses in any of its string
// fields, Data's keys and values included.
func CheckMessage(m store.Message) error {
	err := checkFields([]textField{
		{"conversation", string(m.Conversation)}, {"client id", m.ClientID}, {"sender", m.Sender},
		{"kind", m.Kind}, {"text", m.Text}, {"event", m.Event},
	}, m.Data)
	if err == nil && m.Seq < 1 {
		err = fmt.Errorf("seq is below 1: %w", store.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("message %d of conversation %q: %w", m.Seq, m.Conversation, err)
	}
	return nil
}

// MessageData returns the JSON of m.Data for the data column.
func MessageData(m store.Message) (string, error) {
	data, err := encodeJSON(m.Data)
	if err != nil {
		return "", fmt.Errorf("message %d of conversation %q: data: %w", m.Seq, m.Conversation, err)
	}
	return data, nil
}

// MessageArgs checks m with CheckMessage and returns its values in
// MessageColumns order ($1..$9). An empty ClientID is NULL, so that messages
// without one never collide on (conversation, sender, client_id).
func MessageArgs(m store.Message, enc TimeEncoder) ([]any, error) {
	if err := CheckMessage(m); err != nil {
		return nil, err
	}
	data, err := MessageData(m)
	if err != nil {
		return nil, err
	}
	at, err := enc(m.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("message %d of conversation %q: %w", m.Seq, m.Conversation, err)
	}
	var clientID any
	if m.ClientID != "" {
		clientID = m.ClientID
	}
	return []any{string(m.Conversation), m.Seq, clientID, m.Sender, m.Kind, m.Text, m.Event, data, at}, nil
}

// ScanMessage scans a row of MessageColumns.
func ScanMessage(r Row) (store.Message, error) {
	var (
		m         store.Message
		clientID  *string
		data      []byte
		createdAt Time
	)
	if err := r.Scan(&m.Conversation, &m.Seq, &clientID, &m.Sender, &m.Kind, &m.Text, &m.Event,
		&data, &createdAt); err != nil {
		return store.Message{}, err
	}
	if clientID != nil {
		m.ClientID = *clientID
	}
	if err := decodeJSON(data, &m.Data); err != nil {
		return store.Message{}, fmt.Errorf("message %d of conversation %q: data: %w", m.Seq, m.Conversation, err)
	}
	m.CreatedAt = createdAt.T
	return m, nil
}

// ConversationsOf returns the conversations msgs belong to, each once, in
// the order they first appear.
func ConversationsOf(msgs []store.Message) []string {
	var ids []string
	seen := make(map[store.ConversationID]bool)
	for _, m := range msgs {
		if !seen[m.Conversation] {
			seen[m.Conversation] = true
			ids = append(ids, string(m.Conversation))
		}
	}
	return ids
}

// LeftMessageColumns lists the left_messages columns in the order of
// LeftMessageArgs ($1..$12).
const LeftMessageColumns = "id, queue, name, email, text, attributes, conversation, created_at, handled_by, handled_at, audio_ms, audio"

// LeftMessageSelect lists what ScanLeftMessage reads: the columns without
// the audio itself, only whether there is one.
const LeftMessageSelect = "id, queue, name, email, text, attributes, conversation, created_at, handled_by, handled_at, audio_ms, audio IS NOT NULL"

// LeftMessageSelectAudio is LeftMessageSelect and the audio, for
// ScanLeftMessageAudio.
const LeftMessageSelectAudio = LeftMessageSelect + ", audio"

// LeftMessageArgs returns m's values in LeftMessageColumns order
// ($1..$12). Text the stores refuse, audio past
// store.MaxLeftMessageAudio, or a length that does not go with the audio,
// is an error wrapping store.ErrInvalid.
func LeftMessageArgs(m store.LeftMessage, enc TimeEncoder) ([]any, error) {
	switch {
	case len(m.Audio) > store.MaxLeftMessageAudio:
		return nil, fmt.Errorf("left message %q: audio of %d bytes, more than %d: %w", m.ID, len(m.Audio), store.MaxLeftMessageAudio, store.ErrInvalid)
	case m.AudioMillis < 0 || (m.AudioMillis != 0 && len(m.Audio) == 0):
		return nil, fmt.Errorf("left message %q: audio length %d ms with %d bytes of audio: %w", m.ID, m.AudioMillis, len(m.Audio), store.ErrInvalid)
	}
	var audio []byte // NULL for none
	if len(m.Audio) > 0 {
		audio = m.Audio
	}
	if err := checkFields([]textField{
		{"id", m.ID}, {"queue", string(m.Queue)}, {"name", m.Name}, {"email", m.Email}, {"text", m.Text},
		{"conversation", string(m.Conversation)}, {"handled by", string(m.HandledBy)},
	}, m.Attributes); err != nil {
		return nil, fmt.Errorf("left message %q: %w", m.ID, err)
	}
	attrs, err := encodeJSON(m.Attributes)
	if err != nil {
		return nil, fmt.Errorf("left message %q: attributes: %w", m.ID, err)
	}
	times, err := encodeTimes(enc, m.CreatedAt, m.HandledAt)
	if err != nil {
		return nil, fmt.Errorf("left message %q: %w", m.ID, err)
	}
	return []any{
		m.ID, string(m.Queue), m.Name, m.Email, m.Text, attrs, string(m.Conversation),
		times[0], string(m.HandledBy), times[1], m.AudioMillis, audio,
	}, nil
}

// ScanLeftMessage scans a row of LeftMessageSelect.
func ScanLeftMessage(r Row) (store.LeftMessage, error) {
	return scanLeftMessage(r, false)
}

// ScanLeftMessageAudio scans a row of LeftMessageSelectAudio.
func ScanLeftMessageAudio(r Row) (store.LeftMessage, error) {
	return scanLeftMessage(r, true)
}

func scanLeftMessage(r Row, withAudio bool) (store.LeftMessage, error) {
	var (
		m                    store.LeftMessage
		attrs                []byte
		createdAt, handledAt Time
	)
	dest := []any{&m.ID, &m.Queue, &m.Name, &m.Email, &m.Text, &attrs, &m.Conversation,
		&createdAt, &m.HandledBy, &handledAt, &m.AudioMillis, &m.HasAudio}
	if withAudio {
		dest = append(dest, &m.Audio)
	}
	if err := r.Scan(dest...); err != nil {
		return store.LeftMessage{}, err
	}
	if err := decodeJSON(attrs, &m.Attributes); err != nil {
		return store.LeftMessage{}, fmt.Errorf("left message %q: attributes: %w", m.ID, err)
	}
	m.CreatedAt, m.HandledAt = createdAt.T, handledAt.T
	return m, nil
}

// ListLeftMessages is the query of store.ChatStore.ListLeftMessages: the
// statement (placeholders $1, $2, …) and its arguments, the filter in SQL
// so that the limit counts only the messages asked for.
func ListLeftMessages(f store.LeftMessageFilter, limit int) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(qs []routing.QueueID) string {
		if len(qs) == 0 {
			return "(NULL)" // queue IN (NULL) is never true, NOT IN (NULL) never either
		}
		ps := make([]string, len(qs))
		for i, q := range qs {
			ps[i] = arg(string(q))
		}
		return "(" + strings.Join(ps, ", ") + ")"
	}
	if f.ID != "" {
		where = append(where, "id = "+arg(f.ID))
	}
	if f.OnlyOpen {
		where = append(where, "handled_by = ''")
	}
	if f.OnlyHandled {
		where = append(where, "handled_by <> ''")
	}
	if f.Queues != nil {
		c := "queue IN " + in(f.Queues)
		if f.Known != nil {
			if len(f.Known) == 0 {
				c = "TRUE" // every queue is unknown
			} else {
				c = "(" + c + " OR queue NOT IN " + in(f.Known) + ")"
			}
		}
		where = append(where, c)
	}
	q := `SELECT ` + LeftMessageSelect + ` FROM left_messages`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	return q + ` ORDER BY created_at DESC NULLS LAST, id DESC LIMIT ` + arg(limit), args
}

// SessionColumns lists the sessions columns in the order of SessionArgs and
// ScanSession.
const SessionColumns = "token_hash, agent, created_at, expires_at"

// SessionArgs returns s's values in SessionColumns order ($1..$4).
func SessionArgs(s store.Session, enc TimeEncoder) ([]any, error) {
	times, err := encodeTimes(enc, s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("session of agent %q: %w", s.Agent, err)
	}
	return []any{s.TokenHash, string(s.Agent), times[0], times[1]}, nil
}

// ScanSession scans a row of SessionColumns.
func ScanSession(r Row) (store.Session, error) {
	var (
		s                    store.Session
		createdAt, expiresAt Time
	)
	if err := r.Scan(&s.TokenHash, &s.Agent, &createdAt, &expiresAt); err != nil {
		return store.Session{}, err
	}
	s.CreatedAt, s.ExpiresAt = createdAt.T, expiresAt.T
	return s, nil
}

// CheckSecret returns an error wrapping store.ErrInvalid for a secret the
// stores refuse: an empty value (every node would then sign with nothing) or
// a name CheckText refuses.
func CheckSecret(name string, value []byte) error {
	if err := CheckText("name", name); err != nil {
		return fmt.Errorf("secret %q: %w", name, err)
	}
	if len(value) == 0 {
		return fmt.Errorf("secret %q: the value is empty: %w", name, store.ErrInvalid)
	}
	return nil
}

// CommandColumns lists the commands columns in the order of CommandArgs
// and ScanCommand.
const CommandColumns = "principal, id, type, target, reply, created_at"

// The command statements, the same on both stores ($n placeholders).
const (
	// InsertCommand takes CommandArgs; a stored id is left as it is.
	InsertCommand = `INSERT INTO commands (` + CommandColumns + `) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (principal, id) DO NOTHING`
	// SelectCommand takes principal and id.
	SelectCommand = `SELECT ` + CommandColumns + ` FROM commands WHERE principal = $1 AND id = $2`
	// FinishCommand takes principal, id and the reply; a reply once set stays.
	FinishCommand = `UPDATE commands SET reply = COALESCE(reply, $3) WHERE principal = $1 AND id = $2`
	// DeleteCommandsBefore takes the encoded time.
	DeleteCommandsBefore = `DELETE FROM commands WHERE created_at < $1 OR created_at IS NULL`
)

// CommandArgs returns c's values in CommandColumns order ($1..$6), the
// reply left out (NULL).
func CommandArgs(c store.Command, enc TimeEncoder) ([]any, error) {
	for _, f := range []struct{ name, v string }{{"principal", c.Principal}, {"id", c.ID}, {"type", c.Type}, {"target", c.Target}} {
		if err := CheckText(f.name, f.v); err != nil {
			return nil, fmt.Errorf("command %q: %w", c.ID, err)
		}
	}
	times, err := encodeTimes(enc, c.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("command %q: %w", c.ID, err)
	}
	return []any{c.Principal, c.ID, c.Type, c.Target, nil, times[0]}, nil
}

// ScanCommand scans a row of CommandColumns.
func ScanCommand(r Row) (store.Command, error) {
	var (
		c         store.Command
		createdAt Time
	)
	if err := r.Scan(&c.Principal, &c.ID, &c.Type, &c.Target, &c.Reply, &createdAt); err != nil {
		return store.Command{}, err
	}
	c.CreatedAt = createdAt.T
	return c, nil
}
