package training

import (
	"context"
	"fmt"
	"testing"

	"github.com/polecam/polecam/training/synth"
)

// BenchmarkTrainEASE sweeps the catalogue size: memory is 24·n² bytes at
// the peak and time cubic in n (Gram matrix, Cholesky, inverse).
func BenchmarkTrainEASE(b *testing.B) {
	for _, items := range []int{2000, 5000, 10000} {
		b.Run(fmt.Sprintf("items=%d", items), func(b *testing.B) {
			x := syntheticInteractions(b, synth.Options{Users: 5000, Items: items, Events: 200000, Seed: 3})
			opts := DefaultEASEOptions()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := TrainEASE(context.Background(), x, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(x.NumItems()), "items")
		})
	}
}

// BenchmarkTrainSparseEASE sweeps the neighbourhood size K on a catalogue
// twice exact EASE's limit: time is the co-occurrence walk plus K³/3
// multiply-adds per item.
func BenchmarkTrainSparseEASE(b *testing.B) {
	x := randomInteractions(200_000, 20_000, 2_000_000, 1)
	for _, k := range []int{64, 128, 256} {
		b.Run(fmt.Sprintf("items=%d/nnz=%d/k=%d", x.NumItems(), x.NNZ(), k), func(b *testing.B) {
			opts := DefaultEASEOptions()
			opts.Neighbors = k
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := TrainSparseEASE(context.Background(), x, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((processCPU()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
