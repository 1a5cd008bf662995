package pipeline

import (
	"cmp"
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
)

// The files of a training report.
const (
	ReportJSON     = "report.json"
	ReportLoss     = "loss.png"
	ReportMetrics  = "metrics_at_k.png"
	ReportLongTail = "long_tail.png"
)

// Report is the content of report.json.
type Report struct {
	Version     string             `json:"version"`
	CodeVersion string             `json:"code_version"`
	Counts      store.Counts       `json:"counts"`
	Window      store.Window       `json:"window"`
	Metrics     map[string]float64 `json:"metrics"`
	Gate        *GateResult        `json:"gate"`
	// NewAtK and PublishedAtK are the holdout metrics at k = 1..CurveK of
	// the new recipe and of the published version (empty when it was not
	// measured).
	NewAtK       []training.Metrics `json:"new_at_k"`
	PublishedAtK []training.Metrics `json:"published_at_k,omitempty"`
}

// writeReport writes the report of opts.Report, if set.
func writeReport(opts Options, m store.Manifest, r *GateResult) error {
	if opts.Report == "" || r == nil {
		return nil
	}
	if err := WriteReport(opts.Report, m, r); err != nil {
		return err
	}
	opts.Logger.Info("wrote training report", "dir", opts.Report)
	return nil
}

// WriteReport writes the training report of the version m into dir,
// creating it: report.json (Report), and three PNG plots: the iALS loss
// per iteration (loss.png), precision, recall and NDCG at k = 1..CurveK of
// the new and the published version on the holdout (metrics_at_k.png),
// and the items by training popularity with those each version
// recommended in its top K (long_tail.png).
func WriteReport(dir string, m store.Manifest, r *GateResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	rep := Report{
		Version: m.Version, CodeVersion: m.CodeVersion, Counts: m.Counts, Window: m.Window,
		Metrics: m.Metrics, Gate: r, NewAtK: r.Evaluation.AtK,
	}
	if r.PublishedEvaluation != nil {
		rep.PublishedAtK = r.PublishedEvaluation.AtK
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportJSON), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, p := range []struct {
		name string
		plot func(*GateResult) (*plot.Plot, error)
	}{
		{ReportLoss, lossPlot},
		{ReportMetrics, metricsPlot},
		{ReportLongTail, longTailPlot},
	} {
		pl, err := p.plot(r)
		if err != nil {
			return fmt.Errorf("write report: plot %s: %w", p.name, err)
		}
		if err := pl.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, p.name)); err != nil {
			return fmt.Errorf("write report: save %s: %w", p.name, err)
		}
	}
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Y.Tick.Marker = shortTicks{}
	return p
}

func line(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, s.Color = c, c
	l.Width = vg.Points(1.5)
	s.Radius = vg.Points(2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		s.Shape = draw.BoxGlyph{}
	}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// lossPlot draws the iALS objective after each iteration of both trainings.
func lossPlot(r *GateResult) (*plot.Plot, error) {
	p := newPlot("iALS training loss", "iteration", "loss (weighted squared error + L2)")
	p.Legend.Top = true
	for i, s := range []struct {
		name string
		loss []float64
	}{
		{"trained without the holdout (measured)", r.HoldoutLoss},
		{"trained on all events (this version)", r.FinalLoss},
	} {
		if len(s.loss) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.loss))
		for j, v := range s.loss {
			xys[j] = plotter.XY{X: float64(j + 1), Y: v}
		}
		if err := line(p, s.name, xys, plotutil.Color(i), i == 0); err != nil {
			return nil, err
		}
	}
	p.X.Tick.Marker = integerTicks{}
	return p, nil
}

// metricsPlot draws precision, recall and NDCG at every k on the holdout,
// solid for the new recipe, dashed for the published version.
func metricsPlot(r *GateResult) (*plot.Plot, error) {
	title := fmt.Sprintf("holdout metrics at k (%s holdout, %d users): new vs published", r.Holdout.Kind, r.Holdout.TestUsers)
	p := newPlot(title, "k (recommendations per user)", "metric")
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	series := []struct {
		name string
		atK  []training.Metrics
	}{{"new", r.Evaluation.AtK}}
	if r.PublishedEvaluation != nil {
		series = append(series, struct {
			name string
			atK  []training.Metrics
		}{"published", r.PublishedEvaluation.AtK})
	}
	metrics := []struct {
		name string
		get  func(training.Metrics) float64
	}{
		{"precision", func(m training.Metrics) float64 { return m.Precision }},
		{"recall", func(m training.Metrics) float64 { return m.Recall }},
		{"ndcg", func(m training.Metrics) float64 { return m.NDCG }},
	}
	for si, s := range series {
		for mi, m := range metrics {
			xys := make(plotter.XYs, len(s.atK))
			for k, v := range s.atK {
				xys[k] = plotter.XY{X: float64(k + 1), Y: m.get(v)}
			}
			if err := line(p, m.name+" "+s.name, xys, plotutil.Color(mi), si > 0); err != nil {
				return nil, err
			}
		}
	}
	p.X.Tick.Marker = integerTicks{}
	return p, nil
}

// longTailPlot draws the items ranked by their number of training users
// and marks those each version recommended to a holdout user in its top K.
func longTailPlot(r *GateResult) (*plot.Plot, error) {
	pop := r.TrainPopularity
	order := make([]int, len(pop))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(pop[b], pop[a]) })
	curve := make(plotter.XYs, len(order))
	for rank, i := range order {
		curve[rank] = plotter.XY{X: float64(rank + 1), Y: float64(pop[i])}
	}
	p := newPlot(fmt.Sprintf("item popularity and the items recommended in a holdout user's top %d", r.K),
		"items by popularity (rank)", "training users of the item")
	p.Legend.Top = true
	l, err := plotter.NewLine(curve)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width = color.Gray{Y: 90}, vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(fmt.Sprintf("all %d items", len(pop)), l)

	// Each version's recommended items are a row of marks under the
	// curve, at the popularity rank of the item.
	top := 0.0
	if len(curve) > 0 {
		top = curve[0].Y
	}
	rows := []struct {
		name string
		ev   *Evaluation
	}{{"new", &r.Evaluation}}
	if r.PublishedEvaluation != nil {
		rows = append(rows, struct {
			name string
			ev   *Evaluation
		}{"published", r.PublishedEvaluation})
	}
	ticks := rowTicks{}
	for ri, row := range rows {
		y := -top * 0.08 * float64(ri+1)
		var xys plotter.XYs
		for rank, i := range order {
			if br := row.ev.BestRank[i]; br >= 1 && int(br) <= r.K {
				xys = append(xys, plotter.XY{X: float64(rank + 1), Y: y})
			}
		}
		ticks = append(ticks, plot.Tick{Value: y, Label: row.name})
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		s.Color, s.Shape, s.Radius = plotutil.Color(ri), verticalBar{}, vg.Points(4)
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("recommended by %s: %d items, coverage %.1f %%", row.name, len(xys), 100*float64(len(xys))/float64(max(len(pop), 1))), s)
	}
	p.Y.Tick.Marker = ticks
	p.Y.Min = -top * 0.08 * float64(len(rows)+1)
	return p, nil
}

// verticalBar draws a short vertical line: one recommended item.
type verticalBar struct{}

func (verticalBar) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1)})
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y - sty.Radius})
	p.Line(vg.Point{X: pt.X, Y: pt.Y + sty.Radius})
	c.Stroke(p)
}

// rowTicks labels the rows of marks by name and the popularity axis above
// them with shortTicks.
type rowTicks []plot.Tick

func (t rowTicks) Ticks(lo, hi float64) []plot.Tick {
	out := append([]plot.Tick(nil), t...)
	for _, tk := range (shortTicks{}).Ticks(max(lo, 0), hi) {
		if tk.Value >= 0 {
			out = append(out, tk)
		}
	}
	return out
}

// shortTicks are gonum's default ticks labelled with the fewest digits
// that tell them apart (1250, 2.25e+06) rather than two fixed decimals.
type shortTicks struct{}

func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 4, 64)
		}
	}
	return ts
}

// integerTicks labels whole numbers only.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	step := max(1, int((hi-lo)/10)+1)
	for v := int(lo); float64(v) <= hi; v++ {
		if float64(v) < lo {
			continue
		}
		t := plot.Tick{Value: float64(v)}
		if v%step == 0 {
			t.Label = fmt.Sprint(v)
		}
		ts = append(ts, t)
	}
	return ts
}
