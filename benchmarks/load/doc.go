// Package load drives a running polecam server over real gRPC and reports
// what its callers would see: throughput, errors by status code and the
// latency distribution.
//
// # Two ways to load a server
//
// Closed loop (Options.Rate = 0): Options.Concurrency workers each send a
// request, wait for the answer and send the next, spread over
// Options.Connections client connections. This measures the throughput a
// fixed number of callers get, and the latency they see.
//
// Open loop (Options.Rate > 0): requests are scheduled at a fixed rate,
// whether or not earlier ones have returned, and handed to at most
// Options.Concurrency workers. Latency is measured from the time a request
// was meant to be sent, not from when a worker got round to sending it, so
// a server that stalls is charged for every request that waited behind the
// stall (Gil Tene's "coordinated omission"); a closed loop hides exactly
// that.
//
// # The request mix
//
// Users are drawn with a Zipf law over the fixture's user ids (package
// fixture), so a few users are asked for often and most rarely; a share
// Options.Unknown of requests names a user the model does not know (served
// from popularity); a share Options.Similar are SimilarItems calls for an
// item drawn with a Zipf law over the catalogue, the rest Recommend. Every
// worker has its own seeded stream, so a closed-loop run sends the same
// requests in the same order per worker each time.
//
// # Results
//
// Run waits up to Options.WaitServing for the server's health to say
// SERVING, runs Options.Warmup (not recorded) and then Options.Duration,
// and always stops by itself: requests still unanswered Options.Timeout
// after the end are abandoned. Latencies go into an HDR histogram
// (github.com/HdrHistogram/hdrhistogram-go, 3 significant digits, 1 µs to
// 60 s), which the Result carries in its JSON encoding, so percentiles
// can be recomputed and plotted later. Compare prints two results side by
// side; WritePlot draws their percentile spectra into a PNG.
package load
