package store

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestSeenEventsRoundTrip writes users' latest event times and reads them
// back from the mapped file, checks their validation, and that a version
// without them still opens.
func TestSeenEventsRoundTrip(t *testing.T) {
	const nItems, nUsers, dims = 30, 10, 4
	f := newFixture(7, nItems, nUsers, dims)
	kinds := []string{"view", "cart", "purchase"}
	want := map[int32][]SeenEvent{
		0: {{Item: 1, Kind: 0, At: 100}, {Item: 1, Kind: 2, At: 200}, {Item: 4, Kind: 1, At: 1 << 31}},
		9: {{Item: 29, Kind: 2, At: 1}},
	}
	d := newTestDir(t)
	m := buildServingVersion(t, d, f, func(b *Builder) error {
		if err := b.PutSeenEvents(0, want[0]); err == nil {
			t.Error("PutSeenEvents before SetSeenEventKinds = nil, want an error")
		}
		for _, bad := range [][]string{nil, {""}, {"view", "view"}} {
			if err := b.SetSeenEventKinds(bad); err == nil {
				t.Errorf("SetSeenEventKinds(%q) = nil, want an error", bad)
			}
		}
		if err := b.SetSeenEventKinds(kinds); err != nil {
			return err
		}
		if err := b.SetSeenEventKinds(kinds); err == nil {
			t.Error("a second SetSeenEventKinds = nil, want an error")
		}
		for u, es := range want {
			if err := b.PutSeenEvents(u, es); err != nil {
				return err
			}
		}
		for _, bad := range []struct {
			user   int32
			events []SeenEvent
		}{
			{nUsers, nil},
			{1, []SeenEvent{{Item: nItems, Kind: 0, At: 1}}},
			{1, []SeenEvent{{Item: 1, Kind: 3, At: 1}}},
			{1, []SeenEvent{{Item: 1, Kind: 0, At: 0}}},
			{1, []SeenEvent{{Item: 2, Kind: 0, At: 1}, {Item: 1, Kind: 0, At: 1}}},
			{1, []SeenEvent{{Item: 1, Kind: 1, At: 1}, {Item: 1, Kind: 1, At: 2}}},
		} {
			if err := b.PutSeenEvents(bad.user, bad.events); err == nil {
				t.Errorf("PutSeenEvents(%d, %v) = nil, want an error", bad.user, bad.events)
			}
		}
		return nil
	})
	if err := d.Verify(context.Background(), m.Version); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	s := openT(t, d, m.Version, OpenOptions{VerifyChecksums: true})
	if got := s.SeenEventKinds(); !slices.Equal(got, kinds) {
		t.Fatalf("SeenEventKinds() = %q, want %q", got, kinds)
	}
	var buf []SeenEvent
	for u := range int32(nUsers) {
		var err error
		if buf, err = s.SeenEvents(u, buf); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[u], buf, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("SeenEvents(%d) (-want +got):\n%s", u, diff)
		}
	}
	if _, err := s.SeenEvents(nUsers, nil); err == nil {
		t.Error("SeenEvents(out of range) = nil error")
	}
	m2 := buildServingVersion(t, d, f, nil)
	s2 := openT(t, d, m2.Version, OpenOptions{VerifyChecksums: true})
	if got, err := s2.SeenEvents(0, nil); s2.SeenEventKinds() != nil || err != nil || len(got) != 0 {
		t.Errorf("a version without seenevents.csr: kinds %q, SeenEvents = %v, %v", s2.SeenEventKinds(), got, err)
	}
}
