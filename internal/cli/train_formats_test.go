package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainFormats trains on the event log fixtures of every format through
// the command line and checks the printed summary.
func TestTrainFormats(t *testing.T) {
	const fixtures = "../../training/eventlog/testdata/"
	tests := []struct {
		name string
		args []string
		want []string // lines of the summary
	}{
		{
			name: "access log",
			args: []string{"--events", fixtures + "access.log", "--format", "access-log",
				"--item-pattern", "/p/{item}", "--item-pattern", "view=/product/{item}/*",
				"--item-pattern", "add_to_cart=/cart/add?sku={item}", "--item-pattern", "purchase=POST /checkout/complete?sku={item}",
				"--user-cookie", "sid", "--user-fallback", "none"},
			want: []string{
				"read 1 files: 12 lines, 4 events, 0 bad lines",
				"dropped 8 lines: 2 bots, 3 non-2xx, 1 without an item, 2 without a user",
				"trained on 2 users, 2 items, 2 interactions",
			},
		},
		{
			name: "movielens with filters",
			args: []string{"--events", fixtures + "u.data", "--format", "movielens", "--rating-weights", "--min-item-users", "1"},
			want: []string{"read 1 files: 10 lines, 10 events, 0 bad lines", "trained on 10 users, 10 items, 10 interactions"},
		},
		{
			name: "jsonl with dedup and decay",
			args: []string{"--events", fixtures + "events.jsonl", "--format", "jsonl", "--dedup-window", "30s", "--half-life", "168h"},
			want: []string{"read 1 files: 4 lines, 4 events, 0 bad lines", "trained on 2 users, 2 items, 2 interactions"},
		},
		{
			name: "retailrocket",
			args: []string{"--events", fixtures + "retailrocket-events.csv", "--format", "retailrocket", "--max-bad-ratio", "0.5"},
			want: []string{"read 1 files: 8 lines, 6 events, 2 bad lines", "trained on 4 users, 4 items, 4 interactions"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"train", "--data-dir", dataDir, "--factors", "2", "--iterations", "1", "--no-publish"}, tt.args...)
			out := run(t, args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("polecam %s printed\n%s\nwant a line %q", strings.Join(args, " "), out, w)
				}
			}
			if !strings.Contains(out, "time: read ") {
				t.Errorf("polecam train printed\n%s\nwant the time per stage", out)
			}
		})
	}
}
