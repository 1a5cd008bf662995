package load

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polecam/polecam/benchmarks/fixture"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"default", func(*Options) {}, true},
		{"open loop", func(o *Options) { o.Rate = 1000 }, true},
		{"no address", func(o *Options) { o.Addr = "" }, false},
		{"no port", func(o *Options) { o.Addr = "localhost" }, false},
		{"no connections", func(o *Options) { o.Connections = 0 }, false},
		{"more connections than workers", func(o *Options) { o.Connections, o.Concurrency = 4, 2 }, false},
		{"negative rate", func(o *Options) { o.Rate = -1 }, false},
		{"NaN rate", func(o *Options) { o.Rate = math.NaN() }, false},
		{"zipf exponent 1", func(o *Options) { o.ZipfExponent = 1 }, false},
		{"unknown above 1", func(o *Options) { o.Unknown = 1.5 }, false},
		{"similar NaN", func(o *Options) { o.Similar = math.NaN() }, false},
		{"n zero", func(o *Options) { o.N = 0 }, false},
		{"n too large", func(o *Options) { o.N = 1001 }, false},
		{"zero duration", func(o *Options) { o.Duration = 0 }, false},
		{"negative warm-up", func(o *Options) { o.Warmup = -time.Second }, false},
		{"unbounded", func(o *Options) { o.Duration = 2 * time.Hour }, false},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, false},
		{"no users", func(o *Options) { o.Users = 0 }, false},
	}
	for _, tt := range tests {
		o := DefaultOptions("127.0.0.1:1")
		tt.edit(&o)
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestMixIsDeterministicAndShaped(t *testing.T) {
	o := DefaultOptions("127.0.0.1:1")
	o.Users, o.Items = 500, 300
	draw := func() []Request {
		mixes, err := NewMixes(o, 2)
		if err != nil {
			t.Fatal(err)
		}
		var out []Request
		for range 5000 {
			out = append(out, mixes[1].Next())
		}
		return out
	}
	a, b := draw(), draw()
	key := func(r Request) string {
		if r.Similar != nil {
			return "s:" + r.Similar.GetItemId()
		}
		return "r:" + r.Recommend.GetUserId()
	}
	for i := range a {
		if key(a[i]) != key(b[i]) {
			t.Fatalf("request %d differs between runs with seed %d: %s vs %s", i, o.Seed, key(a[i]), key(b[i]))
		}
	}
	var similar, unknown, recommend int
	for _, r := range a {
		switch {
		case r.Similar != nil:
			similar++
			if !strings.HasPrefix(r.Similar.GetItemId(), "sku-") || r.Similar.GetN() != int32(o.N) {
				t.Fatalf("SimilarItems request %v, want a fixture item id and n=%d", r.Similar, o.N)
			}
		case strings.HasPrefix(r.Recommend.GetUserId(), "visitor-"):
			unknown++
		default:
			recommend++
			if r.Recommend.GetUserId() >= fixture.UserID(o.Users) {
				t.Fatalf("Recommend user %q is beyond the fixture's %d users", r.Recommend.GetUserId(), o.Users)
			}
		}
	}
	// Shares within 3 standard deviations of their binomial expectations.
	near := func(name string, got int, p float64, n int) {
		sd := math.Sqrt(float64(n) * p * (1 - p))
		if math.Abs(float64(got)-p*float64(n)) > 3*sd {
			t.Errorf("%s: %d of %d, want about %.0f", name, got, n, p*float64(n))
		}
	}
	near("SimilarItems", similar, o.Similar, len(a))
	near("unknown users", unknown, o.Unknown, len(a)-similar)
}

func TestSummarize(t *testing.T) {
	h := newHistogram()
	// 1..1000 µs, once each.
	for i := 1; i <= 1000; i++ {
		record(h, time.Duration(i)*time.Microsecond)
	}
	got := Summarize(h)
	want := Latency{Count: 1000, MeanMs: 0.5005, P50Ms: 0.5, P90Ms: 0.9, P99Ms: 0.99, P999Ms: 0.999, MaxMs: 1}
	// HDR values are exact to 3 significant digits.
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 0.001*math.Max(math.Abs(a), math.Abs(b)) })
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("Summarize(1..1000 µs) mismatch (-want +got):\n%s", diff)
	}
	if got := Summarize(newHistogram()); got != (Latency{}) {
		t.Errorf("Summarize(empty) = %+v, want zero", got)
	}
}

func errorWithCode(c codes.Code) error { return status.Error(c, "test") }

// testResult builds a result from known samples through the same path Run uses.
func testResult(t *testing.T, label string, samples []time.Duration, errs map[codes.Code]int) *Result {
	t.Helper()
	o := DefaultOptions("127.0.0.1:1")
	rec := newRecorder()
	for _, d := range samples {
		rec.add(MethodRecommend, d, nil)
	}
	for c, n := range errs {
		for range n {
			rec.add(MethodSimilarItems, 0, errorWithCode(c))
		}
	}
	r, err := result(o, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), 2*time.Second, []*recorder{rec})
	if err != nil {
		t.Fatal(err)
	}
	r.Label = label
	return r
}

func TestResultRoundTrip(t *testing.T) {
	var samples []time.Duration
	for i := range 2000 {
		samples = append(samples, time.Duration(100+i)*time.Microsecond)
	}
	r := testResult(t, "a", samples, map[codes.Code]int{codes.Unavailable: 3})
	if r.OK != 2000 || r.Requests != 2003 || r.QPS != 1000 || r.Errors["Unavailable"] != 3 || r.Methods[MethodSimilarItems] != 3 {
		t.Fatalf("result = ok %d requests %d QPS %v errors %v methods %v; want 2000, 2003, 1000, 3 Unavailable, 3 SimilarItems",
			r.OK, r.Requests, r.QPS, r.Errors, r.Methods)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("ReadFile(WriteFile(r)) mismatch (-want +got):\n%s", diff)
	}
	h, err := got.LatencyHistogram()
	if err != nil {
		t.Fatal(err)
	}
	if s := Summarize(h); s != r.Latency {
		t.Errorf("Summarize(decoded histogram) = %+v, want %+v", s, r.Latency)
	}
	if err := os.WriteFile(path, []byte(`{"histogram":"bm9wZQ=="}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil {
		t.Error("ReadFile(bad histogram) error = nil, want an error")
	}
}

func TestCompare(t *testing.T) {
	a := testResult(t, "before", []time.Duration{time.Millisecond, time.Millisecond}, nil)
	b := testResult(t, "after", []time.Duration{time.Millisecond, time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond}, nil)
	var buf bytes.Buffer
	if err := Compare(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f[1:]
		}
	}
	for _, tt := range []struct {
		row  string
		want []string
	}{
		{"before", []string{"after", "B/A"}},
		{"QPS", []string{"1.0", "2.0", "2.00"}},
		{"p50", []string{"ms", "1.000", "1.000", "1.00"}},
		{"max", []string{"ms", "1.000", "2.001", "2.00"}},
		{"errors", []string{"0", "0", "-"}},
	} {
		if diff := cmp.Diff(tt.want, rows[tt.row]); diff != "" {
			t.Errorf("Compare row %q mismatch (-want +got):\n%s\noutput:\n%s", tt.row, diff, buf.String())
		}
	}
}

func TestWritePlot(t *testing.T) {
	var samples []time.Duration
	for i := range 500 {
		samples = append(samples, time.Duration(200+i*i)*time.Microsecond)
	}
	a := testResult(t, "a", samples, nil)
	xys, err := Spectrum(a)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(xys); i++ {
		if xys[i].X <= xys[i-1].X || xys[i].Y < xys[i-1].Y {
			t.Fatalf("Spectrum point %d %v does not follow %v", i, xys[i], xys[i-1])
		}
	}
	var labels []string
	for _, tk := range (percentileTicks{}).Ticks(1, 1e4) {
		labels = append(labels, tk.Label)
	}
	if want := []string{"0%", "90%", "99%", "99.9%", "99.99%"}; !slices.Equal(labels, want) {
		t.Errorf("percentile tick labels = %v, want %v", labels, want)
	}
	path := filepath.Join(t.TempDir(), "p.png")
	if err := WritePlot(path, "test", a); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("WritePlot wrote %d bytes (%v), want a PNG", len(b), err)
	}
}

func TestMixExact(t *testing.T) {
	for _, exact := range []bool{false, true} {
		o := DefaultOptions("127.0.0.1:1")
		o.Users, o.Items, o.Similar, o.Exact = 50, 30, 0.5, exact
		mixes, err := NewMixes(o, 1)
		if err != nil {
			t.Fatal(err)
		}
		var recommends int
		for range 200 {
			r := mixes[0].Next()
			if r.Recommend == nil {
				continue
			}
			recommends++
			if got := r.Recommend.GetExact(); got != exact {
				t.Fatalf("Options.Exact %v: Recommend request has exact %v", exact, got)
			}
		}
		if recommends == 0 {
			t.Fatalf("Options.Exact %v: no Recommend request in 200 draws with Similar 0.5", exact)
		}
	}
}
