// Package prompts holds the voice prompts a phone caller hears: the built-in
// set (English, made with espeak-ng by scripts/make-prompts.sh and embedded
// in the binary), the WAV reader and writer they are read with, and the
// phrase builders that put them together ("you are number three in the
// queue", "your estimated wait is about four minutes", "for sales, press
// one"). Every phrase is 8 kHz 16-bit linear PCM, ready for
// media.Engine.NewClip.
//
// # Replacing prompts
//
// The config setting prompts_dir names a directory; each file NAME.wav in it
// replaces the built-in prompt NAME (see Names; default/TEXT.tsv lists what
// each one says). Files not ending in .wav are ignored. A prompt file is
// RIFF/WAVE, 8000 Hz, mono, 16-bit PCM or G.711 μ-law or A-law; anything
// else, a damaged file or a .wav whose name is not a prompt's, stops
// start-up with an error naming the file (Load). Record prompts with
// little silence at either end: the phrase builders add their own gaps
// (WordGap, SentenceGap). Every prompt, built-in or replaced, is brought to
// the same level (Normalize: speech near -16 dBFS, peaks at most -1 dBFS).
//
// Numbers are spoken from the words 0 to 19, the tens 20 to 90 and
// "hundred", so a replacement set in another language works as long as its
// numbers compose the same way.
//
// # Recordings
//
// Encode and WrapPCM turn 16-bit linear PCM (media.Leg.Record's output)
// into a WAV file; Decode and ReadFile read one back, refusing truncated or
// hostile files without allocating more than the file's size.
package prompts
