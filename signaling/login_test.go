package signaling

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
)

// Wrong guesses for one account sent at the same time count one by one:
// past the free ones, the backoff refuses the rest before their password
// is checked, as it would had they come one after another.
func TestConcurrentWrongGuessesForOneAccountEachCount(t *testing.T) {
	const guesses, free = 8, 3
	var entered atomic.Int32
	release := make(chan struct{})
	e := newEdge(t, Config{Security: Security{
		HashConcurrency: guesses, HashQueue: guesses,
		LoginFree: free, LoginBackoff: time.Hour, LoginBackoffMax: 2 * time.Hour,
		VerifyPassword: func(string, string) (bool, error) {
			entered.Add(1)
			<-release
			return false, nil
		},
	}})
	var (
		wg       sync.WaitGroup
		answered atomic.Int32
		mu       sync.Mutex
		codes    = map[int]int{}
	)
	for range guesses {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/api/login", strings.NewReader(`{"id":"ann","password":"guess"}`))
			req.Header.Set("Origin", e.url)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				answered.Add(1)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
			answered.Add(1)
		})
	}
	// Every guess is either checking its password or answered; then the
	// checks end.
	testutil.Eventually(t, "every guess checks its password or is answered", func() bool {
		return int(entered.Load()+answered.Load()) == guesses
	})
	close(release)
	wg.Wait()
	if n := entered.Load(); n != free+1 {
		t.Errorf("%d of %d concurrent guesses had their password checked, want %d (the free ones and the one that starts the backoff)", n, guesses, free+1)
	}
	if codes[http.StatusTooManyRequests] != guesses-free-1 || codes[http.StatusUnauthorized] != free+1 {
		t.Errorf("answers %v, want %d × 401 and %d × 429", codes, free+1, guesses-free-1)
	}
}
