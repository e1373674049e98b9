package signaling

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/prompts"
	"github.com/contactd/contactd/routing"
)

func tone(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(1000 * (i%16 - 8))
	}
	return pcm
}

func TestAVoiceMessageIsStoredAsALeftMessageWithItsRecording(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{{ID: "sales"}}})
	attrs := map[string]string{"callerId": "+4930123456", "dialled": "+4930999"}
	pcm := tone(8000*3 + 4000) // 3.5 s
	id, err := e.s.LeaveVoiceMessage(t.Context(), "sales", "+4930123456", attrs, prompts.Encode(pcm))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.f.created) != 1 {
		t.Fatalf("%d messages stored, want 1", len(e.f.created))
	}
	m := e.f.created[0]
	if m.ID != id || !strings.HasPrefix(id, "m_") || m.Queue != "sales" || m.Name != "+4930123456" ||
		m.Attributes["dialled"] != "+4930999" || m.Text != "Voice message (0:04)" || m.Email != "" || m.CreatedAt.IsZero() {
		t.Errorf("stored %+v", m)
	}
	if m.AudioMillis != 3500 {
		t.Errorf("AudioMillis = %d, want 3500", m.AudioMillis)
	}
	back, err := prompts.Decode("stored", m.Audio)
	if err != nil || len(back) != len(pcm) || back[100] != pcm[100] {
		t.Errorf("the stored audio decodes to %d samples, %v", len(back), err)
	}
}

func TestAVoiceMessageInGAndLongIsConvertedAndCut(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{{ID: "sales"}}})
	long := int(MaxVoiceMessage*prompts.SampleRate/time.Second) + 8000
	ulaw := make([]byte, long)
	for i := range ulaw {
		ulaw[i] = media.LinearToULaw(int16(1000 * (i%16 - 8)))
	}
	// A μ-law file by hand: RIFF, fmt (format 7, mono, 8000 Hz, 8-bit), data.
	wav := []byte("RIFF\x00\x00\x00\x00WAVE")
	wav = append(wav, "fmt \x10\x00\x00\x00\x07\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00data"...)
	wav = binary.LittleEndian.AppendUint32(wav, uint32(len(ulaw)))
	wav = append(wav, ulaw...)
	if _, err := e.s.LeaveVoiceMessage(t.Context(), "sales", "Ann Caller", nil, wav); err != nil {
		t.Fatal(err)
	}
	m := e.f.created[0]
	if len(m.Audio) > store.MaxLeftMessageAudio {
		t.Fatalf("stored %d bytes, over the store's cap", len(m.Audio))
	}
	pcm, err := prompts.Decode("stored", m.Audio)
	if err != nil || time.Duration(len(pcm))*time.Second/prompts.SampleRate != MaxVoiceMessage.Truncate(time.Second/prompts.SampleRate) {
		t.Fatalf("stored %d samples (%v), want cut to %v", len(pcm), err, MaxVoiceMessage)
	}
	if pcm[3] != media.ULawToLinear(ulaw[3]) {
		t.Errorf("sample 3 = %d, want the μ-law decoded %d", pcm[3], media.ULawToLinear(ulaw[3]))
	}
	if m.AudioMillis != int64(MaxVoiceMessage/time.Millisecond) {
		t.Errorf("AudioMillis = %d, want %d", m.AudioMillis, MaxVoiceMessage/time.Millisecond)
	}
}

func TestABadVoiceMessageIsRefusedAndNothingStored(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{{ID: "sales"}}})
	good := prompts.Encode(tone(800))
	for _, c := range []struct {
		name  string
		queue routing.QueueID
		attrs map[string]string
		wav   []byte
		is    error
	}{
		{"an unknown queue", "nowhere", nil, good, nil},
		{"not a WAV file", "sales", nil, []byte("hello"), prompts.ErrFormat},
		{"a truncated WAV file", "sales", nil, good[:100], prompts.ErrFormat},
		{"an empty recording", "sales", nil, prompts.Encode(nil), ErrNoAudio},
		{"a bad attribute", "sales", map[string]string{"x": "\x00"}, good, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.s.LeaveVoiceMessage(t.Context(), c.queue, "caller", c.attrs, c.wav)
			if err == nil || c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %v", err, c.is)
			}
		})
	}
	if len(e.f.created) != 0 {
		t.Fatalf("%d refused messages were stored", len(e.f.created))
	}
}

func TestTheRecordingIsServedOnlyToTheAgentsWhoSeeTheMessage(t *testing.T) {
	e := newEdge(t, Config{Queues: []routing.QueueConfig{
		{ID: "billing", Skills: []routing.SkillReq{{Skill: "billing", MinLevel: 1}}}, {ID: "sales"}}})
	wav := prompts.Encode(tone(4000))
	e.f.left = []store.LeftMessage{
		{ID: "v1", Queue: "billing", Audio: wav, HasAudio: true, AudioMillis: 500},
		{ID: "v2", Queue: "gone", Audio: wav, HasAudio: true, AudioMillis: 500},
		{ID: "t1", Queue: "sales", Text: "text only"},
	}
	get := func(id string, who routing.AgentID, hdr ...string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/api/left-messages/"+id+"/audio", nil)
		if who != "" {
			req.AddCookie(e.cookie(t, who))
		}
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, c := range []struct {
		name string
		id   string
		who  routing.AgentID
		want int
	}{
		{"an agent of the queue gets it", "v1", "ann", 200},
		{"any agent gets one of a queue no longer configured", "v2", "bob", 200},
		{"an agent of another queue does not", "v1", "bob", 404},
		{"a message without a recording has none", "t1", "bob", 404},
		{"an unknown id has none", "nope", "ann", 404},
		{"a supervisor without the agent role is refused", "v1", "sue", 403},
		{"an account without a staff role is refused", "v1", "nora", 403},
		{"nobody logged in is refused", "v1", "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := get(c.id, c.who)
			if resp.StatusCode != c.want {
				t.Fatalf("%d, want %d", resp.StatusCode, c.want)
			}
			if c.want != 200 {
				if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "audio/") {
					t.Errorf("a refusal with Content-Type %s", ct)
				}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			if string(body) != string(wav) {
				t.Errorf("got %d bytes, want the %d stored", len(body), len(wav))
			}
			h := resp.Header
			if h.Get("Content-Type") != "audio/wav" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", h)
			}
			for _, leak := range []string{"Last-Modified", "ETag", "Expires", "Access-Control-Allow-Origin"} {
				if h.Get(leak) != "" {
					t.Errorf("header %s: %s", leak, h.Get(leak))
				}
			}
		})
	}
	t.Run("a byte range is answered for seeking", func(t *testing.T) {
		resp := get("v1", "ann", "Range", "bytes=44-99")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(wav[44:100]) {
			t.Fatalf("%d with %d bytes, want 206 with bytes 44-99", resp.StatusCode, len(body))
		}
	})
}
