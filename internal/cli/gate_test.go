package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/polecam/polecam/internal/pipeline"
	"github.com/polecam/polecam/store"
)

// TestTrainGate trains a good version, then a crippled one on the same
// log: the gate compares with the figures the published manifest recorded,
// refuses, keeps the old version, says why and asks for exit status 2;
// --force publishes it.
func TestTrainGate(t *testing.T) {
	tmp := t.TempDir()
	logFile := filepath.Join(tmp, "events.csv")
	dataDir := filepath.Join(tmp, "data")
	report := filepath.Join(tmp, "report")
	run(t, "gen", "--out", logFile, "--users", "300", "--items", "150", "--events", "15000", "--seed", "4")
	common := []string{"train", "--log-level", "warn", "--data-dir", dataDir, "--events", logFile, "--iterations", "3"}
	out := run(t, append(common, "--factors", "16", "--report", report)...)
	for _, want := range []string{"holdout: the last 24h0m0s", "new:       ndcg@10", "quality gate: passed", "published"} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{pipeline.ReportJSON, pipeline.ReportLoss, pipeline.ReportMetrics, pipeline.ReportLongTail} {
		if _, err := os.Stat(filepath.Join(report, name)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	good, err := dir.Published()
	if err != nil {
		t.Fatal(err)
	}

	crippled := append(common, "--factors", "1", "--regularization", "1000000", "--blend", "1")
	var stdout, stderr bytes.Buffer
	err = Run(context.Background(), crippled, &stdout, &stderr)
	if !errors.Is(err, pipeline.ErrGateRefused) || ExitCode(err) != 2 {
		t.Fatalf("crippled train: error %v (exit %d), want the gate's refusal (exit 2)\n%s", err, ExitCode(err), stdout.String())
	}
	for _, want := range []string{"NOT published", good + " is still published", "worse than the published version's", "quality gate: refused"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("crippled train output lacks %q:\n%s", want, stdout.String())
		}
	}
	if v, _ := dir.Published(); v != good {
		t.Errorf("published %q after a refusal, want %q", v, good)
	}

	out = run(t, append(crippled, "--force")...)
	if !strings.Contains(out, "publishing anyway (--force)") {
		t.Errorf("forced train output lacks the forced refusal:\n%s", out)
	}
	if v, _ := dir.Published(); v == good {
		t.Errorf("--force left %q published", v)
	}
	out = run(t, "snapshots", "--data-dir", dataDir)
	if !strings.Contains(out, "HOLDOUT NDCG") || !strings.Contains(out, "@10") {
		t.Errorf("snapshots output lacks the holdout ndcg:\n%s", out)
	}
}

func TestCodeVersionOf(t *testing.T) {
	bi := func(kv ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return b
	}
	rev := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		want   string
	}{
		{"linked", "v1.2.3", bi("vcs.revision", rev), "v1.2.3"},
		{"clean", "dev", bi("vcs.revision", rev, "vcs.modified", "false"), rev},
		{"modified", "dev", bi("vcs.revision", rev, "vcs.modified", "true"), rev + "+modified"},
		{"no vcs", "dev", bi("-buildmode", "exe"), "dev"},
		{"no build info", "dev", nil, "dev"},
	}
	for _, tt := range tests {
		if got := codeVersionOf(tt.linked, tt.bi); got != tt.want {
			t.Errorf("%s: codeVersionOf(%q, ...) = %q, want %q", tt.name, tt.linked, got, tt.want)
		}
	}
	if got := shortCode(rev + "+modified"); got != rev[:12]+"+modified" {
		t.Errorf("shortCode = %q, want %q", got, rev[:12]+"+modified")
	}
}
