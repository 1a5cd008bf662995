package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Histogram range: 1 µs to 60 s in nanoseconds, 3 significant digits
// (values are resolved to 0.1%).
const (
	histLowest  = int64(time.Microsecond)
	histHighest = int64(time.Minute)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// record adds a latency to h, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	h.RecordValue(min(max(int64(d), histLowest), histHighest))
}

// Latency summarises a latency distribution, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Summarize returns the percentiles of h, whose values are nanoseconds.
// Percentiles are HDR values: the highest value equivalent (to 3
// significant digits) to the recorded value at that rank.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count:  h.TotalCount(),
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.ValueAtPercentile(50)),
		P90Ms:  ms(h.ValueAtPercentile(90)),
		P99Ms:  ms(h.ValueAtPercentile(99)),
		P999Ms: ms(h.ValueAtPercentile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

// Host describes the machine a run was made on.
type Host struct {
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// LoadAvg is /proc/loadavg when the run started, where there is one.
	LoadAvg string `json:"loadavg,omitempty"`
}

func thisHost() Host {
	h := Host{
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h.LoadAvg = strings.TrimSpace(string(b))
	}
	return h
}

// Result is what a run measured. It round-trips through JSON.
type Result struct {
	// Label names the run in comparisons and plots.
	Label   string    `json:"label,omitempty"`
	Started time.Time `json:"started"`
	Mode    string    `json:"mode"`
	Options Options   `json:"options"`
	Host    Host      `json:"host"`
	// Seconds is the length of the measured window.
	Seconds float64 `json:"seconds"`
	// Requests counts the requests started in the measured window that
	// completed (with or without an error); OK those without.
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// QPS is OK / Seconds.
	QPS float64 `json:"qps"`
	// Errors counts failed requests by gRPC status code name.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Methods counts requests by RPC.
	Methods map[string]int64 `json:"methods"`
	// Unsent counts open-loop requests due in the window that were never
	// sent because the run's hard stop came first.
	Unsent int64 `json:"unsent,omitempty"`
	// Latency is the latency of successful requests: from sending for a
	// closed loop, from the intended send time for an open loop.
	Latency Latency `json:"latency"`
	// SendLag, for an open loop, is how late requests were sent after their
	// intended time (the client's own scheduling delay, included in
	// Latency).
	SendLag *Latency `json:"send_lag,omitempty"`
	// Histogram is Latency's HDR histogram in nanoseconds, in the V2
	// compressed base64 encoding (readable by every HdrHistogram library).
	Histogram string `json:"histogram"`
}

// ErrorCount returns the number of failed requests.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// LatencyHistogram decodes the result's histogram.
func (r *Result) LatencyHistogram() (*hdrhistogram.Histogram, error) {
	if r.Histogram == "" {
		return nil, errors.New("result has no histogram")
	}
	h, err := hdrhistogram.Decode([]byte(r.Histogram))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

func (r *Result) setHistogram(h *hdrhistogram.Histogram) error {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return fmt.Errorf("encode histogram: %w", err)
	}
	r.Histogram = string(b)
	r.Latency = Summarize(h)
	return nil
}

// WriteFile writes r as indented JSON.
func (r *Result) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// ReadFile reads a result written by WriteFile and checks that its
// histogram decodes.
func ReadFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	if _, err := r.LatencyHistogram(); err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	return &r, nil
}

// recorder collects outcomes from several workers. Workers share a few
// recorders (a histogram is about 100 KiB), each behind its own lock.
type recorder struct {
	mu      sync.Mutex
	lat     *hdrhistogram.Histogram
	lag     *hdrhistogram.Histogram
	errors  map[codes.Code]int64
	methods map[string]int64
	unsent  int64
}

func newRecorder() *recorder {
	return &recorder{lat: newHistogram(), lag: newHistogram(), errors: map[codes.Code]int64{}, methods: map[string]int64{}}
}

// add records one completed request.
func (r *recorder) add(method string, latency time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.methods[method]++
	if err != nil {
		r.errors[status.Code(err)]++
		return
	}
	record(r.lat, latency)
}

// addLag records how late an open-loop request was sent.
func (r *recorder) addLag(lag time.Duration) {
	r.mu.Lock()
	record(r.lag, lag)
	r.mu.Unlock()
}

// result merges recorders into a Result for a window of length window.
func result(o Options, started time.Time, window time.Duration, recs []*recorder) (*Result, error) {
	res := &Result{
		Started: started.UTC(), Mode: o.Mode(), Options: o, Host: thisHost(),
		Seconds: window.Seconds(), Methods: map[string]int64{},
	}
	lat, lag := newHistogram(), newHistogram()
	for _, r := range recs {
		r.mu.Lock()
		lat.Merge(r.lat)
		lag.Merge(r.lag)
		for c, n := range r.errors {
			if res.Errors == nil {
				res.Errors = map[string]int64{}
			}
			res.Errors[c.String()] += n
			res.Requests += n
		}
		for m, n := range r.methods {
			res.Methods[m] += n
		}
		res.Unsent += r.unsent
		r.mu.Unlock()
	}
	res.OK = lat.TotalCount()
	res.Requests += res.OK
	if res.Seconds > 0 {
		res.QPS = float64(res.OK) / res.Seconds
	}
	if o.Mode() == "open" {
		l := Summarize(lag)
		res.SendLag = &l
	}
	if err := res.setHistogram(lat); err != nil {
		return nil, err
	}
	return res, nil
}
