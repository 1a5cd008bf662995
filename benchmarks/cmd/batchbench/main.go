// Command batchbench measures BatchRecommend against unary Recommend on
// one server in one run (issue 9): the same users, the same n and the
// same number of requests in flight, first as unary calls, then as
// BatchRecommend streams, with the server's resident memory read from
// /proc before, between and after.
//
//	batchbench --addr 127.0.0.1:50051 --pid PID --users 100000 --concurrency 8 --n 10
//
// Users are the fixture's ids (u00000000...; polecam bench fixture). It
// sends traffic to --addr only, which must be a loopback address, and
// stops after the users are answered.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/benchmarks/fixture"
)

type result struct {
	Users       int     `json:"users"`
	Concurrency int     `json:"concurrency"`
	N           int     `json:"n"`
	UnarySec    float64 `json:"unary_seconds"`
	UnaryQPS    float64 `json:"unary_users_per_second"`
	BatchSec    float64 `json:"batch_seconds"`
	BatchQPS    float64 `json:"batch_users_per_second"`
	Ratio       float64 `json:"batch_over_unary"`
	Errors      int64   `json:"errors"`
	RSSStartKB  int64   `json:"rss_start_kb"`
	RSSUnaryKB  int64   `json:"rss_after_unary_kb"`
	RSSPeakKB   int64   `json:"rss_peak_during_batch_kb"`
	RSSBatchKB  int64   `json:"rss_after_batch_kb"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server address (loopback only)")
	pid := flag.Int("pid", 0, "server process id, to read its resident memory (0: not measured)")
	users := flag.Int("users", 100000, "users to answer, ids u00000000...")
	conc := flag.Int("concurrency", 8, "unary calls in flight, and BatchRecommend streams")
	n := flag.Int("n", 10, "items per user")
	jsonOut := flag.String("json", "", "also write the result as JSON to this file")
	flag.Parse()
	if err := run(*addr, *pid, *users, *conc, *n, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "batchbench:", err)
		os.Exit(1)
	}
}

func run(addr string, pid, users, conc, n int, jsonOut string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--addr %s is not a loopback address", addr)
	}
	if users < 1 || conc < 1 || n < 1 {
		return errors.New("--users, --concurrency and --n must be positive")
	}
	conns := make([]*grpc.ClientConn, conc)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer c.Close()
		conns[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res := result{Users: users, Concurrency: conc, N: n, RSSStartKB: rss(pid)}
	var errs atomic.Int64

	// Unary: conc workers drain one counter.
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		c := polecamv1.NewRecommendationServiceClient(conns[w])
		wg.Go(func() {
			for {
				u := int(next.Add(1) - 1)
				if u >= users {
					return
				}
				if _, err := c.Recommend(ctx, &polecamv1.RecommendRequest{UserId: fixture.UserID(u), N: int32(n)}); err != nil {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	res.UnarySec = time.Since(start).Seconds()
	res.RSSUnaryKB = rss(pid)

	// Batch: conc streams, each a contiguous share of the users.
	var peak atomic.Int64
	stopPeak := make(chan struct{})
	var pw sync.WaitGroup
	pw.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v := rss(pid); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stopPeak:
				return
			case <-t.C:
			}
		}
	})
	start = time.Now()
	for w := range conc {
		lo, hi := w*users/conc, (w+1)*users/conc
		c := polecamv1.NewRecommendationServiceClient(conns[w])
		wg.Go(func() {
			if err := batch(ctx, c, lo, hi, n, &errs); err != nil {
				fmt.Fprintln(os.Stderr, "batch stream:", err)
				errs.Add(int64(hi - lo))
			}
		})
	}
	wg.Wait()
	res.BatchSec = time.Since(start).Seconds()
	close(stopPeak)
	pw.Wait()
	res.RSSPeakKB, res.RSSBatchKB = peak.Load(), rss(pid)
	res.UnaryQPS = float64(users) / res.UnarySec
	res.BatchQPS = float64(users) / res.BatchSec
	res.Ratio = res.BatchQPS / res.UnaryQPS
	res.Errors = errs.Load()
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	if jsonOut != "" {
		return os.WriteFile(jsonOut, append(out, '\n'), 0o644)
	}
	return nil
}

// batch answers users [lo, hi) over one BatchRecommend stream, sending
// and receiving at once.
func batch(ctx context.Context, c polecamv1.RecommendationServiceClient, lo, hi, n int, errs *atomic.Int64) error {
	stream, err := c.BatchRecommend(ctx)
	if err != nil {
		return err
	}
	sendErr := make(chan error, 1)
	go func() {
		for u := lo; u < hi; u++ {
			if err := stream.Send(&polecamv1.BatchRecommendRequest{RequestId: strconv.Itoa(u), Request: &polecamv1.RecommendRequest{UserId: fixture.UserID(u), N: int32(n)}}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	for got := lo; ; got++ {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if got != hi {
				return fmt.Errorf("stream ended after %d of %d answers", got-lo, hi-lo)
			}
			break
		}
		if err != nil {
			return err
		}
		if resp.GetError() != nil {
			errs.Add(1)
		}
	}
	return <-sendErr
}

// rss returns the resident set size of process pid in KiB, 0 if unknown.
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	return 0
}
