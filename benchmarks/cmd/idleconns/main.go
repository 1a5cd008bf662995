// Command idleconns measures what idle gRPC connections leave behind in a
// polecam server: it reads the server's resident set size (VmRSS of
// /proc/PID/status), opens --conns connections to it over loopback (each
// completes one health check, then sits idle for --hold), closes them all,
// waits --settle and reads the RSS again. It prints one JSON object.
//
//	idleconns --addr 127.0.0.1:50171 --pid 12345 [--conns 2000] [--hold 5s] [--settle 20s]
//
// Only loopback addresses are accepted: this is a measurement of one's
// own server, not a load on someone else's. benchmarks/idleconns.sh runs
// it against a server it starts.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type result struct {
	Conns       int     `json:"conns"`
	Opened      int     `json:"opened"`
	Failed      int     `json:"failed"`
	BaselineKiB int64   `json:"rss_baseline_kib"`
	PeakKiB     int64   `json:"rss_with_conns_kib"`
	AfterKiB    int64   `json:"rss_after_close_kib"`
	AfterRatio  float64 `json:"rss_after_over_baseline"`
	Hold        string  `json:"hold"`
	Settle      string  `json:"settle"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50171", "server address (loopback only)")
	pid := flag.Int("pid", 0, "server process id, for its RSS")
	conns := flag.Int("conns", 2000, "connections to open, at most 20000")
	hold := flag.Duration("hold", 5*time.Second, "how long the connections stay open and idle")
	settle := flag.Duration("settle", 20*time.Second, "how long to wait after closing them before the last reading")
	flag.Parse()
	if err := run(*addr, *pid, *conns, *hold, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

func run(addr string, pid, n int, hold, settle time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %s is not a loopback address", addr)
	}
	if pid <= 0 || n <= 0 || n > 20000 {
		return errors.New("need --pid and 1 to 20000 --conns")
	}
	r := result{Conns: n, Hold: hold.String(), Settle: settle.String()}
	if r.BaselineKiB, err = rssKiB(pid); err != nil {
		return err
	}
	cs := make([]*grpc.ClientConn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for range n {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		cs = append(cs, c)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			mu.Lock()
			if err == nil {
				r.Opened++
			} else {
				r.Failed++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	time.Sleep(hold)
	if r.PeakKiB, err = rssKiB(pid); err != nil {
		return err
	}
	for _, c := range cs {
		c.Close()
	}
	time.Sleep(settle)
	if r.AfterKiB, err = rssKiB(pid); err != nil {
		return err
	}
	r.AfterRatio = float64(r.AfterKiB) / float64(r.BaselineKiB)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// rssKiB returns VmRSS of process pid, in KiB.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
