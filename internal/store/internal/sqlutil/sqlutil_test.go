package sqlutil

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/contactd/contactd/routing"
)

func TestQueueDocument(t *testing.T) {
	tests := []struct {
		name string
		q    routing.QueueConfig
	}{
		{"an empty configuration", routing.QueueConfig{}},
		{"empty lists stay empty", routing.QueueConfig{ID: "q", Skills: []routing.SkillReq{}, Steps: []routing.Step{}}},
		{"a step's empty skills stay empty and nil ones nil", routing.QueueConfig{ID: "q", Steps: []routing.Step{
			{After: time.Second, Skills: []routing.SkillReq{}},
			{After: 2 * time.Second, Fallback: "other"},
		}}},
		{"every field", routing.QueueConfig{
			ID: "q", Name: "Q", Skills: []routing.SkillReq{{Skill: "a", MinLevel: 2}}, Strategy: routing.StrategyRoundRobin,
			OfferTimeout: 1, MaxWait: 1<<63 - 1, NoAgents: routing.NoAgentsLeave, ServiceLevel: 3, WrapUp: 4,
			DefaultHandleTime: 5, Steps: []routing.Step{{After: 6, Skills: []routing.SkillReq{{Skill: "b"}}, Fallback: "f"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" round-trips", func(t *testing.T) {
			doc, err := EncodeQueue(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeQueue([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.q) {
				t.Errorf("round trip of %s:\n got %#v\nwant %#v", doc, got, tt.q)
			}
		})
	}
	t.Run("the document can be read as routing.QueueConfig JSON", func(t *testing.T) {
		q := tests[3].q
		doc, err := EncodeQueue(q)
		if err != nil {
			t.Fatal(err)
		}
		var got routing.QueueConfig
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, q) {
			t.Errorf("QueueConfig from %s:\n got %#v\nwant %#v", doc, got, q)
		}
	})
}

func TestTimeScan(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	tests := []struct {
		name string
		src  any
		want time.Time
	}{
		{"NULL is the zero time", nil, time.Time{}},
		{"an integer is Unix nanoseconds in UTC", at.UnixNano(), at.UTC()},
		{"a time is put in UTC", at, at.UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Time
			if err := got.Scan(tt.src); err != nil {
				t.Fatal(err)
			}
			if got.T != tt.want {
				t.Errorf("Scan(%v) = %v, want %v", tt.src, got.T, tt.want)
			}
		})
	}
	t.Run("text is refused", func(t *testing.T) {
		var got Time
		if err := got.Scan("2025-01-02"); err == nil {
			t.Error("Scan of text succeeded, want an error")
		}
	})
}

func TestLoadMigrations(t *testing.T) {
	t.Run("files come in version order and other files are ignored", func(t *testing.T) {
		ms, err := LoadMigrations(fstest.MapFS{
			"0010_later.sql": {Data: []byte("B")},
			"0002_first.sql": {Data: []byte("A")},
			"README.md":      {Data: []byte("docs")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[0].Version != 2 || ms[0].SQL != "A" || ms[1].Version != 10 || ms[1].Name != "0010_later.sql" {
			t.Errorf("LoadMigrations = %+v", ms)
		}
	})
	bad := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"a name without a version is refused", fstest.MapFS{"init.sql": {}}, "NNNN_description"},
		{"a version that is not a number is refused", fstest.MapFS{"v1_init.sql": {}}, "not a positive number"},
		{"version zero is refused", fstest.MapFS{"0000_init.sql": {}}, "not a positive number"},
		{"two files with one version are refused", fstest.MapFS{"0001_a.sql": {}, "1_b.sql": {}}, "share version 1"},
		{"no migrations at all is refused", fstest.MapFS{}, "no .sql files"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadMigrations(tt.fsys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadMigrations error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
