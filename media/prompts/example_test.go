package prompts_test

import (
	"fmt"
	"time"

	"github.com/contactd/contactd/media/prompts"
)

// What a waiting caller hears every announce_interval, ready for
// media.Engine.NewClip.
func ExampleSet_Announcement() {
	set, err := prompts.Load("") // the config's prompts_dir; "" for the built-in prompts
	if err != nil {
		panic(err) // names the bad file
	}
	pcm := set.Announcement(3, 4*time.Minute) // "you are number three in the queue. your estimated wait is about four minutes."
	d := time.Duration(len(pcm)) * time.Second / prompts.SampleRate
	fmt.Println(d > 3*time.Second && d < 8*time.Second)
	// Output: true
}

// A recording (16-bit little-endian 8 kHz PCM, as media.Leg.Record writes
// it) as a WAV file, and back.
func ExampleWrapPCM() {
	raw := []byte{0x10, 0x00, 0xf0, 0xff} // two samples: 16, -16
	wav := prompts.WrapPCM(raw)
	pcm, err := prompts.Decode("message.wav", wav)
	fmt.Println(len(wav), pcm, err)
	// Output: 48 [16 -16] <nil>
}
