package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/storetest"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// BenchmarkAppendEvents compares one event per AppendEvents call (one
// transaction, one commit each) with batches of 100, as group commit would
// send them. It reports events per second; each call is one transaction.
func BenchmarkAppendEvents(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d events per transaction", batch), func(b *testing.B) {
			s := openStore(b, testutil.PostgresURL(b))
			ctx := b.Context()
			at := time.Now()
			evs := make([]routing.Event, batch)
			var seq int64
			for b.Loop() {
				for i := range evs {
					seq++
					evs[i] = routing.Event{
						Seq: seq, Time: at, Type: routing.EvEntered, Interaction: routing.InteractionID(fmt.Sprintf("i%d", seq/4)),
						Queue: "support", Channel: routing.ChannelChat, Priority: 1,
					}
				}
				if err := s.AppendEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendMessages runs storetest.BenchmarkAppendMessages: one
// message per transaction against batches of 100 over 100 conversations.
func BenchmarkAppendMessages(b *testing.B) {
	testutil.PostgresURL(b) // skip once, not in every sub-benchmark, without a server
	storetest.BenchmarkAppendMessages(b, func(b *testing.B) store.Store {
		return openStore(b, testutil.PostgresURL(b))
	})
}

// BenchmarkChatLoad runs storetest.BenchmarkChatLoad (the CPU time it
// reports is the client's, not the server's).
func BenchmarkChatLoad(b *testing.B) {
	testutil.PostgresURL(b)
	storetest.BenchmarkChatLoad(b, func(b *testing.B) store.Store {
		return openStore(b, testutil.PostgresURL(b))
	})
}
