package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// newLeftMessage returns an open left message with every other field set.
func newLeftMessage(id string, at time.Time) store.LeftMessage {
	return store.LeftMessage{
		ID:           id,
		Queue:        "support",
		Name:         `Zoë "the visitor" O'Brien`,
		Email:        "zoe+test@example.com",
		Text:         "Please call me back.\nBetween 9 and 5 — ありがとう",
		Attributes:   map[string]string{"account": "42", "page": "https://example.com/contact?x=1&y=2"},
		Conversation: "conv-1",
		CreatedAt:    at,
	}
}

func canonLeftMessages(ms []store.LeftMessage) []store.LeftMessage {
	out := make([]store.LeftMessage, len(ms))
	for i, m := range ms {
		m.CreatedAt, m.HandledAt = canon(m.CreatedAt), canon(m.HandledAt)
		out[i] = m
	}
	return out
}

func wantLeftMessages(t *testing.T, what string, got, want []store.LeftMessage) {
	t.Helper()
	for _, m := range got {
		wantUTC(t, what+": "+m.ID, m.CreatedAt, m.HandledAt)
	}
	wantEqual(t, what, canonLeftMessages(got), canonLeftMessages(want))
}

func leftMessageIDs(ms []store.LeftMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

var leftMessageCases = []testCase{
	{"a created left message reads back with every field", func(t *testing.T, ctx context.Context, s store.Store) {
		handled := newLeftMessage("m1", base)
		handled.HandledBy, handled.HandledAt = "ada", base.Add(time.Hour)
		open := newLeftMessage("m2", base.Add(time.Minute))
		open.Conversation, open.Attributes = "", nil // nil stays nil
		must(t, s.CreateLeftMessage(ctx, handled))
		must(t, s.CreateLeftMessage(ctx, open))
		got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		wantLeftMessages(t, "ListLeftMessages", got, []store.LeftMessage{open, handled})
	}},

	{"creating a left message whose id is taken is a conflict", func(t *testing.T, ctx context.Context, s store.Store) {
		m := newLeftMessage("m1", base)
		must(t, s.CreateLeftMessage(ctx, m))
		other := newLeftMessage("m1", base.Add(time.Minute))
		other.Text = "someone else"
		wantErr(t, "second CreateLeftMessage", s.CreateLeftMessage(ctx, other), store.ErrConflict)
		got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		wantLeftMessages(t, "left messages after the conflict", got, []store.LeftMessage{m})
	}},

	{"left messages come newest first up to the limit, open ones only when asked", func(t *testing.T, ctx context.Context, s store.Store) {
		for _, m := range []store.LeftMessage{
			newLeftMessage("m1", base),
			newLeftMessage("m4", base.Add(2*time.Minute)),
			newLeftMessage("m2", base.Add(time.Minute)),
			newLeftMessage("m3", base.Add(time.Minute)), // ties with m2: the higher id first
			newLeftMessage("undated", time.Time{}),      // no time: last
		} {
			must(t, s.CreateLeftMessage(ctx, m))
		}
		must(t, s.MarkLeftMessageHandled(ctx, "m3", "ada", base.Add(time.Hour)))
		tests := []struct {
			onlyOpen bool
			limit    int
			want     []string
		}{
			{false, 10, []string{"m4", "m3", "m2", "m1", "undated"}},
			{false, 2, []string{"m4", "m3"}},
			{true, 10, []string{"m4", "m2", "m1", "undated"}},
			{true, 3, []string{"m4", "m2", "m1"}},
		}
		for _, tt := range tests {
			got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{OnlyOpen: tt.onlyOpen}, tt.limit)
			must(t, err)
			wantEqual(t, "ListLeftMessages ids", leftMessageIDs(got), tt.want)
		}
		for _, limit := range []int{0, -1} {
			if got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, limit); err == nil {
				t.Errorf("ListLeftMessages(false, %d) = %d messages and no error, want an error", limit, len(got))
			}
		}
	}},

	{"left messages are filtered by id, state and queue before the limit", func(t *testing.T, ctx context.Context, s store.Store) {
		// 300 handled messages of sales, newer than the open ones of
		// billing: a limit taken before the filter would hide these.
		for i := range 300 {
			m := newLeftMessage(fmt.Sprintf("h%03d", i), base.Add(time.Hour+time.Duration(i)*time.Second))
			m.Queue, m.HandledBy, m.HandledAt = "sales", "ada", base.Add(2*time.Hour)
			must(t, s.CreateLeftMessage(ctx, m))
		}
		for i, q := range []routing.QueueID{"billing", "billing", "sales", "gone"} {
			m := newLeftMessage(fmt.Sprintf("o%d", i), base.Add(time.Duration(i)*time.Minute))
			m.Queue = q
			must(t, s.CreateLeftMessage(ctx, m))
		}
		known := []routing.QueueID{"billing", "sales"}
		tests := []struct {
			name  string
			f     store.LeftMessageFilter
			limit int
			want  []string
		}{
			{"open ones of billing", store.LeftMessageFilter{OnlyOpen: true, Queues: []routing.QueueID{"billing"}}, 2, []string{"o1", "o0"}},
			{"open ones of billing and of unknown queues", store.LeftMessageFilter{OnlyOpen: true, Queues: []routing.QueueID{"billing"}, Known: known}, 10, []string{"o3", "o1", "o0"}},
			{"open ones of no queue", store.LeftMessageFilter{OnlyOpen: true, Queues: []routing.QueueID{}}, 10, []string{}},
			{"open ones of no queue, but of unknown ones", store.LeftMessageFilter{OnlyOpen: true, Queues: []routing.QueueID{}, Known: known}, 10, []string{"o3"}},
			{"every queue unknown", store.LeftMessageFilter{OnlyOpen: true, Queues: []routing.QueueID{}, Known: []routing.QueueID{}}, 10, []string{"o3", "o2", "o1", "o0"}},
			{"every open one", store.LeftMessageFilter{OnlyOpen: true}, 10, []string{"o3", "o2", "o1", "o0"}},
			{"the newest handled ones", store.LeftMessageFilter{OnlyHandled: true}, 2, []string{"h299", "h298"}},
			{"one by its id", store.LeftMessageFilter{ID: "o2"}, 10, []string{"o2"}},
			{"one by its id, of another queue", store.LeftMessageFilter{ID: "o2", Queues: []routing.QueueID{"billing"}, Known: known}, 10, []string{}},
			{"a handled one asked for as open", store.LeftMessageFilter{ID: "h001", OnlyOpen: true}, 10, []string{}},
		}
		for _, tt := range tests {
			got, err := s.ListLeftMessages(ctx, tt.f, tt.limit)
			must(t, err)
			wantEqual(t, "ListLeftMessages ids: "+tt.name, leftMessageIDs(got), tt.want)
			for _, m := range got {
				if !tt.f.Match(m) {
					t.Errorf("%s: %s returned, which the filter's Match refuses", tt.name, m.ID)
				}
			}
		}
	}},

	{"marking a left message handled records who and when", func(t *testing.T, ctx context.Context, s store.Store) {
		m := newLeftMessage("m1", base)
		must(t, s.CreateLeftMessage(ctx, m))
		must(t, s.MarkLeftMessageHandled(ctx, "m1", "ada", base.Add(time.Hour)))
		must(t, s.MarkLeftMessageHandled(ctx, "m1", "bob", base.Add(2*time.Hour))) // the last mark wins
		got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		m.HandledBy, m.HandledAt = "bob", base.Add(2*time.Hour)
		wantLeftMessages(t, "handled left message", got, []store.LeftMessage{m})
		open, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{OnlyOpen: true}, 10)
		must(t, err)
		if len(open) != 0 {
			t.Errorf("open left messages = %v, want none", leftMessageIDs(open))
		}
		wantErr(t, "MarkLeftMessageHandled of an unknown id",
			s.MarkLeftMessageHandled(ctx, "nobody", "ada", base), store.ErrNotFound)
	}},

	{"left messages with a NUL byte or invalid UTF-8 are invalid", func(t *testing.T, ctx context.Context, s store.Store) {
		for _, change := range []func(*store.LeftMessage){
			func(m *store.LeftMessage) { m.Text = "call me\x00" },
			func(m *store.LeftMessage) { m.Name = "Zo\xeb" },
			func(m *store.LeftMessage) { m.Attributes = map[string]string{"page": "\x00"} },
		} {
			m := newLeftMessage("bad", base)
			change(&m)
			wantErr(t, "CreateLeftMessage", s.CreateLeftMessage(ctx, m), store.ErrInvalid)
		}
		got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		if len(got) != 0 {
			t.Errorf("refused left messages were stored: %v", leftMessageIDs(got))
		}
	}},
}

// recording returns n bytes standing for a WAV file: every byte value,
// NUL and invalid UTF-8 included, must come back unchanged.
func recording(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func init() {
	leftMessageCases = append(leftMessageCases, leftMessageAudioCases...)
}

var leftMessageAudioCases = []testCase{
	{"a left message with a recording lists its length and reads its audio back", func(t *testing.T, ctx context.Context, s store.Store) {
		voice := newLeftMessage("v1", base)
		voice.Audio, voice.AudioMillis = recording(160_044), 10_000
		voice.HasAudio = false // ignored on create
		plain := newLeftMessage("t1", base.Add(time.Minute))
		plain.HasAudio = true // ignored on create
		must(t, s.CreateLeftMessage(ctx, voice))
		must(t, s.CreateLeftMessage(ctx, plain))

		listed, listedPlain := voice, plain
		listed.Audio, listed.HasAudio = nil, true
		listedPlain.HasAudio = false
		got, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		wantLeftMessages(t, "ListLeftMessages (no audio bytes, HasAudio set)", got, []store.LeftMessage{listedPlain, listed})

		one, err := s.GetLeftMessage(ctx, "v1")
		must(t, err)
		full := voice
		full.HasAudio = true
		wantLeftMessages(t, "GetLeftMessage with audio", []store.LeftMessage{one}, []store.LeftMessage{full})

		one, err = s.GetLeftMessage(ctx, "t1")
		must(t, err)
		if one.Audio != nil || one.HasAudio || one.AudioMillis != 0 {
			t.Errorf("a message without a recording read back with %d bytes, HasAudio %v, %d ms", len(one.Audio), one.HasAudio, one.AudioMillis)
		}
		_, err = s.GetLeftMessage(ctx, "nobody")
		wantErr(t, "GetLeftMessage of an unknown id", err, store.ErrNotFound)

		// Handling the message keeps its recording.
		must(t, s.MarkLeftMessageHandled(ctx, "v1", "ada", base.Add(time.Hour)))
		one, err = s.GetLeftMessage(ctx, "v1")
		must(t, err)
		if !one.HasAudio || len(one.Audio) != len(voice.Audio) || one.HandledBy != "ada" {
			t.Errorf("after MarkLeftMessageHandled: %d bytes of audio, handled by %q", len(one.Audio), one.HandledBy)
		}
	}},

	{"a recording of the largest size is kept and one byte more is refused", func(t *testing.T, ctx context.Context, s store.Store) {
		max := newLeftMessage("max", base)
		max.Audio, max.AudioMillis = recording(store.MaxLeftMessageAudio), 131_000
		must(t, s.CreateLeftMessage(ctx, max))
		got, err := s.GetLeftMessage(ctx, "max")
		must(t, err)
		if string(got.Audio) != string(max.Audio) {
			t.Errorf("the largest recording came back with %d bytes, changed", len(got.Audio))
		}
		for _, change := range []func(*store.LeftMessage){
			func(m *store.LeftMessage) { m.Audio, m.AudioMillis = recording(store.MaxLeftMessageAudio+1), 1000 },
			func(m *store.LeftMessage) { m.Audio, m.AudioMillis = recording(10), -1 },
			func(m *store.LeftMessage) { m.Audio, m.AudioMillis = nil, 1000 }, // a length without audio
		} {
			m := newLeftMessage("bad", base)
			change(&m)
			wantErr(t, "CreateLeftMessage", s.CreateLeftMessage(ctx, m), store.ErrInvalid)
		}
		list, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		wantEqual(t, "left messages after the refused ones", leftMessageIDs(list), []string{"max"})
	}},
}
