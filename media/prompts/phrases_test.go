package prompts

import (
	"slices"
	"testing"
	"time"
)

// fakeSet gives every prompt a distinct length (and a distinct constant
// value) so that a phrase's content can be read back from its samples.
func fakeSet() *Set {
	s := &Set{clips: map[string][]int16{}}
	for i, n := range Names {
		pcm := make([]int16, 10+i)
		for j := range pcm {
			pcm[j] = int16(1000 + i)
		}
		s.clips[n] = pcm
	}
	return s
}

// words reads a phrase back as prompt names ("|" for a sentence gap, "~"
// for unknown audio such as a label or the beep).
func words(s *Set, pcm []int16) []string {
	var out []string
	wordGap, sentenceGap := int(WordGap*SampleRate/time.Second), int(SentenceGap*SampleRate/time.Second)
	for i := 0; i < len(pcm); {
		if pcm[i] == 0 {
			j := i
			for j < len(pcm) && pcm[j] == 0 {
				j++
			}
			// (The beep starts and ends at zero: a few samples more.)
			switch n := j - i; {
			case n >= wordGap && n <= wordGap+4, j == len(pcm) && n <= 4:
			case n >= sentenceGap && n <= sentenceGap+4:
				out = append(out, "|")
			default:
				out = append(out, "?gap")
			}
			i = j
			continue
		}
		idx := int(pcm[i]) - 1000
		if idx >= 0 && idx < len(Names) && slices.Equal(pcm[i:min(len(pcm), i+10+idx)], s.clips[Names[idx]]) {
			out = append(out, Names[idx])
			i += 10 + idx
			continue
		}
		// Other audio (a label, the beep, whose sine crosses zero) runs
		// to the next gap of at least 10 ms.
		j, zeros := i, 0
		for j < len(pcm) && zeros < SampleRate/100 {
			if pcm[j] == 0 {
				zeros++
			} else {
				zeros = 0
			}
			j++
		}
		j -= zeros
		out = append(out, "~")
		i = j
	}
	return out
}

func TestPhrasesSayTheRightWordsWithGaps(t *testing.T) {
	s := fakeSet()
	label := []int16{-5, -5, -5}
	for _, c := range []struct {
		name string
		pcm  []int16
		want string
	}{
		{"position 1 is next", s.Position(1), "you_are_next"},
		{"position 0 is next too", s.Position(0), "you_are_next"},
		{"position 3", s.Position(3), "you_are_number 3 in_the_queue"},
		{"position 21", s.Position(21), "you_are_number 20 1 in_the_queue"},
		{"position 99", s.Position(99), "you_are_number 90 9 in_the_queue"},
		{"position 100 is past the cap", s.Position(100), "there_are_more_than 90 9 callers_ahead"},
		{"a wait of 20 s", s.EstimatedWait(20 * time.Second), "wait_is less_than_a_minute"},
		{"a wait of 89 s is one minute", s.EstimatedWait(89 * time.Second), "wait_is about 1 minute"},
		{"a wait of 4 min", s.EstimatedWait(4*time.Minute + 10*time.Second), "wait_is about 4 minutes"},
		{"a wait of 45 min", s.EstimatedWait(45 * time.Minute), "wait_is about 40 5 minutes"},
		{"a wait of an hour", s.EstimatedWait(time.Hour), "wait_is about 60 minutes"},
		{"a wait past the cap", s.EstimatedWait(3 * time.Hour), "wait_is more_than_an_hour"},
		{"an announcement", s.Announcement(2, 3*time.Minute), "you_are_number 2 in_the_queue | wait_is about 3 minutes"},
		{"an announcement without a wait", s.Announcement(2, -1), "you_are_number 2 in_the_queue"},
		{"number 0", s.Number(0), "0"},
		{"number 15", s.Number(15), "15"},
		{"number 40", s.Number(40), "40"},
		{"number 105", s.Number(105), "1 hundred 5"},
		{"number 300", s.Number(300), "3 hundred"},
		{"number 999", s.Number(999), "9 hundred 90 9"},
		{"a number past 999 is 999", s.Number(5000), "9 hundred 90 9"},
		{"a negative number is zero", s.Number(-3), "0"},
		{"digits", s.Digits("1*#0x"), "1 star hash 0"},
		{"a menu with a label and without",
			s.Menu([]MenuOption{{Key: '1', Label: label}, {Key: '2'}}),
			"for ~ press 1 | for_option 2 press 2"},
		{"the leave-message offer", s.LeaveMessageOffer('*'), "leave_message_offer star"},
		{"after the tone", s.LeaveMessageAfterTone(), "leave_message_after_tone | ~"},
		{"welcome", s.Welcome(), "welcome"},
		{"goodbye", s.Goodbye(), "goodbye"},
		{"invalid choice", s.InvalidChoice(), "invalid_choice"},
		{"all busy", s.AllAgentsBusy(), "all_agents_busy"},
		{"message recorded", s.MessageRecorded(), "message_recorded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := words(s, c.pcm)
			want := splitWords(c.want)
			if !slices.Equal(got, want) {
				t.Fatalf("says %v, want %v", got, want)
			}
		})
	}
}

func splitWords(s string) []string {
	var out []string
	w := ""
	for _, r := range s + " " {
		if r == ' ' {
			if w != "" {
				out = append(out, w)
			}
			w = ""
			continue
		}
		w += string(r)
	}
	return out
}

func TestRealPhrasesHaveSaneLengthsAndDoNotClip(t *testing.T) {
	s := Default()
	for _, c := range []struct {
		name     string
		pcm      []int16
		min, max time.Duration
	}{
		{"position", s.Position(7), 1 * time.Second, 5 * time.Second},
		{"wait", s.EstimatedWait(12 * time.Minute), 1500 * time.Millisecond, 6 * time.Second},
		{"menu of two", s.Menu([]MenuOption{{Key: '1'}, {Key: '2'}}), 2 * time.Second, 8 * time.Second},
		{"after the tone", s.LeaveMessageAfterTone(), 2 * time.Second, 9 * time.Second},
		{"leave-message offer", s.LeaveMessageOffer('9'), 1500 * time.Millisecond, 6 * time.Second},
	} {
		d := time.Duration(len(c.pcm)) * time.Second / SampleRate
		if d < c.min || d > c.max {
			t.Errorf("%s lasts %v, want %v to %v", c.name, d, c.min, c.max)
		}
		if p := peakDBFS(c.pcm); p > PeakDBFS+0.01 {
			t.Errorf("%s peaks at %.1f dBFS", c.name, p)
		}
	}
	b := Beep()
	if len(b) != SampleRate*4/10 || b[0] != 0 || b[len(b)-1] > 10 || peakDBFS(b) > -9.9 || peakDBFS(b) < -10.5 {
		t.Errorf("the beep: %d samples, first %d, peak %.1f dBFS", len(b), b[0], peakDBFS(b))
	}
}
