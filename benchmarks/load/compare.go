package load

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// Compare prints a and b side by side with the ratio b/a of every figure:
// above 1 means b is higher (better for QPS, worse for latency).
func Compare(w io.Writer, a, b *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	name := func(r *Result, fallback string) string {
		if r.Label != "" {
			return r.Label
		}
		return fallback
	}
	fmt.Fprintf(tw, "\t%s\t%s\tB/A\t\n", name(a, "A"), name(b, "B"))
	text := func(k, x, y string) { fmt.Fprintf(tw, "%s\t%s\t%s\t\t\n", k, x, y) }
	num := func(k string, x, y float64, prec int) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", k, strconv.FormatFloat(x, 'f', prec, 64), strconv.FormatFloat(y, 'f', prec, 64), ratio(x, y))
	}
	load := func(r *Result) string {
		if r.Mode == "open" {
			return fmt.Sprintf("open %g/s, ≤%d in flight, %d conn", r.Options.Rate, r.Options.Concurrency, r.Options.Connections)
		}
		return fmt.Sprintf("closed, %d in flight, %d conn", r.Options.Concurrency, r.Options.Connections)
	}
	text("load", load(a), load(b))
	text("mix", mix(a.Options), mix(b.Options))
	num("seconds", a.Seconds, b.Seconds, 1)
	num("requests", float64(a.Requests), float64(b.Requests), 0)
	num("errors", float64(a.ErrorCount()), float64(b.ErrorCount()), 0)
	num("QPS", a.QPS, b.QPS, 1)
	num("p50 ms", a.Latency.P50Ms, b.Latency.P50Ms, 3)
	num("p90 ms", a.Latency.P90Ms, b.Latency.P90Ms, 3)
	num("p99 ms", a.Latency.P99Ms, b.Latency.P99Ms, 3)
	num("p99.9 ms", a.Latency.P999Ms, b.Latency.P999Ms, 3)
	num("max ms", a.Latency.MaxMs, b.Latency.MaxMs, 3)
	num("mean ms", a.Latency.MeanMs, b.Latency.MeanMs, 3)
	text("loadavg", a.Host.LoadAvg, b.Host.LoadAvg)
	return tw.Flush()
}

func mix(o Options) string {
	return fmt.Sprintf("n=%d similar=%g unknown=%g", o.N, o.Similar, o.Unknown)
}

func ratio(a, b float64) string {
	if a == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	return strconv.FormatFloat(b/a, 'f', 2, 64)
}

// Summary prints one result for a person.
func Summary(w io.Writer, r *Result) error {
	o := r.Options
	_, err := fmt.Fprintf(w, "%s loop on %s: %d workers, %d connections, rate %g/s; %s; %.1fs measured after %v warm-up\n"+
		"requests %d  ok %d  errors %d %v  unsent %d\n"+
		"QPS %.1f\n"+
		"latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
		r.Mode, o.Addr, o.Concurrency, o.Connections, o.Rate, mix(o), r.Seconds, o.Warmup,
		r.Requests, r.OK, r.ErrorCount(), r.Errors, r.Unsent,
		r.QPS,
		r.Latency.P50Ms, r.Latency.P90Ms, r.Latency.P99Ms, r.Latency.P999Ms, r.Latency.MaxMs, r.Latency.MeanMs)
	if err == nil && r.SendLag != nil {
		_, err = fmt.Fprintf(w, "send lag ms (client scheduling, included above): p50 %.3f  p99 %.3f  max %.3f\n",
			r.SendLag.P50Ms, r.SendLag.P99Ms, r.SendLag.MaxMs)
	}
	return err
}
