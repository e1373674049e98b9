package routing

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type effectLog struct {
	mu   sync.Mutex
	effs []Effect
	got  chan struct{}
}

func (l *effectLog) sink(effs []Effect) {
	l.mu.Lock()
	l.effs = append(l.effs, effs...)
	l.mu.Unlock()
	select {
	case l.got <- struct{}{}:
	default:
	}
}

func (l *effectLog) offers() []Offer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return effectsOf[Offer](l.effs)
}

func TestLoopFiresOfferTimeoutsOnItsOwnClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &effectLog{got: make(chan struct{}, 1)}
		l := NewLoop(NewEngine(EngineConfig{}), log.sink)
		ctx, cancel := context.WithCancel(t.Context())
		go l.Run(ctx)
		defer cancel()
		for _, c := range []Command{
			SetQueue{Config: QueueConfig{ID: "q", OfferTimeout: 30 * time.Second}},
			SetAgent{Config: AgentConfig{ID: "a"}}, SetPresence{Agent: "a", Presence: PresenceAvailable},
		} {
			if err := l.Do(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // a becomes available before b: longest idle
		for _, c := range []Command{
			SetAgent{Config: AgentConfig{ID: "b"}}, SetPresence{Agent: "b", Presence: PresenceAvailable},
			Enqueue{Interaction: "x", Queue: "q", Channel: ChannelVoice},
		} {
			if err := l.Do(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if o := log.offers(); len(o) != 1 || o[0].Agent != "a" {
			t.Fatalf("offers %+v", o)
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if o := log.offers(); len(o) != 1 {
			t.Fatalf("offer moved on before its timeout: %+v", o)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if o := log.offers(); len(o) != 2 || o[1].Agent != "b" {
			t.Fatalf("after the timeout: %+v", o)
		}
		err := l.Do(ctx, Accept{Agent: "a", Interaction: "x"})
		if !errors.Is(err, ErrOfferExpired) {
			t.Fatalf("late accept: %v", err)
		}
	})
}

func TestLoopMailboxNeverBlocksAndAnswersAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLoop(NewEngine(EngineConfig{}), nil)
		var mu sync.Mutex
		answered := 0
		// Nothing runs the loop yet: Submit must still return at once.
		for range 10000 {
			l.Submit(SetQueue{Config: QueueConfig{ID: "q"}}, func(err error) {
				mu.Lock()
				answered++
				mu.Unlock()
			})
		}
		ctx, cancel := context.WithCancel(t.Context())
		go l.Run(ctx)
		var views []QueueView
		if err := l.Query(ctx, func(e *Engine) { views = e.QueueViews() }); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if answered != 10000 || len(views) != 1 {
			t.Fatalf("answered %d, queues %d", answered, len(views))
		}
		mu.Unlock()
		cancel()
		<-l.Done()
		if err := l.Do(context.Background(), Tick{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("after stop: %v", err)
		}
	})
}
