package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/storetest"
)

// BenchmarkAppendMessages runs storetest.BenchmarkAppendMessages, for
// comparison with PostgreSQL: every commit is an fsync (synchronous=FULL).
func BenchmarkAppendMessages(b *testing.B) {
	storetest.BenchmarkAppendMessages(b, open)
}

// BenchmarkChatLoad runs storetest.BenchmarkChatLoad.
func BenchmarkChatLoad(b *testing.B) {
	storetest.BenchmarkChatLoad(b, open)
}

func open(b *testing.B) store.Store {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "contactd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}
