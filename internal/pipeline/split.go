package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/eventlog"
)

// Evaluation splits, as named by SplitOptions.Kind.
const (
	// SplitStratifiedItem holds out TestRatio of each item's interactions
	// (training.SplitStratifiedItem).
	SplitStratifiedItem = "stratified-item"
	// SplitTime holds out the interactions first made in the last Holdout
	// of the log, as the quality gate does.
	SplitTime = "time"
	// SplitLeaveLastOut holds out each user's LastN most recent
	// interactions (training.SplitLeaveLastOut).
	SplitLeaveLastOut = "leave-last-out"
)

// SplitOptions say how IngestSplit divides the interactions into a
// training and a test part.
type SplitOptions struct {
	Kind      string
	TestRatio float64       // stratified-item: share of each item's interactions
	Seed      int64         // stratified-item: seed of the shuffle
	Holdout   time.Duration // time: the span held out at the end of the log
	// LastN is, for leave-last-out, how many of each user's interactions
	// are held out: the (user, item) pairs whose last event (after
	// de-duplication) is the latest, ties in time broken by the order the
	// events were read in (the later line wins). Users with LastN or fewer
	// interactions are not tested and stay in training.
	LastN int
}

// Validate reports whether the split options can be used.
func (s SplitOptions) Validate() error {
	switch s.Kind {
	case SplitStratifiedItem:
		if !(s.TestRatio > 0 && s.TestRatio < 1) {
			return fmt.Errorf("test ratio %v, want strictly between 0 and 1", s.TestRatio)
		}
	case SplitTime:
		if s.Holdout <= 0 {
			return fmt.Errorf("holdout %v, want a positive duration", s.Holdout)
		}
	case SplitLeaveLastOut:
		if s.LastN < 1 {
			return fmt.Errorf("leave-last-out of %d interactions per user, want ≥ 1", s.LastN)
		}
	default:
		return fmt.Errorf("split %q, want %s, %s or %s", s.Kind, SplitStratifiedItem, SplitTime, SplitLeaveLastOut)
	}
	return nil
}

// skipForgotten returns the skip function of ingest that leaves out the
// events of forgotten users, counting them in *n.
func skipForgotten(forgotten store.Tombstones, n *int64) func(eventlog.Event) bool {
	return func(e eventlog.Event) bool {
		if forgotten.Len() > 0 && forgotten.Has(e.User) {
			*n++
			return true
		}
		return false
	}
}

// tombstonesOf returns the users forgotten in opts.DataDir, none when it
// is not set.
func tombstonesOf(opts Options) (store.Tombstones, error) {
	if opts.DataDir == "" {
		return store.Tombstones{}, nil
	}
	return readTombstones(opts.DataDir)
}

// Ingest reads opts.Events into the interaction matrix Train trains on:
// the events of the users forgotten in opts.DataDir (none when it is
// empty) left out, then opts.Ingest's de-duplication, decay and minimum
// support applied. It is the one implementation of "how events become
// interactions" that train, eval and the gate share.
func Ingest(ctx context.Context, opts Options) (*training.Interactions, IngestStats, error) {
	if err := opts.Ingest.Validate(); err != nil {
		return nil, IngestStats{}, fmt.Errorf("ingest: %w", err)
	}
	forgotten, err := tombstonesOf(opts)
	if err != nil {
		return nil, IngestStats{}, fmt.Errorf("ingest: %w", err)
	}
	var skipped int64
	x, st, err := ingest(ctx, opts, skipForgotten(forgotten, &skipped), nil)
	if err != nil {
		return nil, st, fmt.Errorf("ingest: %w", err)
	}
	return x, st, nil
}

// IngestSplit reads opts.Events with the ingestion of Ingest and splits
// the interactions for an evaluation:
//
//   - stratified-item and leave-last-out split the matrix Ingest returns
//     (minimum support applied to all of it, as Train does), so train and
//     test together are exactly what Train would train on;
//   - time reads the logs a second time and splits at the end of the log
//     exactly as the quality gate does (minimum support applied to the
//     training part only, decay relative to the newest event).
func IngestSplit(ctx context.Context, opts Options, s SplitOptions) (train, test *training.Interactions, st IngestStats, err error) {
	if err := s.Validate(); err != nil {
		return nil, nil, IngestStats{}, fmt.Errorf("ingest split: %w", err)
	}
	if err := opts.Ingest.Validate(); err != nil {
		return nil, nil, IngestStats{}, fmt.Errorf("ingest split: %w", err)
	}
	forgotten, err := tombstonesOf(opts)
	if err != nil {
		return nil, nil, IngestStats{}, fmt.Errorf("ingest split: %w", err)
	}
	var skipped int64
	skip := skipForgotten(forgotten, &skipped)
	switch s.Kind {
	case SplitStratifiedItem:
		x, st, err := ingest(ctx, opts, skip, nil)
		if err != nil {
			return nil, nil, st, fmt.Errorf("ingest split: %w", err)
		}
		train, test, err = training.SplitStratifiedItem(x, s.TestRatio, s.Seed)
		if err != nil {
			return nil, nil, st, fmt.Errorf("ingest split: %w", err)
		}
		return train, test, st, nil
	case SplitLeaveLastOut:
		type pair struct{ user, item string }
		seen := map[pair]training.LastSeen{}
		var seq int64
		x, st, err := ingest(ctx, opts, skip, func(e eventlog.Event) {
			seq++
			p := pair{e.User, e.Item}
			t := e.Time.UnixNano()
			// Events read out of time order keep the latest time; among
			// events of one time the later line wins.
			if l, ok := seen[p]; !ok || t >= l.Time {
				seen[p] = training.LastSeen{Time: t, Seq: seq}
			}
		})
		if err != nil {
			return nil, nil, st, fmt.Errorf("ingest split: %w", err)
		}
		last := make([]training.LastSeen, x.NNZ())
		for u := range x.NumUsers() {
			for p := x.UserPtr[u]; p < x.UserPtr[u+1]; p++ {
				last[p] = seen[pair{x.Users[u], x.Items[x.UserItems[p]]}]
			}
		}
		train, test, err = training.SplitLeaveLastOut(x, last, s.LastN)
		if err != nil {
			return nil, nil, st, fmt.Errorf("ingest split: %w", err)
		}
		return train, test, st, nil
	}
	// Time: the first reading finds the end of the log.
	lo := opts
	lo.Log.Progress = nil
	_, st, err = ingest(ctx, lo, skip, nil)
	if err != nil {
		return nil, nil, st, fmt.Errorf("ingest split: %w", err)
	}
	if st.Log.Events == 0 {
		return nil, nil, st, errors.New("ingest split: the logs hold no events")
	}
	train, test, err = timeSplit(ctx, opts, st.Log.Last.Add(-s.Holdout), time.Time{}, st.Log.Last, forgotten)
	if err != nil {
		return nil, nil, st, fmt.Errorf("ingest split: %w", err)
	}
	return train, test, st, nil
}
