package signaling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media/prompts"
	"github.com/contactd/contactd/routing"
)

// MaxVoiceMessage is the longest voice message kept: a longer recording
// is cut to it. The SIP edge stops recording there.
const MaxVoiceMessage = time.Duration((store.MaxLeftMessageAudio-44)/2) * time.Second / prompts.SampleRate

// ErrNoAudio refuses a voice message without a sample of audio.
var ErrNoAudio = errors.New("the voice message holds no audio")

// LeaveVoiceMessage stores a phone caller's recorded message as a left
// message of queue, listed to its agents with the widget's messages:
// name is the caller's display name or number (as the caller id gave it),
// attrs the call's context (caller id, dialled number; the same limits as a
// visitor's), wav the recording as a WAV file prompts.Decode reads (8 kHz
// mono 16-bit PCM, μ-law or A-law: see prompts.WrapPCM for a raw
// recording). It is stored as 16-bit PCM, cut to MaxVoiceMessage. It
// returns the message's id; an error for a queue that is not configured,
// a recording that is not such a WAV file (wrapping prompts.ErrFormat) or
// holds nothing (ErrNoAudio), bad attributes, or the store's failure.
func (s *Server) LeaveVoiceMessage(ctx context.Context, queue routing.QueueID, name string, attrs map[string]string, wav []byte) (string, error) {
	if !slices.ContainsFunc(s.cfg.Queues, func(q routing.QueueConfig) bool { return q.ID == queue }) {
		return "", fmt.Errorf("voice message: unknown queue %q", queue)
	}
	if len(name) > maxName {
		name = name[:maxName] // a caller id is what the network sent: keep what fits
	}
	if err := errors.Join(checkField("name", name, maxName), checkAttrs(attrs)); err != nil {
		return "", fmt.Errorf("voice message: %w", err)
	}
	pcm, err := prompts.Decode("voice message", wav)
	if err != nil {
		return "", err
	}
	if len(pcm) == 0 {
		return "", ErrNoAudio
	}
	pcm = pcm[:min(len(pcm), int(MaxVoiceMessage*prompts.SampleRate/time.Second))]
	ms := int64(len(pcm)) * 1000 / prompts.SampleRate
	m := store.LeftMessage{
		ID: chat.NewID("m_"), Queue: queue, Name: name,
		Text:       "Voice message (" + clock(ms) + ")",
		Attributes: attrs, CreatedAt: s.now().UTC(),
		Audio: prompts.Encode(pcm), AudioMillis: max(1, ms),
	}
	if err := s.st.CreateLeftMessage(ctx, m); err != nil {
		return "", fmt.Errorf("voice message: %w", err)
	}
	return m.ID, nil
}

// clock formats a length as m:ss.
func clock(ms int64) string {
	sec := (ms + 500) / 1000
	return strconv.FormatInt(sec/60, 10) + ":" + fmt.Sprintf("%02d", sec%60)
}

// leftMessageAudio serves a left message's recording to an agent who may
// see the message (as leftMessages decides): 404 for an unknown id, a
// message without audio, or one of a queue the agent does not serve.
func (s *Server) leftMessageAudio(w http.ResponseWriter, r *http.Request, who caller) {
	m, err := s.st.GetLeftMessage(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(w, http.StatusNotFound, CodeNotFound, "no such message")
		return
	case err != nil:
		fail(w, http.StatusServiceUnavailable, "unavailable", "could not read the message")
		return
	case !m.HasAudio || !s.seesLeftMessage(who.account, m):
		fail(w, http.StatusNotFound, CodeNotFound, "no such recording")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", `inline; filename="voice-message.wav"`)
	// ServeContent answers Range requests (the player seeks with them);
	// no modification time, so no Last-Modified or conditional answers.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(m.Audio))
}

// seesLeftMessage says whether the agent a may see m: an agent of its
// queue, or any agent for a queue no longer configured.
func (s *Server) seesLeftMessage(a store.Agent, m store.LeftMessage) bool {
	i := slices.IndexFunc(s.cfg.Queues, func(q routing.QueueConfig) bool { return q.ID == m.Queue })
	return i < 0 || serves(a, s.cfg.Queues[i])
}
