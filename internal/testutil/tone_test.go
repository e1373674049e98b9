package testutil

import (
	"math"
	"math/rand/v2"
	"testing"
)

func sine(hz float64, n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(i)/8000))
	}
	return s
}

func TestToneShareTellsATonesFrequency(t *testing.T) {
	if got := ToneShare(sine(440, 1600, 8000), 8000, 440); got < 0.9 {
		t.Fatalf("a 440 Hz sine has %.2f of its power at 440 Hz", got)
	}
	if got := ToneShare(sine(1000, 1600, 8000), 8000, 440); got > 0.05 {
		t.Fatalf("a 1000 Hz sine has %.2f of its power at 440 Hz", got)
	}
	noise := make([]int16, 1600)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = int16(r.IntN(16000) - 8000)
	}
	if got := ToneShare(noise, 8000, 440); got > 0.05 {
		t.Fatalf("noise has %.2f of its power at 440 Hz", got)
	}
	if got := ToneShare(make([]int16, 160), 8000, 440); got != 0 {
		t.Fatalf("silence: %v", got)
	}
	both := sine(440, 1600, 8000)
	for i, v := range sine(1000, 1600, 8000) {
		both[i] += v
	}
	if got := ToneShare(both, 8000, 440); got < 0.4 || got > 0.6 {
		t.Fatalf("two tones: %.2f at 440 Hz, want about half", got)
	}
	hits, blocks := ToneBlocks(append(make([]int16, 800), sine(440, 800, 8000)...), 8000, 160, 440, 0.5, 100)
	if hits != 5 || blocks != 10 {
		t.Fatalf("%d of %d blocks hold the tone, want 5 of 10", hits, blocks)
	}
}
