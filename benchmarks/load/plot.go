package load

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Spectrum returns the percentile spectrum of r's latency: points
// (1/(1-q), latency in ms) for quantiles q from 0 up to the largest below
// 1, then the maximum one decade further right.
func Spectrum(r *Result) (plotter.XYs, error) {
	h, err := r.LatencyHistogram()
	if err != nil {
		return nil, err
	}
	if h.TotalCount() == 0 {
		return nil, fmt.Errorf("result %q has no latencies", r.Label)
	}
	var xys plotter.XYs
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		q := b.Quantile / 100
		if q >= 1 {
			continue
		}
		xys = append(xys, plotter.XY{X: 1 / (1 - q), Y: ms(b.ValueAt)})
	}
	last := 1.0
	if len(xys) > 0 {
		last = xys[len(xys)-1].X
	}
	return append(xys, plotter.XY{X: last * 10, Y: ms(h.Max())}), nil
}

// percentileTicks labels a 1/(1-q) axis with percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	x := 1.0
	for k := 0; x <= hi*1.0001; k++ {
		if x >= lo/1.0001 {
			// 1/(1-q) = 10^k is the percentile 100 - 10^(2-k), which has
			// k-2 decimals: 90%, 99%, 99.9%, ...
			p := 100 * (1 - math.Pow(10, -float64(k)))
			ts = append(ts, plot.Tick{Value: x, Label: strconv.FormatFloat(p, 'f', max(0, k-2), 64) + "%"})
		}
		x *= 10
	}
	return ts
}

// WritePlot draws the latency percentile spectra of results, one line
// each, into a PNG (or SVG/PDF, by path's extension).
func WritePlot(path, title string, results ...*Result) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	for i, r := range results {
		xys, err := Spectrum(r)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		label := r.Label
		if label == "" {
			label = fmt.Sprintf("run %d", i+1)
		}
		p.Legend.Add(fmt.Sprintf("%s: %.0f QPS, p99 %.3g ms", label, r.QPS, r.Latency.P99Ms), l)
	}
	p.X.Min = 1
	p.Y.Min = 0
	if p.Y.Max <= 0 || math.IsNaN(p.Y.Max) {
		p.Y.Max = 1
	}
	p.Y.Max *= 1.1 + 0.08*float64(len(results)) // room for the legend
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
