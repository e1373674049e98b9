package signaling

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
)

func TestPerAddressKeysTakeAnIPv6AddressByItsSlash64(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-address", "not-an-address"},
	} {
		if got := addressKey(tc.ip); got != tc.want {
			t.Errorf("addressKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

// sessions posts widget sessions to the edge's handlers as if from ip.
type sessions struct {
	t   *testing.T
	mux *http.ServeMux
}

func newSessions(t *testing.T, e *edge) *sessions {
	mux := http.NewServeMux()
	e.s.Register(mux)
	return &sessions{t: t, mux: mux}
}

func (s *sessions) from(ip string) int {
	s.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/widget/session", bytes.NewReader([]byte(`{"queue":"sales","name":"V"}`)))
	r.RemoteAddr = ip + ":4711"
	if ip[0] != '[' && bytes.ContainsRune([]byte(ip), ':') {
		r.RemoteAddr = "[" + ip + "]:4711"
	}
	r.Header.Set("Origin", "http://"+r.Host)
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, r)
	return w.Code
}

func TestWaitingSessionsAreCountedPerIPv6Slash64(t *testing.T) {
	e := newEdge(t, Config{SessionsPerAddress: 2, SessionRate: 1000})
	e.f.numbered = true
	e.f.info = func(id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error) {
		return store.Conversation{ID: id, Status: store.ConvQueued}, nil, nil
	}
	s := newSessions(t, e)
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if code := s.from(ip); code != http.StatusCreated {
			t.Fatalf("session %d: %d", i+1, code)
		}
	}
	if code := s.from("2001:db8:1:2:dead:beef:0:1"); code != http.StatusTooManyRequests {
		t.Fatalf("a third waiting session from the same /64: %d, want 429", code)
	}
	if code := s.from("2001:db8:1:3::1"); code != http.StatusCreated {
		t.Fatalf("a session from the next /64: %d, want 201", code)
	}
}

// Addresses whose sessions stopped waiting are forgotten by the sweep, not
// kept until the same address asks again.
func TestTheWaitingCountsForgetAddressesWhoseSessionsNoLongerWait(t *testing.T) {
	e := newEdge(t, Config{SessionRate: 1000})
	e.f.numbered = true
	var mu sync.Mutex
	ended := false
	e.f.info = func(id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error) {
		mu.Lock()
		defer mu.Unlock()
		st := store.ConvQueued
		if ended {
			st = store.ConvEnded
		}
		return store.Conversation{ID: id, Status: st}, nil, nil
	}
	now := time.Unix(1_800_000_000, 0)
	var clock sync.Mutex
	e.s.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	s := newSessions(t, e)
	const addresses = 200
	for i := range addresses {
		if code := s.from(fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)); code != http.StatusCreated {
			t.Fatalf("session %d: %d", i+1, code)
		}
	}
	size := func() int {
		e.s.waiting.mu.Lock()
		defer e.s.waiting.mu.Unlock()
		return len(e.s.waiting.by)
	}
	if n := size(); n != addresses {
		t.Fatalf("%d addresses counted, want %d", n, addresses)
	}
	// Every one of those chats ends; a minute later another visitor comes.
	mu.Lock()
	ended = true
	mu.Unlock()
	clock.Lock()
	now = now.Add(sweepEvery + time.Second)
	clock.Unlock()
	if code := s.from("203.0.113.9"); code != http.StatusCreated {
		t.Fatalf("the next visitor: %d", code)
	}
	testutil.Eventually(t, "the addresses of ended chats are forgotten", func() bool { return size() <= 1 })
}
