package testutil

import "math"

// ToneShare is how much of the signal's power is at hz (Goertzel over the
// whole of samples, taken at rate): about 1 for a clean sine at hz, about 0
// for silence, noise or another tone. Silence (no power at all) is 0.
func ToneShare(samples []int16, rate int, hz float64) float64 {
	n := len(samples)
	if n == 0 {
		return 0
	}
	w := 2 * math.Pi * hz / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2, total float64
	for _, v := range samples {
		x := float64(v)
		total += x * x
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	if total == 0 {
		return 0
	}
	// |X(hz)|^2; a sine of amplitude A gives (A*n/2)^2, whose power
	// A^2/2 is 2|X|^2/n^2; the signal's mean power is total/n.
	mag := s1*s1 + s2*s2 - coeff*s1*s2
	return (2 * mag / float64(n) / float64(n)) / (total / float64(n))
}

// ToneBlocks splits samples into blocks of block samples and counts those
// in which hz holds more than share of the power and whose RMS is at
// least minRMS (so that near-silence does not count).
func ToneBlocks(samples []int16, rate, block int, hz, share, minRMS float64) (hits, blocks int) {
	for i := 0; i+block <= len(samples); i += block {
		b := samples[i : i+block]
		blocks++
		if RMS(b) >= minRMS && ToneShare(b, rate, hz) > share {
			hits++
		}
	}
	return hits, blocks
}

// RMS is the root mean square of samples.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(samples)))
}
