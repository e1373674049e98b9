package storetest

import (
	"fmt"
	"math/rand/v2"
	"syscall"
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

// BenchmarkChatLoad is the chat committer's work under ccload's chat load:
// 5,000 conversations with random ids, and batches of messages to randomly
// chosen ones (each with a client id), as CommitChat writes them. It
// reports messages per second; the tables grow as it runs.
func BenchmarkChatLoad(b *testing.B, open func(*testing.B) store.Store) {
	const conversations = 5000
	for _, batch := range []int{50, 250} {
		b.Run(fmt.Sprintf("%d messages per batch", batch), func(b *testing.B) {
			s := open(b)
			ctx := b.Context()
			at := time.Now()
			rng := rand.New(rand.NewPCG(1, 2))
			ids := make([]store.ConversationID, conversations)
			var create []store.Conversation
			for i := range ids {
				ids[i] = store.ConversationID(fmt.Sprintf("c_%016x", rng.Uint64()))
				c := newConversation(ids[i])
				c.CreatedAt = at
				create = append(create, c)
			}
			if _, err := s.CommitChat(ctx, store.ChatBatch{Create: create}); err != nil {
				b.Fatal(err)
			}
			lastSeq := make([]int64, conversations)
			msgs := make([]store.Message, batch)
			sent := 0
			cpu0 := cpuTime()
			for b.Loop() {
				for i := range msgs {
					c := rng.IntN(conversations)
					lastSeq[c]++
					msgs[i] = store.Message{
						Conversation: ids[c], Seq: lastSeq[c], ClientID: fmt.Sprintf("v-%d", lastSeq[c]),
						Sender: "visitor", Kind: store.MsgText, CreatedAt: at,
						Text: "Hello, I have a question about my last invoice: it shows two charges for May.",
					}
				}
				if _, err := s.CommitChat(ctx, store.ChatBatch{Messages: msgs}); err != nil {
					b.Fatal(err)
				}
				sent += len(msgs)
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "messages/s")
			// The process's CPU time per message: the store's own work for
			// SQLite, the client's for PostgreSQL. Less noisy than the
			// wall time on a busy machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(sent)/1000, "cpu-µs/message")
		})
	}
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
