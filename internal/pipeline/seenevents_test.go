package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training/eventlog"
)

// TestTrainRecordsSeenEventTimes checks that a trained version holds, for
// every user's training item, the time of the latest event of each type
// the log has for the pair (duplicates within the de-duplication window
// included), and nothing for pairs the matrix dropped.
func TestTrainRecordsSeenEventTimes(t *testing.T) {
	ctx := context.Background()
	logFile := sampleLog(t)
	dataDir := t.TempDir()
	opts := options(t, dataDir, logFile)
	m, err := Train(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ user, item, kind string }
	latest := map[key]time.Time{}
	if _, err := eventlog.Read(ctx, opts.Events, opts.Log, func(e eventlog.Event) error {
		k := key{e.User, e.Item, e.Type}
		if e.Time.After(latest[k]) {
			latest[k] = e.Time
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dir.Open(m.Version, store.OpenOptions{VerifyChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	kinds := snap.SeenEventKinds()
	if len(kinds) == 0 {
		t.Fatal("SeenEventKinds() = nil for a log with event types and times")
	}
	users := map[string]bool{}
	for k := range latest {
		users[k.user] = true
	}
	var seen []int32
	var events []store.SeenEvent
	checked := 0
	for uid := range users {
		u, ok, err := snap.UserIndex(uid)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue // filtered out
		}
		if seen, err = snap.Seen(u, seen); err != nil {
			t.Fatal(err)
		}
		if events, err = snap.SeenEvents(u, events); err != nil {
			t.Fatal(err)
		}
		var want []store.SeenEvent
		for _, i := range seen {
			iid, err := snap.ItemID(i)
			if err != nil {
				t.Fatal(err)
			}
			for k, kind := range kinds {
				if at, ok := latest[key{uid, iid, kind}]; ok {
					want = append(want, store.SeenEvent{Item: i, Kind: uint32(k), At: uint32(at.Unix())})
				}
			}
		}
		if !slices.Equal(events, want) {
			t.Fatalf("user %s: events %v, want %v", uid, events, want)
		}
		checked += len(want)
	}
	if checked == 0 {
		t.Fatal("no event times checked")
	}
}
