package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestSeenWeightsRoundTrip writes users' training weights and reads them
// back from the mapped file, checks their validation, and that a version
// without them still opens.
func TestSeenWeightsRoundTrip(t *testing.T) {
	const nItems, nUsers, dims = 30, 10, 4
	f := newFixture(7, nItems, nUsers, dims)
	want := map[int32][]Neighbor{0: {{Item: 1, Score: 1}, {Item: 4, Score: 10.5}}, 9: {{Item: 29, Score: 4}}}
	d := newTestDir(t)
	m := buildServingVersion(t, d, f, func(b *Builder) error {
		for u, ws := range want {
			var items []int32
			var weights []float32
			for _, w := range ws {
				items, weights = append(items, w.Item), append(weights, w.Score)
			}
			if err := b.PutSeenWeights(u, items, weights); err != nil {
				return err
			}
		}
		for _, bad := range []struct {
			user    int32
			items   []int32
			weights []float32
		}{{nUsers, nil, nil}, {1, []int32{2, 1}, []float32{1, 1}}, {1, []int32{1}, []float32{0}}, {1, []int32{nItems}, []float32{1}}, {1, []int32{1}, nil}} {
			if err := b.PutSeenWeights(bad.user, bad.items, bad.weights); err == nil {
				t.Errorf("PutSeenWeights(%d, %v, %v) = nil, want an error", bad.user, bad.items, bad.weights)
			}
		}
		return nil
	})
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	s := openT(t, d, m.Version, OpenOptions{VerifyChecksums: true})
	if !s.HasSeenWeights() {
		t.Fatal("HasSeenWeights() = false")
	}
	for u := range int32(nUsers) {
		got, err := s.SeenWeights(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[u], got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("SeenWeights(%d) (-want +got):\n%s", u, diff)
		}
	}
	if _, err := s.SeenWeights(nUsers, nil); err == nil {
		t.Error("SeenWeights(out of range) = nil error")
	}
	m2 := buildServingVersion(t, d, f, nil)
	s2 := openT(t, d, m2.Version, OpenOptions{VerifyChecksums: true})
	if got, err := s2.SeenWeights(0, nil); s2.HasSeenWeights() || err != nil || len(got) != 0 {
		t.Errorf("a version without seenweights.csr: Has %v, SeenWeights = %v, %v", s2.HasSeenWeights(), got, err)
	}
}
