package training

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/polecam/polecam/training/synth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEventWeights weighs log events for the tests: stronger intent, more
// weight.
var testEventWeights = map[string]float32{
	synth.View:      1,
	synth.AddToCart: 3,
	synth.Purchase:  5,
}

// buildFromLog reads a synth CSV log into an Interactions.
func buildFromLog(t testing.TB, r io.Reader) *Interactions {
	t.Helper()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil {
		t.Fatalf("read header: %v", err)
	}
	b := NewBuilder()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		w, ok := testEventWeights[rec[3]]
		if !ok {
			t.Fatalf("unknown event %q", rec[3])
		}
		b.Add(rec[1], rec[2], w)
	}
	return b.Build()
}

// syntheticInteractions generates a synth log in memory and builds it.
func syntheticInteractions(t testing.TB, opts synth.Options) *Interactions {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(&buf, opts); err != nil {
		t.Fatalf("synth.Generate(%+v): %v", opts, err)
	}
	return buildFromLog(t, &buf)
}
