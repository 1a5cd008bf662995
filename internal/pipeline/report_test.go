package pipeline

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestTrainReportAndProvenance(t *testing.T) {
	early, full := gateLogs(t)
	ctx := context.Background()
	dataDir := t.TempDir()
	old, err := Train(ctx, crippled(gateOptions(t, dataDir, early)))
	if err != nil {
		t.Fatal(err)
	}
	reportDir := filepath.Join(t.TempDir(), "report")
	o := gateOptions(t, dataDir, full)
	o.Report = reportDir
	o.CodeVersion = "0123abc"
	m, err := Train(ctx, o)
	if err != nil {
		t.Fatal(err)
	}

	// Provenance: every field of the manifest a person needs to trust it.
	if m.CodeVersion != "0123abc" {
		t.Errorf("manifest code version = %q, want %q", m.CodeVersion, "0123abc")
	}
	if len(m.Sources) != 1 || m.Sources[0].Path != full || len(m.Sources[0].SHA256) != 64 || m.Sources[0].Size == 0 {
		t.Errorf("manifest sources = %+v, want %s with its size and SHA-256", m.Sources, full)
	}
	if m.Window.From.IsZero() || !m.Window.To.After(m.Window.From) {
		t.Errorf("manifest window = %+v, want the log's time span", m.Window)
	}
	if m.Counts.Events == 0 || m.Counts.Users == 0 || m.Counts.Items == 0 || m.Counts.Interactions == 0 {
		t.Errorf("manifest counts = %+v, want all non-zero", m.Counts)
	}
	if len(m.Params) == 0 {
		t.Error("manifest has no parameters")
	}
	for _, k := range []string{"ndcg@10", "recall@10", "precision@10", "map@10", "coverage@10", "holdout_users"} {
		if _, ok := m.Metrics[k]; !ok {
			t.Errorf("manifest metrics %v lack %q", m.Metrics, k)
		}
	}

	b, err := os.ReadFile(filepath.Join(reportDir, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", ReportJSON, err)
	}
	if rep.Version != m.Version || rep.Gate == nil || !rep.Gate.Pass {
		t.Errorf("report version %q, gate %+v; want %s and a passed gate", rep.Version, rep.Gate, m.Version)
	}
	if len(rep.NewAtK) != CurveK || len(rep.PublishedAtK) != CurveK {
		t.Errorf("report has %d new and %d published metrics at k, want %d each", len(rep.NewAtK), len(rep.PublishedAtK), CurveK)
	}
	if rep.Gate.PublishedVersion != old.Version {
		t.Errorf("report compares with %q, want %q", rep.Gate.PublishedVersion, old.Version)
	}
	for i, m := range rep.NewAtK {
		if m.K != i+1 {
			t.Errorf("new_at_k[%d].k = %d, want %d", i, m.K, i+1)
		}
		if i > 0 && m.Recall < rep.NewAtK[i-1].Recall {
			t.Errorf("recall@%d %v < recall@%d %v: recall cannot fall as k grows", i+1, m.Recall, i, rep.NewAtK[i-1].Recall)
		}
	}
	if n := o.ALS.Iterations; len(rep.Gate.HoldoutLoss) != n || len(rep.Gate.FinalLoss) != n {
		t.Errorf("report loss has %d holdout and %d final iterations, want %d each", len(rep.Gate.HoldoutLoss), len(rep.Gate.FinalLoss), n)
	}

	for _, name := range []string{ReportLoss, ReportMetrics, ReportLongTail} {
		f, err := os.Open(filepath.Join(reportDir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 250 {
			t.Errorf("%s is %v, want a readable size", name, b)
		}
	}
}

// A report is written for a refused version too: that is when a person
// wants to look at it.
func TestReportOfRefusedVersion(t *testing.T) {
	early, full := gateLogs(t)
	ctx := context.Background()
	dataDir := t.TempDir()
	if _, err := Train(ctx, gateOptions(t, dataDir, early)); err != nil {
		t.Fatal(err)
	}
	reportDir := t.TempDir()
	o := crippled(gateOptions(t, dataDir, full))
	o.Report = reportDir
	if _, err := Train(ctx, o); err == nil {
		t.Fatal("Train() = nil, want the gate to refuse a crippled model")
	}
	b, err := os.ReadFile(filepath.Join(reportDir, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Gate == nil || rep.Gate.Pass || len(rep.Gate.Reasons) == 0 {
		t.Errorf("report gate = %+v, want a refusal with reasons", rep.Gate)
	}
}
