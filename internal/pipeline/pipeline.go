// Package pipeline runs polecam's nightly training job end to end: it reads
// the shop's event logs, builds the interaction matrix, trains the iALS,
// co-occurrence and popularity models, and writes them into the data
// directory as one new immutable snapshot version, which it publishes.
//
// It is the only place where training and store meet: training knows
// nothing of snapshots and the store knows nothing of models.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/polecam/polecam/store"
	"github.com/polecam/polecam/training"
	"github.com/polecam/polecam/training/eventlog"
)

// Options configures a training run.
type Options struct {
	// DataDir is the data directory the snapshot is written into.
	DataDir string
	// Events are the log files or glob patterns to read.
	Events []string
	// Log says how to read the event logs.
	Log eventlog.Options
	// Ingest says how events become interactions: decay, de-duplication,
	// minimum support.
	Ingest IngestOptions
	// Catalog, if set, is the item catalogue file (training/catalog) stored
	// in the snapshot as the auxiliary file catalog.jsonl.
	Catalog string
	// Summary, if set, receives the summary of a successful run.
	Summary func(Summary)
	// ALS configures the matrix-factorisation model.
	ALS training.ALSOptions
	// CoOccurrence configures the item co-occurrence model.
	CoOccurrence training.CoOccurrenceOptions
	// EASE configures the dense item-item model, trained when the
	// catalogue has at most EASE.MaxItems items and Blend < 1.
	EASE training.EASEOptions
	// Blend is the weight of the factor scores in the served ranking of a
	// known user, the item-item scores getting 1 − Blend (see
	// training.Blend). 1 serves factors only and trains no item-item model.
	Blend float32
	// Int8 also stores the item vectors quantised to int8
	// (recommender.Int8ItemsFile), about a quarter of the item factors'
	// size, which the server scans to shortlist Recommend candidates before
	// rescoring them exactly: 3-4 times less memory traffic per request.
	// On by default, whatever the catalogue size.
	Int8 bool
	// ANN says when to also store an HNSW index over the item factors
	// (recommender.ANNIndexFile) that the server answers Recommend from.
	ANN ANNOptions
	// Publish makes the new version the published one once it is complete
	// and the quality gate lets it through.
	Publish bool
	// Gate configures the quality gate (see GateOptions).
	Gate GateOptions
	// Report, if set, is a directory the training report is written into
	// (see WriteReport); it needs the gate.
	Report string
	// CodeVersion is recorded in the manifest.
	CodeVersion string
	// Logger receives progress messages.
	Logger *slog.Logger
}

// DefaultOptions returns the options polecam trains with.
func DefaultOptions() Options {
	return Options{
		DataDir:      "polecam-data",
		Log:          eventlog.DefaultOptions(),
		ALS:          DefaultALSOptions(),
		CoOccurrence: training.DefaultCoOccurrenceOptions(),
		EASE:         DefaultEASEOptions(),
		Blend:        DefaultBlend,
		Int8:         true,
		ANN:          DefaultANNOptions(),
		Publish:      true,
		Gate:         DefaultGateOptions(),
		CodeVersion:  "dev",
		Logger:       slog.Default(),
	}
}

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	if o.DataDir == "" {
		return errors.New("data directory is required")
	}
	if len(o.Events) == 0 {
		return errors.New("at least one event log is required")
	}
	if o.Logger == nil {
		return errors.New("logger is required")
	}
	if err := o.Log.Validate(); err != nil {
		return fmt.Errorf("event log options: %w", err)
	}
	if err := o.Ingest.Validate(); err != nil {
		return fmt.Errorf("ingest options: %w", err)
	}
	if err := o.ANN.Validate(); err != nil {
		return fmt.Errorf("ann options: %w", err)
	}
	if err := o.Gate.Validate(); err != nil {
		return fmt.Errorf("gate options: %w", err)
	}
	if o.Report != "" && o.Gate.Disabled {
		return errors.New("a training report needs the quality gate")
	}
	return o.validateModels()
}

// Params are the training parameters recorded in a snapshot's manifest.
type Params struct {
	ALS          training.ALSOptions          `json:"als"`
	CoOccurrence training.CoOccurrenceOptions `json:"co_occurrence"`
	Ingest       IngestParams                 `json:"ingest"`
	// EASE is set when the snapshot holds an item-item model.
	EASE        *training.EASEOptions `json:"ease,omitempty"`
	Blend       float32               `json:"blend"`
	Weights     map[string]float32    `json:"event_weights"`
	MaxBadRatio float64               `json:"max_bad_ratio"`
}

// Train runs one training job and returns the manifest of the version it
// wrote. A run that fails writes nothing visible: the published version
// and every complete version stay as they were.
func Train(ctx context.Context, opts Options) (store.Manifest, error) {
	if err := opts.Validate(); err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	log := opts.Logger
	start := time.Now()

	// Users who asked to be forgotten are never trained on again.
	forgotten, err := readTombstones(opts.DataDir)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	var skippedForgotten int64
	x, in, err := ingest(ctx, opts, skipForgotten(forgotten, &skippedForgotten), nil)
	stats := in.Log
	if skippedForgotten > 0 {
		log.Info("skipped events of forgotten users", "events", skippedForgotten)
	}
	for _, s := range stats.Samples {
		log.Warn("skipped bad line", "file", s.File, "line", s.Line, "reason", s.Reason)
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: read events: %w", err)
	}
	if x.NumUsers() == 0 || x.NumItems() == 0 {
		return store.Manifest{}, fmt.Errorf("train: the logs hold no usable events (%d lines, %d bad)", stats.Lines, stats.Bad)
	}
	log.Info("read events", "files", len(stats.Files), "lines", stats.Lines, "events", stats.Events,
		"bad_lines", stats.Bad, "dropped", stats.Dropped.Total(), "duplicates", in.Duplicates,
		"filtered_users", in.FilteredUsers, "filtered_items", in.FilteredItems,
		"users", x.NumUsers(), "items", x.NumItems(), "interactions", x.NNZ(),
		"elapsed", time.Since(start).Round(time.Millisecond))
	// The data-scaled defaults are fixed on all the events, so that the
	// gate's holdout model and the published one share one recipe.
	opts = opts.ScaledTo(x)
	var gate *GateResult
	gateStart := time.Now()
	if !opts.Gate.Disabled {
		if gate, err = runGate(ctx, opts, x, in, forgotten); err != nil {
			return store.Manifest{}, fmt.Errorf("train: quality gate: %w", err)
		}
	}
	gateTime := time.Since(gateStart)
	modelStart := time.Now()

	models, err := trainModels(ctx, x, gate.capture(opts))
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}

	sources, err := hashSources(stats.Files)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	params, err := json.Marshal(Params{ALS: opts.ALS, CoOccurrence: opts.CoOccurrence, EASE: models.easeParams(), Blend: models.blend,
		Weights: opts.Log.Weights, MaxBadRatio: opts.Log.MaxBadRatio, Ingest: opts.ingestParams()})
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: encode parameters: %w", err)
	}
	m := store.Manifest{
		CodeVersion: opts.CodeVersion,
		Params:      params,
		Counts: store.Counts{
			Users:        int64(x.NumUsers()),
			Items:        int64(x.NumItems()),
			Events:       stats.Events,
			Interactions: int64(x.NNZ()),
			BadLines:     stats.Bad,
		},
		Window:  store.Window{From: stats.First, To: stats.Last},
		Sources: sources,
		Metrics: gate.metrics(),
	}
	modelTime := time.Since(modelStart)
	catalogFile, catalogStats := catalogAux(ctx, opts, x, log)
	writeStart := time.Now()
	m, err = write(ctx, opts.DataDir, x, models, m, append(append(catalogFile, int8Aux(opts, x, models.factors)...), annAux(ctx, opts, x, models.factors)...)...)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	log.Info("wrote snapshot", "version", m.Version, "elapsed", time.Since(start).Round(time.Millisecond))
	gateErr := gate.check(opts, m.Version, log)
	if err := writeReport(opts, m, gate); err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	if opts.Publish && gateErr == nil {
		dir, err := store.OpenDir(opts.DataDir)
		if err != nil {
			return store.Manifest{}, fmt.Errorf("train: %w", err)
		}
		if err := dir.Publish(m.Version); err != nil {
			return store.Manifest{}, fmt.Errorf("train: %w", err)
		}
		log.Info("published snapshot", "version", m.Version)
	}
	if opts.Summary != nil {
		stages := []Stage{{"read", in.Read}, {"filter", in.Filter}}
		if gate != nil {
			stages = append(stages, Stage{"gate", gateTime})
		}
		opts.Summary(summarize(m, in, x, catalogStats, skippedForgotten, append(stages,
			Stage{"models", modelTime}, Stage{"write", time.Since(writeStart)}), gate))
	}
	return m, gateErr
}

// write stores the trained models as a new complete (unpublished) version.
func write(ctx context.Context, dataDir string, x *training.Interactions, models *models, m store.Manifest, extra ...auxFile) (store.Manifest, error) {
	f, neighbors := models.factors, models.neighbors
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		return store.Manifest{}, err
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		return store.Manifest{}, err
	}
	defer b.Abort()
	if err := b.SetItems(x.Items); err != nil {
		return store.Manifest{}, err
	}
	if err := b.SetUsers(x.Users); err != nil {
		return store.Manifest{}, err
	}
	if err := b.SetItemFactors(x.NumItems(), f.Dims, f.Item); err != nil {
		return store.Manifest{}, err
	}
	if err := b.SetUserFactors(x.NumUsers(), f.Dims, f.User); err != nil {
		return store.Manifest{}, err
	}
	for u := range x.NumUsers() {
		if u%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return store.Manifest{}, err
			}
		}
		if err := b.PutSeen(int32(u), x.UserItems[x.UserPtr[u]:x.UserPtr[u+1]]); err != nil {
			return store.Manifest{}, err
		}
	}
	var buf []store.Neighbor
	for i, nn := range neighbors {
		if len(nn) == 0 {
			continue
		}
		buf = buf[:0]
		for _, n := range nn {
			buf = append(buf, store.Neighbor{Item: n.Item, Score: n.Score})
		}
		if err := b.PutNeighbors(int32(i), buf); err != nil {
			return store.Manifest{}, err
		}
	}
	if err := b.SetPopularity(training.Popularity(x)); err != nil {
		return store.Manifest{}, err
	}
	if err := models.writeItemItem(b); err != nil {
		return store.Manifest{}, err
	}
	for _, a := range extra {
		if err := b.AddFile(a.name, a.write); err != nil {
			return store.Manifest{}, err
		}
	}
	return b.Commit(ctx, m)
}

// readTombstones returns the users forgotten in the data directory.
func readTombstones(dataDir string) (store.Tombstones, error) {
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		return store.Tombstones{}, err
	}
	return dir.Tombstones()
}

// hashSources records the size and SHA-256 of every input file.
func hashSources(files []string) ([]store.SourceFile, error) {
	out := make([]store.SourceFile, 0, len(files))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("hash source: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hash source %s: %w", name, err)
		}
		out = append(out, store.SourceFile{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	return out, nil
}
