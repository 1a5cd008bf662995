package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/polecam/polecam/internal/pipeline"
)

// TestTrainTuneBudget runs train with and without tuning: with a budget
// it prints the validation split and the recipe, keeps the parameters
// given as flags and records the tuning in the manifest; with
// --tune-budget 0 it records none.
func TestTrainTuneBudget(t *testing.T) {
	log := filepath.Join(t.TempDir(), "events.csv")
	run(t, "gen", "--out", log, "--users", "400", "--items", "150", "--events", "20000", "--seed", "11", "--days", "30")
	tests := []struct {
		name       string
		args       []string
		wantTuning bool
		wantOut    []string
	}{
		{"tuned", []string{"--tune-budget", "2m", "--factors", "8", "--alpha", "3"}, true,
			[]string{"tuning: validation on the 24h0m0s before ", "recipe: factors=8 ", " alpha=3 "}},
		{"off", []string{"--tune-budget", "0", "--factors", "8", "--iterations", "3"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			out := run(t, append([]string{"train", "--log-level", "warn", "--data-dir", dataDir, "--events", log}, tt.args...)...)
			for _, want := range tt.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("train output lacks %q:\n%s", want, out)
				}
			}
			v := regexp.MustCompile(`snapshot (\S+) published`).FindStringSubmatch(out)
			if v == nil {
				t.Fatalf("train output names no published version:\n%s", out)
			}
			var info inspectJSON
			if err := json.Unmarshal([]byte(run(t, "inspect", "--json", "--data-dir", dataDir, v[1])), &info); err != nil {
				t.Fatal(err)
			}
			var p pipeline.Params
			if err := json.Unmarshal(info.Manifest.Params, &p); err != nil {
				t.Fatal(err)
			}
			if (p.Tuning != nil) != tt.wantTuning {
				t.Fatalf("manifest tuning = %+v, want recorded: %v", p.Tuning, tt.wantTuning)
			}
			if p.ALS.Factors != 8 {
				t.Errorf("trained %d factors, want the flag's 8", p.ALS.Factors)
			}
			if tt.wantTuning {
				if c := p.Tuning.Result.Chosen.ALS; c.Factors != 8 || c.Alpha != 3 || p.ALS.Alpha != 3 {
					t.Errorf("chosen %+v, trained %+v; want the flags' 8 factors and alpha 3", c, p.ALS)
				}
			}
		})
	}
}
