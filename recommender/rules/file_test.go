package rules

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with the file path+".golden", rewriting it under
// -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	g := path + ".golden"
	if *update {
		if err := os.WriteFile(g, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(g)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from its golden file (-want +got):\n%s", path, diff)
	}
}

func inputs(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(filepath.Join("testdata", dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no files in testdata/%s", dir)
	}
	return files
}

func TestLoadValid(t *testing.T) {
	for _, path := range inputs(t, "valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path)
			if err != nil {
				t.Fatalf("Load(%q): %v", path, err)
			}
			out, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, path, string(out)+"\n")
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	for _, path := range inputs(t, "invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%q) = %d rules, want an error", path, len(f.Rules))
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Load(%q) = %v, want a *Problem in it", path, err)
			}
			if p.File != path {
				t.Errorf("Problem.File = %q, want %q", p.File, path)
			}
			golden(t, path, err.Error()+"\n")
		})
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestParseLimits(t *testing.T) {
	big := "rules: []\n#" + strings.Repeat("x", MaxFileSize)
	if _, err := Parse("big.yaml", []byte(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Parse(%d bytes) = %v, want a size error", len(big), err)
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	for range MaxRules + 1 {
		b.WriteString("- {}\n")
	}
	if _, err := Parse("many.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("Parse(%d rules) = %v, want a count error", MaxRules+1, err)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"14d", "336h0m0s", true},
		{"1.5d", "36h0m0s", true},
		{"36h", "36h0m0s", true},
		{"90m", "1h30m0s", true},
		{"d", "", false},
		{"2 weeks", "", false},
		{"1e9d", "", false},
	} {
		d, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && d.String() != tc.want) {
			t.Errorf("parseDuration(%q) = %v, %v, want %s (ok %v)", tc.in, d, err, tc.want, tc.ok)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts has the
// invariants Compile and Apply rely on, and that every rejection is made
// of Problems.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		for _, ext := range []string{"*.yaml", "*.json"} {
			m, _ := filepath.Glob(filepath.Join("testdata", dir, ext))
			for _, path := range m {
				data, err := os.ReadFile(path)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Parse error %v has no *Problem", err)
			}
			return
		}
		names := map[string]bool{}
		for _, r := range file.Rules {
			if r.Name == "" || names[r.Name] {
				t.Fatalf("rule name %q empty or repeated", r.Name)
			}
			names[r.Name] = true
			if r.Scopes == 0 || r.Scopes&^AllScopes != 0 {
				t.Fatalf("rule %q scopes %b", r.Name, r.Scopes)
			}
			switch r.Kind {
			case KindBoost:
				if !(r.Multiplier > 0) || r.Multiplier == 1 {
					t.Fatalf("rule %q multiplier %v", r.Name, r.Multiplier)
				}
			case KindPin:
				for _, p := range r.Pins {
					if p.Slot < 1 || p.Item == "" {
						t.Fatalf("rule %q pin %+v", r.Name, p)
					}
				}
			case KindDiversity:
				if r.Depth < 1 || r.Max < 1 {
					t.Fatalf("rule %q depth %d max %d", r.Name, r.Depth, r.Max)
				}
			case KindExclude:
				if len(r.Events) == 0 || (!r.Forever && r.Window <= 0) {
					t.Fatalf("rule %q events %q window %v", r.Name, r.Events, r.Window)
				}
			default:
				t.Fatalf("rule %q kind %v", r.Name, r.Kind)
			}
			for _, a := range r.Match.Attributes {
				if a.Op < OpEquals || a.Op > OpRange || (a.Op == OpRange && !a.HasMin && !a.HasMax) {
					t.Fatalf("rule %q attribute %+v", r.Name, a)
				}
			}
		}
	})
}

func TestParseAliasBomb(t *testing.T) {
	// 100 rules × 1,000 attribute conditions × 1,000 values of any_of,
	// from 14 kB.
	var b strings.Builder
	b.WriteString("values: &v [" + strings.Repeat("x, ", 999) + "x]\n")
	b.WriteString("attr: &a {name: colour, any_of: *v}\n")
	b.WriteString("attrs: &as [" + strings.Repeat("*a, ", 999) + "*a]\n")
	b.WriteString("rules:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "- {name: r%d, boost: {multiplier: 2, match: {attributes: *as}}}\n", i)
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("Parse(alias bomb) succeeded")
	}
	if !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("Parse(alias bomb) = %v, want the expansion limit", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > maxProblems+1 {
		t.Errorf("Parse(alias bomb) reported %d problems, want at most %d", n, maxProblems+1)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Parse(alias bomb) took %v", d)
	}
}
