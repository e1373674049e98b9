// Package storetest is the conformance suite every store.Store passes.
//
// What it holds implementations to, beyond the interface's comments:
//
//   - Times come back in UTC and equal to what was stored at least to the
//     microsecond (PostgreSQL keeps microseconds; SQLite keeps nanoseconds,
//     which its own tests check). The zero time comes back zero.
//   - Maps and slices come back exactly as stored: nil stays nil and empty
//     stays empty. The difference matters: an agent's nil Capacity means the
//     default capacity, an empty one means none, and a queue step's empty
//     Skills drops every requirement while a nil one keeps them.
//   - Text is stored as given, quotes, non-ASCII and all (but not NUL bytes or
//     invalid UTF-8, which PostgreSQL refuses). The chat methods refuse those
//     with ErrInvalid on every store, and read back every string of the Big
//     List of Naughty Strings (testdata/blns.json) byte for byte.
//   - Ids are ordered bytewise ("Bob" before "alice").
//   - ListEventsAfter, ListMessages, ListMessageEvents and ListLeftMessages with a limit below 1
//     are an error; the events of an interaction and the messages of a
//     conversation nobody stored are an empty list, not ErrNotFound.
//   - A conversation or left message without CreatedAt sorts as the oldest.
package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
)

// Run runs the suite. open must return a Store over an empty database and
// close it when the test ends (t.Cleanup). It is called once per subtest, and
// subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	var cases []testCase
	cases = append(cases, basicCases...)
	cases = append(cases, agentCases...)
	cases = append(cases, queueCases...)
	cases = append(cases, interactionCases...)
	cases = append(cases, eventCases...)
	cases = append(cases, conversationCases...)
	cases = append(cases, messageCases...)
	cases = append(cases, leftMessageCases...)
	cases = append(cases, sessionCases...)
	cases = append(cases, secretCases...)
	cases = append(cases, chatBatchCases...)
	cases = append(cases, routingBatchCases...)
	cases = append(cases, commandCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, t.Context(), open(t))
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, ctx context.Context, s store.Store)
}

var basicCases = []testCase{
	{"the store answers a ping", func(t *testing.T, ctx context.Context, s store.Store) {
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
	{"a new store is empty", func(t *testing.T, ctx context.Context, s store.Store) {
		n, err := s.CountAgents(ctx)
		must(t, err)
		agents, err := s.ListAgents(ctx)
		must(t, err)
		queues, err := s.ListQueues(ctx)
		must(t, err)
		open, err := s.ListOpenInteractions(ctx)
		must(t, err)
		maxSeq, err := s.MaxEventSeq(ctx)
		must(t, err)
		events, err := s.ListEventsAfter(ctx, 0, 10)
		must(t, err)
		if n != 0 || len(agents) != 0 || len(queues) != 0 || len(open) != 0 || maxSeq != 0 || len(events) != 0 {
			t.Errorf("new store holds %d agents (listed %d), %d queues, %d open interactions, %d events up to seq %d; want nothing",
				n, len(agents), len(queues), len(open), len(events), maxSeq)
		}
	}},
}

// base is the suite's reference time: not in UTC, with nanoseconds, so that
// a store that drops the zone handling or the sub-second part shows it.
var base = time.Date(2025, 6, 1, 9, 30, 15, 123456789, time.FixedZone("CEST", 2*60*60))

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// canon returns t truncated to the microsecond in a canonical UTC form, so
// that reflect.DeepEqual compares stored and read values.
func canon(t time.Time) time.Time {
	return time.Unix(t.Unix(), int64(t.Nanosecond()/1000*1000)).UTC()
}

// wantUTC fails for each non-zero time not in UTC.
func wantUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %d (%v) is in %v, want UTC", what, i, tm, tm.Location())
		}
	}
}

// wantEqual fails unless got and want are deeply equal.
func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
