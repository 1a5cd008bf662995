package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// sharedIngestLog is a log that exercises every rule of the ingestion:
// duplicates within 30 s, decay over days, a user and an item below the
// minimum support, and a forgotten user.
func sharedIngestLog(t *testing.T) string {
	t.Helper()
	const day = 86400
	var lines []string
	for u := range 8 {
		for i := range 6 {
			if (u+i)%3 == 0 {
				continue
			}
			off := (u*6 + i) * day / 4
			lines = append(lines, fmt.Sprintf("%d,u%d,i%d,view", off, u, i))
			lines = append(lines, fmt.Sprintf("%d,u%d,i%d,view", off+10, u, i)) // a duplicate
			if i%2 == 0 {
				lines = append(lines, fmt.Sprintf("%d,u%d,i%d,purchase", off+day, u, i))
			}
		}
	}
	lines = append(lines, "5,lonely,i1,view", "7,u1,rare,view", "9,gone,i1,purchase", "11,gone,i2,view")
	return writeLog(t, lines...)
}

// pairsOf returns the matrix as user id -> item id -> weight.
func pairsOf(xs ...*training.Interactions) map[string]map[string]float32 {
	out := map[string]map[string]float32{}
	for _, x := range xs {
		for u := range x.NumUsers() {
			items, ws := x.UserRow(int32(u))
			for k, i := range items {
				if out[x.Users[u]] == nil {
					out[x.Users[u]] = map[string]float32{}
				}
				out[x.Users[u]][x.Items[i]] += ws[k]
			}
		}
	}
	return out
}

// TestIngestSharedByTrainAndEval checks that Train trains on the matrix
// Ingest returns and that the evaluation splits of IngestSplit partition
// that same matrix: eval measures what train trains.
func TestIngestSharedByTrainAndEval(t *testing.T) {
	ctx := context.Background()
	log := sharedIngestLog(t)
	dataDir := t.TempDir()
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Forget("gone"); err != nil {
		t.Fatal(err)
	}
	o := options(t, dataDir, log)
	o.Gate.Disabled = true
	o.Ingest = IngestOptions{HalfLife: 48 * time.Hour, DedupWindow: 30 * time.Second, MinUserItems: 2, MinItemUsers: 2}

	x, _, err := Ingest(ctx, o)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	want := pairsOf(x)
	for _, id := range []string{"gone", "lonely"} {
		if _, ok := want[id]; ok {
			t.Errorf("Ingest kept user %q", id)
		}
	}
	if _, ok := x.ItemIndex("rare"); ok {
		t.Error("Ingest kept item \"rare\" below the minimum support")
	}

	o.Min = MinSizes{} // a hand-made log of a few users
	m, err := Train(ctx, o)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	if m.Counts.Users != int64(x.NumUsers()) || m.Counts.Items != int64(x.NumItems()) || m.Counts.Interactions != int64(x.NNZ()) {
		t.Errorf("Train counts %+v, Ingest %d users, %d items, %d interactions", m.Counts, x.NumUsers(), x.NumItems(), x.NNZ())
	}
	snap, err := dir.Open(m.Version, store.DefaultOpenOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	trained := map[string][]string{}
	for u := range snap.NumUsers() {
		seen, err := snap.Seen(int32(u), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range seen {
			id, err := snap.ItemID(i)
			if err != nil {
				t.Fatal(err)
			}
			trained[x.Users[u]] = append(trained[x.Users[u]], id)
		}
	}
	ingested := map[string][]string{}
	for u, items := range want {
		ingested[u] = slices.Sorted(maps.Keys(items))
	}
	for u := range trained {
		slices.Sort(trained[u])
	}
	if diff := cmp.Diff(ingested, trained); diff != "" {
		t.Errorf("Train's seen items differ from Ingest's matrix (-ingest +train):\n%s", diff)
	}
	pop, err := snap.Popularity()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(training.Popularity(x), pop); diff != "" {
		t.Errorf("Train's popularity differs from Ingest's (-ingest +train):\n%s", diff)
	}

	for _, s := range []SplitOptions{
		{Kind: SplitStratifiedItem, TestRatio: 0.3, Seed: 7},
		{Kind: SplitLeaveLastOut, LastN: 1},
		{Kind: SplitLeaveLastOut, LastN: 2},
	} {
		train, test, _, err := IngestSplit(ctx, o, s)
		if err != nil {
			t.Fatalf("IngestSplit(%+v): %v", s, err)
		}
		if test.NNZ() == 0 || train.NNZ() == 0 {
			t.Errorf("IngestSplit(%+v): %d train, %d test interactions, want both", s, train.NNZ(), test.NNZ())
		}
		if train.NNZ()+test.NNZ() != x.NNZ() {
			t.Errorf("IngestSplit(%+v): %d + %d interactions, Ingest %d", s, train.NNZ(), test.NNZ(), x.NNZ())
		}
		if diff := cmp.Diff(want, pairsOf(train, test)); diff != "" {
			t.Errorf("IngestSplit(%+v) train ∪ test differs from Ingest's matrix (-ingest +split):\n%s", s, diff)
		}
	}
}

// TestIngestSplitLeaveLastOut checks which pairs leave-last-out holds out:
// by the time of the pair's last counted event, ties by log order, and
// users with too few pairs kept out of the test.
func TestIngestSplitLeaveLastOut(t *testing.T) {
	log := writeLog(t,
		"0,a,x,view",
		"100,a,y,view",
		"200,a,x,purchase", // x's last event is the latest of a's
		"50,b,x,view",
		"60,b,y,view",
		"60,b,z,view",  // same time as y, read later: z is the last
		"10,c,x,view",  // a single pair: not tested
		"300,a,y,view", // a duplicate of y's view within the window is not counted
	)
	o := options(t, t.TempDir(), log)
	o.Ingest.DedupWindow = time.Hour
	train, test, _, err := IngestSplit(context.Background(), o, SplitOptions{Kind: SplitLeaveLastOut, LastN: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for u, items := range pairsOf(test) {
		got[u] = slices.Sorted(maps.Keys(items))
	}
	if diff := cmp.Diff(map[string][]string{"a": {"x"}, "b": {"z"}}, got); diff != "" {
		t.Errorf("leave-last-out test (-want +got):\n%s", diff)
	}
	if train.NNZ() != 4 {
		t.Errorf("leave-last-out train has %d interactions, want 4", train.NNZ())
	}
	if _, _, _, err := IngestSplit(context.Background(), o, SplitOptions{Kind: "bogus"}); err == nil {
		t.Error("IngestSplit with an unknown split succeeded, want an error")
	}
}
