package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
)

// BenchmarkAppendMessages compares one message per AppendMessages call (one
// transaction, one commit each) with batches of 100, one message to each of
// 100 conversations, as group commit would send them. It reports messages
// per second. open must return a Store over an empty database and close it
// when the benchmark ends.
func BenchmarkAppendMessages(b *testing.B, open func(*testing.B) store.Store) {
	const conversations = 100
	for _, bc := range []struct {
		name  string
		batch int
	}{
		{"1 message per transaction", 1},
		{"100 messages per transaction", 100},
		{"1000 messages per transaction", 1000}, // the chat committer's largest batch
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b)
			ctx := b.Context()
			at := time.Now()
			ids := make([]store.ConversationID, conversations)
			for i := range ids {
				ids[i] = store.ConversationID(fmt.Sprintf("conv-%03d", i))
				c := newConversation(ids[i])
				c.CreatedAt = at
				if err := s.CreateConversation(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			lastSeq := make([]int64, conversations)
			msgs := make([]store.Message, bc.batch)
			next, sent := 0, 0
			for b.Loop() {
				for i := range msgs {
					c := next % conversations
					next++
					lastSeq[c]++
					msgs[i] = store.Message{
						Conversation: ids[c], Seq: lastSeq[c], ClientID: fmt.Sprintf("k%d", lastSeq[c]),
						Sender: "visitor", Kind: store.MsgText, CreatedAt: at,
						Text: "Hello, I have a question about my last invoice: it shows two charges for May.",
					}
				}
				if err := s.AppendMessages(ctx, msgs); err != nil {
					b.Fatal(err)
				}
				sent += len(msgs)
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "messages/s")
		})
	}
}
