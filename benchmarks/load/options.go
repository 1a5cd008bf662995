package load

import (
	"errors"
	"fmt"
	"math"
	"net"
	"time"
)

// Options configures Run.
type Options struct {
	// Addr is the server's host:port. Run connects to nothing else.
	Addr string `json:"addr"`
	// Connections is the number of client connections (HTTP/2 transports).
	Connections int `json:"connections"`
	// Concurrency is the number of closed-loop workers, or with Rate the
	// most requests in flight at once.
	Concurrency int `json:"concurrency"`
	// Rate, when positive, is the open-loop target in requests per second.
	Rate float64 `json:"rate"`
	// Users and Items are the fixture's user and item counts: ids are
	// drawn from fixture.UserID(0..Users-1) and fixture.ItemID(0..Items-1).
	Users int `json:"users"`
	Items int `json:"items"`
	// ZipfExponent is the exponent (> 1) of the Zipf laws users and items
	// are drawn by.
	ZipfExponent float64 `json:"zipf_exponent"`
	// Unknown is the share of Recommend requests for users the model does
	// not know.
	Unknown float64 `json:"unknown"`
	// Similar is the share of SimilarItems requests; the rest are
	// Recommend.
	Similar float64 `json:"similar"`
	// N is the number of items asked for.
	N int `json:"n"`
	// Exact sets exact on every Recommend request: the audit path, which
	// bypasses any approximate index.
	Exact bool `json:"exact,omitempty"`
	// Warmup is run before measuring and not recorded.
	Warmup time.Duration `json:"warmup"`
	// Duration is how long requests are measured.
	Duration time.Duration `json:"duration"`
	// Timeout bounds every request, and how long Run waits for requests in
	// flight when Duration is over.
	Timeout time.Duration `json:"timeout"`
	// WaitServing is how long Run waits for the server's health to be
	// SERVING before it starts.
	WaitServing time.Duration `json:"wait_serving"`
	// Seed determines the request mix.
	Seed uint64 `json:"seed"`
}

// MaxDuration bounds Warmup + Duration, so a run always ends.
const MaxDuration = time.Hour

// DefaultOptions returns a closed loop of 64 workers on one connection to
// addr against a 100k-user, 100k-item fixture: Recommend n=10 for 80% of
// requests (5% of them for unknown users), SimilarItems for the rest, 5 s
// of warm-up and 30 s measured.
func DefaultOptions(addr string) Options {
	return Options{
		Addr:         addr,
		Connections:  1,
		Concurrency:  64,
		Users:        100_000,
		Items:        100_000,
		ZipfExponent: 1.1,
		Unknown:      0.05,
		Similar:      0.2,
		N:            10,
		Warmup:       5 * time.Second,
		Duration:     30 * time.Second,
		Timeout:      5 * time.Second,
		WaitServing:  30 * time.Second,
		Seed:         1,
	}
}

// Mode returns "open" for an open loop and "closed" otherwise.
func (o Options) Mode() string {
	if o.Rate > 0 {
		return "open"
	}
	return "closed"
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	if o.Addr == "" {
		return errors.New("address is required")
	}
	if _, port, err := net.SplitHostPort(o.Addr); err != nil || port == "" {
		return fmt.Errorf("address %q is not host:port", o.Addr)
	}
	share := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s share must be in 0..1, got %v", name, v)
		}
		return nil
	}
	switch {
	case o.Connections < 1 || o.Connections > 1024:
		return fmt.Errorf("connections must be in 1..1024, got %d", o.Connections)
	case o.Concurrency < 1 || o.Concurrency > 100_000:
		return fmt.Errorf("concurrency must be in 1..100000, got %d", o.Concurrency)
	case o.Connections > o.Concurrency:
		return fmt.Errorf("%d connections for %d workers: some would be idle", o.Connections, o.Concurrency)
	case o.Rate < 0 || math.IsNaN(o.Rate) || o.Rate > 10_000_000:
		return fmt.Errorf("rate must be in 0..1e7 requests per second (0 for a closed loop), got %v", o.Rate)
	case o.Users < 1 || o.Users > math.MaxInt32:
		return fmt.Errorf("users must be in 1..%d, got %d", math.MaxInt32, o.Users)
	case o.Items < 1 || o.Items > math.MaxInt32:
		return fmt.Errorf("items must be in 1..%d, got %d", math.MaxInt32, o.Items)
	case !(o.ZipfExponent > 1) || math.IsInf(o.ZipfExponent, 0):
		return fmt.Errorf("zipf exponent must be greater than 1, got %v", o.ZipfExponent)
	case o.N < 1 || o.N > 1000:
		return fmt.Errorf("n must be in 1..1000, got %d", o.N)
	case o.Warmup < 0:
		return fmt.Errorf("warm-up must not be negative, got %v", o.Warmup)
	case o.Duration <= 0:
		return fmt.Errorf("duration must be positive, got %v", o.Duration)
	case o.Warmup+o.Duration > MaxDuration:
		return fmt.Errorf("warm-up plus duration must be at most %v, got %v", MaxDuration, o.Warmup+o.Duration)
	case o.Timeout <= 0 || o.Timeout > time.Minute:
		return fmt.Errorf("timeout must be in (0, 1m], got %v", o.Timeout)
	case o.WaitServing < 0 || o.WaitServing > 10*time.Minute:
		return fmt.Errorf("wait for serving must be in 0..10m, got %v", o.WaitServing)
	}
	if err := share("unknown", o.Unknown); err != nil {
		return err
	}
	return share("similar", o.Similar)
}
