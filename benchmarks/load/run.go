package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
)

// HealthService is the service name whose health Run waits for.
const HealthService = "polecam.v1.RecommendationService"

// maxRecorders bounds the number of histograms a run keeps.
const maxRecorders = 16

// Run loads the server at o.Addr as o says and returns what it measured.
// It returns an error if the options are invalid, the server does not
// become SERVING within o.WaitServing, or ctx is done before the run ends;
// failed requests are counted in the Result, not returned.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	conns := make([]*grpc.ClientConn, o.Connections)
	clients := make([]polecamv1.RecommendationServiceClient, o.Connections)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := grpc.NewClient(o.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("load: connect %s: %w", o.Addr, err)
		}
		c.Connect()
		conns[i], clients[i] = c, polecamv1.NewRecommendationServiceClient(c)
	}
	if o.WaitServing > 0 {
		if err := WaitServing(ctx, conns[0], o.WaitServing); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	mixes, err := NewMixes(o, o.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	recs := make([]*recorder, min(o.Concurrency, maxRecorders))
	for i := range recs {
		recs[i] = newRecorder()
	}

	r := &runner{o: o, clients: clients, mixes: mixes, recs: recs}
	r.start = time.Now()
	r.measureFrom = r.start.Add(o.Warmup)
	r.end = r.measureFrom.Add(o.Duration)
	// The hard stop: requests still unanswered a timeout after the end
	// are abandoned, so a run always ends.
	runCtx, cancel := context.WithDeadline(ctx, r.end.Add(o.Timeout))
	defer cancel()
	if o.Rate > 0 {
		r.openLoop(runCtx)
	} else {
		r.closedLoop(runCtx)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return result(o, r.measureFrom, o.Duration, recs)
}

type runner struct {
	o       Options
	clients []polecamv1.RecommendationServiceClient
	mixes   []*Mix
	recs    []*recorder

	start, measureFrom, end time.Time
}

func (r *runner) call(ctx context.Context, w int, req Request) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	c := r.clients[w%len(r.clients)]
	var err error
	if req.Similar != nil {
		_, err = c.SimilarItems(ctx, req.Similar)
	} else {
		_, err = c.Recommend(ctx, req.Recommend)
	}
	return err
}

// closedLoop runs o.Concurrency workers that each send the next request
// as soon as the previous one is answered, until r.end.
func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for w := range r.o.Concurrency {
		rec := r.recs[w%len(r.recs)]
		mix := r.mixes[w]
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(r.end) {
					return
				}
				req := mix.Next()
				err := r.call(ctx, w, req)
				if !t0.Before(r.measureFrom) {
					rec.add(req.Method(), time.Since(t0), err)
				}
			}
		})
	}
	wg.Wait()
}

// openLoop schedules requests at o.Rate from r.start to r.end and hands
// them to at most o.Concurrency workers; latency counts from the intended
// send time.
func (r *runner) openLoop(ctx context.Context) {
	jobs := make(chan time.Time, r.o.Concurrency)
	var wg sync.WaitGroup
	for w := range r.o.Concurrency {
		rec := r.recs[w%len(r.recs)]
		mix := r.mixes[w]
		wg.Go(func() {
			for due := range jobs {
				measured := !due.Before(r.measureFrom)
				if ctx.Err() != nil {
					if measured {
						rec.mu.Lock()
						rec.unsent++
						rec.mu.Unlock()
					}
					continue
				}
				req := mix.Next()
				if measured {
					rec.addLag(time.Since(due))
				}
				err := r.call(ctx, w, req)
				if measured {
					rec.add(req.Method(), time.Since(due), err)
				}
			}
		})
	}
	r.schedule(ctx, jobs)
	close(jobs)
	wg.Wait()
}

// schedule sends the intended send times to jobs. A send time that has
// passed (workers all busy, or the scheduler woke late) is sent at once:
// requests are delayed, never dropped, and their latency includes the
// delay.
func (r *runner) schedule(ctx context.Context, jobs chan<- time.Time) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	total := int64((r.end.Sub(r.start)).Seconds() * r.o.Rate)
	for i := int64(0); i < total; i++ {
		due := r.start.Add(time.Duration(float64(i) / r.o.Rate * 1e9))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		select {
		case jobs <- due:
			continue
		case <-ctx.Done():
		}
		// Hard stop: count what was due in the window and never sent.
		from := max(i, int64(r.measureFrom.Sub(r.start).Seconds()*r.o.Rate))
		if total > from {
			r.recs[0].mu.Lock()
			r.recs[0].unsent += total - from
			r.recs[0].mu.Unlock()
		}
		return
	}
}

// WaitServing polls conn's health service until HealthService is SERVING,
// for at most wait.
func WaitServing(ctx context.Context, conn *grpc.ClientConn, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	h := healthpb.NewHealthClient(conn)
	var last error
	for {
		res, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: HealthService})
		if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("health is %v", res.GetStatus())
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not SERVING after %v: %v", conn.Target(), wait, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
