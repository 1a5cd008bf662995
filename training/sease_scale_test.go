package training

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polecam/polecam/training/eventlog"
)

// TestSparseEASEScale times TrainSparseEASE on a large log, the one named
// by POLECAM_SEASE_LOG (for benchmarks/sparse-ease.md: polecam gen with
// 100,000 items and 20M events), at the K in POLECAM_SEASE_K (comma
// separated; default DefaultNeighbors). It logs wall time, CPU time and the
// peak resident set of the training alone: the peak is reset (Linux
// /proc/self/clear_refs) after the log is read.
func TestSparseEASEScale(t *testing.T) {
	path := os.Getenv("POLECAM_SEASE_LOG")
	if path == "" {
		t.Skip("set POLECAM_SEASE_LOG to a polecam event log to time sparse EASE on it")
	}
	ctx := context.Background()
	b := NewBuilder()
	start := time.Now()
	if _, err := eventlog.Read(ctx, []string{path}, eventlog.DefaultOptions(), func(e eventlog.Event) error {
		b.Add(e.User, e.Item, e.Weight)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	x := b.Build()
	b = nil
	t.Logf("read %s in %.1f s: %d users, %d items, %d interactions", path, time.Since(start).Seconds(), x.NumUsers(), x.NumItems(), x.NNZ())
	ks := []int{DefaultNeighbors}
	if v := os.Getenv("POLECAM_SEASE_K"); v != "" {
		ks = nil
		for _, f := range strings.Split(v, ",") {
			k, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("POLECAM_SEASE_K %q: %v", v, err)
			}
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		runtime.GC()
		debug.FreeOSMemory()
		base := residentKB(t, "VmRSS")
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Logf("reset peak RSS: %v (the peak below includes the read)", err)
		}
		opts := DefaultEASEOptions()
		opts.Neighbors = k
		cpu, start := processCPU(), time.Now()
		m, err := TrainSparseEASE(ctx, x, opts)
		if err != nil {
			t.Fatal(err)
		}
		wall, cpuS := time.Since(start), processCPU()-cpu
		peak := residentKB(t, "VmHWM")
		t.Logf("K %d: %.1f s wall, %.1f CPU-s on GOMAXPROCS %d; %d weights; RSS %.2f GB before, peak %.2f GB during training (+%.2f GB)",
			k, wall.Seconds(), cpuS.Seconds(), runtime.GOMAXPROCS(0), m.NNZ(), float64(base)/1e6, float64(peak)/1e6, float64(peak-base)/1e6)
	}
}

// residentKB returns a kB field of /proc/self/status (VmRSS, VmHWM), or 0.
func residentKB(t *testing.T, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
