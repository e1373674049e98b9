package prompts

import (
	"math"
	"strconv"
	"time"
)

// Pauses put between the prompts of a phrase, so that words do not run
// together, and between sentences.
const (
	WordGap     = 120 * time.Millisecond
	SentenceGap = 400 * time.Millisecond
)

// Caps of the spoken figures.
const (
	// MaxPosition is the highest queue position spoken as a number; past it
	// Position says "there are more than ninety-nine callers ahead of you".
	MaxPosition = 99
	// MaxWait is the longest estimated wait spoken in minutes; past it
	// EstimatedWait says "more than an hour".
	MaxWait = time.Hour
)

// MenuOption is one entry of a spoken menu: the key to press and,
// optionally, a recording of what it is for (Label, 8 kHz linear PCM, e.g.
// from ReadFile of a "sales.wav" saying "sales"). Without a label the
// option is spoken by its place: "for option two, press two".
type MenuOption struct {
	Key   byte
	Label []int16
}

// phrase collects prompts with gaps between them.
type phrase struct {
	s   *Set
	out []int16
}

func (p *phrase) gap(d time.Duration) {
	if len(p.out) > 0 {
		p.out = append(p.out, make([]int16, int(d*SampleRate/time.Second))...)
	}
}

// say appends prompts, each after a word gap.
func (p *phrase) say(names ...string) {
	for _, n := range names {
		p.pcm(p.s.clips[n])
	}
}

func (p *phrase) pcm(pcm []int16) {
	if len(pcm) == 0 {
		return
	}
	p.gap(WordGap)
	p.out = append(p.out, pcm...)
}

func (p *phrase) sentence() { p.gap(SentenceGap - WordGap) }

func (s *Set) phrase() *phrase { return &phrase{s: s} }

// numberWords returns the prompt names that say n, 0 to 999 ("three",
// "twenty one", "one hundred five"); n is clamped to that range.
func numberWords(n int) []string {
	n = max(0, min(999, n))
	var w []string
	if n >= 100 {
		w = append(w, strconv.Itoa(n/100), "hundred")
		n %= 100
		if n == 0 {
			return w
		}
	}
	if n < 20 {
		return append(w, strconv.Itoa(n))
	}
	w = append(w, strconv.Itoa(n/10*10))
	if n%10 != 0 {
		w = append(w, strconv.Itoa(n%10))
	}
	return w
}

// digitWord is the prompt of a DTMF key, "" for one without a prompt.
func digitWord(c byte) string {
	switch {
	case c >= '0' && c <= '9':
		return string(c)
	case c == '*':
		return "star"
	case c == '#':
		return "hash"
	}
	return ""
}

// Number says n in words, 0 to 999 (n is clamped to that range).
func (s *Set) Number(n int) []int16 {
	p := s.phrase()
	p.say(numberWords(n)...)
	return p.out
}

// Digits says each key of a DTMF string ("1", "star", "hash"); other
// characters are skipped.
func (s *Set) Digits(keys string) []int16 {
	p := s.phrase()
	for i := range len(keys) {
		if w := digitWord(keys[i]); w != "" {
			p.say(w)
		}
	}
	return p.out
}

// Position says where a caller is in the queue: "you are next in the
// queue" for 1 (and below), "you are number three in the queue" up to
// MaxPosition, "there are more than ninety-nine callers ahead of you" past
// it.
func (s *Set) Position(n int) []int16 {
	p := s.phrase()
	switch {
	case n <= 1:
		p.say("you_are_next")
	case n <= MaxPosition:
		p.say("you_are_number")
		p.say(numberWords(n)...)
		p.say("in_the_queue")
	default:
		p.say("there_are_more_than")
		p.say(numberWords(MaxPosition)...)
		p.say("callers_ahead")
	}
	return p.out
}

// EstimatedWait says the estimated wait: "your estimated wait is less than
// a minute" under a minute, "… about four minutes" (rounded to the nearest
// minute) up to MaxWait, "… more than an hour" past it.
func (s *Set) EstimatedWait(d time.Duration) []int16 {
	p := s.phrase()
	p.say("wait_is")
	switch {
	case d < time.Minute:
		p.say("less_than_a_minute")
	case d > MaxWait:
		p.say("more_than_an_hour")
	default:
		m := int(math.Round(d.Minutes()))
		p.say("about")
		p.say(numberWords(m)...)
		if m == 1 {
			p.say("minute")
		} else {
			p.say("minutes")
		}
	}
	return p.out
}

// Announcement is what a waiting caller hears every announce_interval: its
// Position, then its EstimatedWait, a sentence apart. A wait below zero
// (unknown) is left out.
func (s *Set) Announcement(position int, wait time.Duration) []int16 {
	p := s.phrase()
	p.pcm(s.Position(position))
	if wait >= 0 {
		p.sentence()
		p.pcm(s.EstimatedWait(wait))
	}
	return p.out
}

// Menu says the options in order, a sentence each: "for sales, press one"
// with a Label, "for option two, press two" without (the option's place
// in the list, from one).
func (s *Set) Menu(options []MenuOption) []int16 {
	p := s.phrase()
	for i, o := range options {
		if i > 0 {
			p.sentence()
		}
		if len(o.Label) > 0 {
			p.say("for")
			p.pcm(o.Label)
		} else {
			p.say("for_option")
			p.say(numberWords(i + 1)...)
		}
		p.say("press")
		if w := digitWord(o.Key); w != "" {
			p.say(w)
		}
	}
	return p.out
}

// LeaveMessageOffer says "to leave a message instead of waiting, press
// star" (the key given).
func (s *Set) LeaveMessageOffer(key byte) []int16 {
	p := s.phrase()
	p.say("leave_message_offer", digitWord(key))
	return p.out
}

// LeaveMessageAfterTone says "please leave your message after the tone;
// hang up when you are done", then a beep (Beep).
func (s *Set) LeaveMessageAfterTone() []int16 {
	p := s.phrase()
	p.say("leave_message_after_tone")
	p.sentence()
	p.pcm(Beep())
	return p.out
}

// MessageRecorded says "thank you, your message has been recorded".
func (s *Set) MessageRecorded() []int16 { return s.one("message_recorded") }

// Goodbye says "thank you for calling, goodbye".
func (s *Set) Goodbye() []int16 { return s.one("goodbye") }

// InvalidChoice says "sorry, that is not a valid choice".
func (s *Set) InvalidChoice() []int16 { return s.one("invalid_choice") }

// AllAgentsBusy says "all of our agents are busy at the moment; please
// stay on the line".
func (s *Set) AllAgentsBusy() []int16 { return s.one("all_agents_busy") }

// Welcome says "thank you for calling".
func (s *Set) Welcome() []int16 { return s.one("welcome") }

func (s *Set) one(name string) []int16 {
	p := s.phrase()
	p.say(name)
	return p.out
}

// Beep returns the recording tone: 1000 Hz for 400 ms at -10 dBFS, with 10
// ms fades so that it does not click.
func Beep() []int16 {
	const n = SampleRate * 400 / 1000
	const fade = SampleRate * 10 / 1000
	amp := dbfsToAmp(-10)
	out := make([]int16, n)
	for i := range out {
		env := min(1, float64(i)/fade, float64(n-1-i)/fade)
		out[i] = clamp16(math.Round(amp * env * math.Sin(2*math.Pi*1000*float64(i)/SampleRate)))
	}
	return out
}
