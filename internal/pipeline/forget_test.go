package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polecam/polecam/store"
)

// TestTrainSkipsForgottenUsers forgets a user before training: the new
// version must not know them, while everyone else is trained as usual.
func TestTrainSkipsForgottenUsers(t *testing.T) {
	var log strings.Builder
	log.WriteString("timestamp,user_id,item_id,event\n")
	for u := range 6 {
		for i := range 5 {
			fmt.Fprintf(&log, "2026-11-01T08:%02d:00Z,user-%d,sku-%d,view\n", u*5+i, u, (u+i)%8)
		}
	}
	logFile := filepath.Join(t.TempDir(), "events.csv")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Forget("user-2"); err != nil {
		t.Fatalf("Forget() error = %v", err)
	}
	o := options(t, dataDir, logFile)
	o.Min = MinSizes{} // a handful of users
	m, err := Train(context.Background(), o)
	if err != nil {
		t.Fatalf("Train() error = %v", err)
	}
	if m.Counts.Users != 5 {
		t.Errorf("manifest counts %d users, want 5 (6 in the log, 1 forgotten)", m.Counts.Users)
	}
	snap, err := dir.Open(m.Version, store.DefaultOpenOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for u := range 6 {
		id := fmt.Sprintf("user-%d", u)
		_, known, err := snap.UserIndex(id)
		if err != nil {
			t.Fatalf("UserIndex(%q) error = %v", id, err)
		}
		if want := u != 2; known != want {
			t.Errorf("UserIndex(%q) known = %v, want %v", id, known, want)
		}
	}
}
