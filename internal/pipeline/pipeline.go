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
	"strings"
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
	// Trending says how the trending and bestseller lists are counted.
	Trending TrendingOptions
	// Summary, if set, receives the summary of a successful run.
	Summary func(Summary)
	// ALS configures the matrix-factorisation model.
	ALS training.ALSOptions
	// CoOccurrence configures the item co-occurrence model.
	CoOccurrence training.CoOccurrenceOptions
	// ItemModel names the item-item model blended with the factors:
	// ItemModelAuto (the default) lets the data-scaled defaults choose
	// (EASE on small catalogues, RP3beta beyond) and the tuning switch;
	// ItemModelEASE or ItemModelRP3 keeps that one.
	ItemModel string
	// EASE configures the EASE item-item model, trained when it is the
	// item model and Blend < 1: exactly when the catalogue has at most
	// EASE.MaxItems items, sparse beyond (training.FitEASE).
	EASE training.EASEOptions
	// RP3 configures the RP3beta item-item model.
	RP3 training.RP3Options
	// Blend is the weight of the factor scores in the served ranking of a
	// known user, the item-item scores getting 1 − Blend (see
	// training.Blend). 1 serves factors only and trains no item-item model.
	Blend float32
	// PopularityHalfLife, when positive, counts the snapshot's popularity
	// list (what a visitor the model does not know gets, and the fill of
	// every list) by recency: each user of an item weighs
	// 0.5^(age/PopularityHalfLife), age measured from the pair's latest
	// event to the newest event (training.RecentPopularity). 0 counts
	// every user once, however old. The tuning chooses it on a time
	// validation split unless it is given (Tune.Fixed.PopularityHalfLife).
	PopularityHalfLife time.Duration
	// RecencyWeight is the popularity list's share in a known user's
	// ranking with an item-item model (training.RecencyOptions.Weight): 0
	// (the default) none. The tuning chooses it on a time validation split
	// unless it is given (Tune.Fixed.RecencyWeight).
	RecencyWeight float32
	// Tune says whether and how Train chooses the recipe (ALS, EASE,
	// Blend) on validation data carved from its training part (see
	// TuneRecipe); explicit values are kept.
	Tune TuneOptions
	// Tuned, when set, is the tuned recipe the models are trained with in
	// place of ALS, EASE and Blend, its λs scaled to each model's training
	// matrix (training.TuneResult.For). Train sets it when it tunes;
	// TrainMatrix callers may set it from TuneRecipe.
	Tuned *training.TuneResult
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
	// LockTimeout is how long a run waits for another training run on the
	// same data directory to finish (see TrainLockFile); 0 gives up at
	// once. Runs take turns, so each one's gate compares against what the
	// one before it published.
	LockTimeout time.Duration
	// Min are the smallest data a version is published from (see
	// MinSizes); Gate.Force publishes below them.
	Min MinSizes
	// Report, if set, is a directory the training report is written into
	// (see WriteReport); it needs the gate.
	Report string
	// CodeVersion is recorded in the manifest.
	CodeVersion string
	// Logger receives progress messages.
	Logger *slog.Logger
	// FreeSpace measures the room left on the data directory's file
	// system before a version is written (nil: store.FreeSpace, statfs);
	// tests inject a full disk through it.
	FreeSpace store.FreeSpaceFunc
}

// DefaultOptions returns the options polecam trains with.
func DefaultOptions() Options {
	return Options{
		DataDir:      "polecam-data",
		Log:          eventlog.DefaultOptions(),
		Trending:     DefaultTrendingOptions(),
		ALS:          DefaultALSOptions(),
		CoOccurrence: training.DefaultCoOccurrenceOptions(),
		ItemModel:    ItemModelAuto,
		EASE:         DefaultEASEOptions(),
		RP3:          training.DefaultRP3Options(),
		Blend:        DefaultBlend,
		Tune:         DefaultTuneOptions(),
		Int8:         true,
		ANN:          DefaultANNOptions(),
		Publish:      true,
		Gate:         DefaultGateOptions(),
		LockTimeout:  time.Hour,
		Min:          DefaultMinSizes(),
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
	if o.LockTimeout < 0 {
		return fmt.Errorf("lock timeout must be 0 or more, got %v", o.LockTimeout)
	}
	if err := o.Log.Validate(); err != nil {
		return fmt.Errorf("event log options: %w", err)
	}
	if err := o.Ingest.Validate(); err != nil {
		return fmt.Errorf("ingest options: %w", err)
	}
	if err := o.Trending.Validate(); err != nil {
		return fmt.Errorf("trending options: %w", err)
	}
	if err := o.ANN.Validate(); err != nil {
		return fmt.Errorf("ann options: %w", err)
	}
	if err := o.Gate.Validate(); err != nil {
		return fmt.Errorf("gate options: %w", err)
	}
	if err := o.Tune.Validate(); err != nil {
		return fmt.Errorf("tune options: %w", err)
	}
	if err := o.recency().Validate(); err != nil {
		return err
	}
	if o.Min.Users < 0 || o.Min.Items < 0 || o.Min.HoldoutUsers < 0 {
		return fmt.Errorf("minimum sizes %+v, want ≥ 0", o.Min)
	}
	if o.Report != "" && o.Gate.Disabled {
		return errors.New("a training report needs the quality gate")
	}
	return o.validateModels()
}

// ErrInputRejected is wrapped by the error Train returns when its input
// cannot make a version worth publishing: more bad lines than
// eventlog.Options.MaxBadRatio allows, no usable events, or (unless
// Gate.Force) fewer users, items or holdout users than Options.Min.
// Nothing is written then.
var ErrInputRejected = errors.New("input rejected")

// MinSizes are the smallest data Train publishes a version from. Below
// them a model is mostly its parameters (a 256-factor model of 5 users
// and 3 items) and the gate's holdout figures are noise: Train logs a
// warning and fails with ErrInputRejected before training, unless
// Gate.Force is set or the version is not to be published.
type MinSizes struct {
	Users, Items int
	// HoldoutUsers is the least number of users with held-out
	// interactions the quality gate measures on.
	HoldoutUsers int
}

// DefaultMinSizes returns the minimums polecam train uses: 50 users, 10
// items, 20 holdout users.
func DefaultMinSizes() MinSizes { return MinSizes{Users: 50, Items: 10, HoldoutUsers: 20} }

// size is a count checked against its minimum.
type size struct {
	name   string
	n, min int
}

// checkMin returns an ErrInputRejected error when a size of what is below
// its minimum and the version is to be published unforced; it warns
// either way.
func (o Options) checkMin(what string, sizes ...size) error {
	var short []string
	for _, s := range sizes {
		if s.n < s.min {
			short = append(short, fmt.Sprintf("%d %s (the minimum is %d)", s.n, s.name, s.min))
		}
	}
	if len(short) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s hold only %s", what, strings.Join(short, ", "))
	if !o.Publish || o.Gate.Force {
		o.Logger.Warn("training below the minimum sizes", "reason", msg, "forced", o.Gate.Force)
		return nil
	}
	o.Logger.Warn("not training below the minimum sizes (--force trains and publishes anyway)", "reason", msg)
	return fmt.Errorf("%w: %s; --force publishes anyway", ErrInputRejected, msg)
}

// Params are the training parameters recorded in a snapshot's manifest.
type Params struct {
	ALS          training.ALSOptions          `json:"als"`
	CoOccurrence training.CoOccurrenceOptions `json:"co_occurrence"`
	Ingest       IngestParams                 `json:"ingest"`
	// EASE or RP3 is set when the snapshot holds an item-item model.
	EASE  *training.EASEOptions `json:"ease,omitempty"`
	RP3   *training.RP3Options  `json:"rp3,omitempty"`
	Blend float32               `json:"blend"`
	// Recency is how the popularity list was counted and its share in a
	// known user's ranking (zero: all time, none).
	Recency     training.RecencyOptions `json:"recency,omitzero"`
	Weights     map[string]float32      `json:"event_weights"`
	MaxBadRatio float64                 `json:"max_bad_ratio"`
	// Trending is how the trending and bestseller lists were counted; nil
	// when the snapshot has none.
	Trending *TrendingParams `json:"trending,omitempty"`
	// Tuning is what the tuning measured and chose; nil when the recipe
	// was not tuned. ALS, EASE and Blend above are the recipe as trained
	// on all the events.
	Tuning *Tuning `json:"tuning,omitempty"`
}

// Train runs one training job and returns the manifest of the version it
// wrote. A run that fails writes nothing visible: the published version
// and every complete version stay as they were. Runs on one data
// directory take turns (Options.LockTimeout). The new version is
// published with the store's publish policy, verified and
// compare-and-swap against the version the gate compared it with: if
// someone published meanwhile, the version is left unpublished and the
// error wraps store.ErrPublishedChanged.
func Train(ctx context.Context, opts Options) (store.Manifest, error) {
	if err := opts.Validate(); err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	log := opts.Logger
	lock, err := lockTraining(ctx, opts.DataDir, opts.LockTimeout, log)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	defer lock.Close()
	start := time.Now()
	// What the gate compares with; without the gate, what was published
	// when the run began. The publish fails if it changed meanwhile.
	expected, err := publishedVersion(opts.DataDir)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}

	// Users who asked to be forgotten are never trained on again.
	forgotten, err := readTombstones(opts.DataDir)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	var skippedForgotten int64
	si := newServingInputs(opts.Trending)
	x, in, err := ingest(ctx, opts, skipForgotten(forgotten, &skippedForgotten), si.observe)
	stats := in.Log
	if skippedForgotten > 0 {
		log.Info("skipped events of forgotten users", "events", skippedForgotten)
	}
	for _, s := range stats.Samples {
		log.Warn("skipped bad line", "file", s.File, "line", s.Line, "reason", s.Reason)
	}
	if errors.Is(err, eventlog.ErrTooManyBadLines) {
		return store.Manifest{}, fmt.Errorf("train: read events: %w: %w", ErrInputRejected, err)
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: read events: %w", err)
	}
	if x.NumUsers() == 0 || x.NumItems() == 0 {
		return store.Manifest{}, fmt.Errorf("train: %w: the logs hold no usable events (%d lines, %d bad)", ErrInputRejected, stats.Lines, stats.Bad)
	}
	if err := opts.checkMin("the logs", size{"users", x.NumUsers(), opts.Min.Users}, size{"items", x.NumItems(), opts.Min.Items}); err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	readTime := time.Since(start)
	log.Info("read events", "files", len(stats.Files), "lines", stats.Lines, "events", stats.Events,
		"bad_lines", stats.Bad, "dropped", stats.Dropped.Total(), "duplicates", in.Duplicates,
		"filtered_users", in.FilteredUsers, "filtered_items", in.FilteredItems,
		"users", x.NumUsers(), "items", x.NumItems(), "interactions", x.NNZ(),
		"elapsed", readTime.Round(time.Millisecond))
	// The data-scaled defaults are fixed on all the events, so that the
	// gate's holdout model and the published one share one recipe. The
	// tuning starts from the options as given (explicit values fixed,
	// automatic ones scaled to its training part).
	raw := opts
	opts = opts.ScaledTo(x)
	var (
		gate *GateResult
		gs   *gateSplit
	)
	gateStart := time.Now()
	if !opts.Gate.Disabled {
		if gs, err = carveHoldout(ctx, opts, x, in, forgotten); err != nil {
			return store.Manifest{}, fmt.Errorf("train: quality gate: %w", err)
		}
	}
	var tuning *Tuning
	tuneStart := time.Now()
	if opts.Tune.Budget > 0 {
		if tuning, err = tuneForTrain(ctx, raw, x, in, gs, runClock{began: start, read: readTime}); err != nil {
			return store.Manifest{}, fmt.Errorf("train: %w", err)
		}
		opts.Tuned = &tuning.Result
	}
	tuneTime := time.Since(tuneStart)
	if gs != nil {
		if gate, err = runGate(ctx, opts, gs); err != nil {
			return store.Manifest{}, fmt.Errorf("train: quality gate: %w", err)
		}
	}
	gateTime := time.Since(gateStart) - tuneTime
	modelStart := time.Now()

	models, err := trainModels(ctx, x, gate.capture(opts))
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}

	sources, err := hashSources(stats.Files)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	params, err := json.Marshal(Params{ALS: models.als, CoOccurrence: opts.CoOccurrence, EASE: models.easeParams(), RP3: models.rp3Params(), Blend: models.blend,
		Recency: models.recency, Weights: opts.Log.Weights, MaxBadRatio: opts.Log.MaxBadRatio, Ingest: opts.ingestParams(), Trending: opts.Trending.params(),
		Tuning: tuning})
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
	lists, err := servingAux(ctx, opts, si, x, stats.Last, log)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("train: %w", err)
	}
	catalogFile = append(append(catalogFile, foldInAux(opts, x, models.factors)), lists...)
	writeStart := time.Now()
	m, err = write(ctx, opts, x, models, m, append(append(catalogFile, int8Aux(opts, x, models.factors)...), annAux(ctx, opts, x, models.factors)...)...)
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
		if gate != nil {
			expected = gate.PublishedVersion
		}
		if testHookBeforePublish != nil {
			testHookBeforePublish()
		}
		if _, err := dir.PublishVerified(ctx, m.Version, store.DefaultPublishOptions().ExpectPublished(expected)); err != nil {
			if errors.Is(err, store.ErrPublishedChanged) {
				return m, fmt.Errorf("train: wrote %s without publishing it: the published version changed while this run compared against %s; "+
					"run train again to compare against the new one: %w", m.Version, orNothing(expected), err)
			}
			return m, fmt.Errorf("train: %w", err)
		}
		log.Info("published snapshot", "version", m.Version, "replaced", orNothing(expected))
	}
	if opts.Summary != nil {
		stages := []Stage{{"read", in.Read}, {"filter", in.Filter}}
		if tuning != nil {
			stages = append(stages, Stage{"tune", tuneTime})
		}
		if gate != nil {
			stages = append(stages, Stage{"gate", gateTime})
		}
		s := summarize(m, in, x, catalogStats, skippedForgotten, append(stages,
			Stage{"models", modelTime}, Stage{"write", time.Since(writeStart)}), gate)
		s.Tuning = tuning
		opts.Summary(s)
	}
	return m, gateErr
}

// write stores the trained models as a new complete (unpublished) version
// in opts.DataDir, once it made sure the file system has room for it. On
// error the staging directory is removed.
func write(ctx context.Context, opts Options, x *training.Interactions, models *models, m store.Manifest, extra ...auxFile) (store.Manifest, error) {
	f, neighbors := models.factors, models.neighbors
	dir, err := store.OpenDir(opts.DataDir)
	if err != nil {
		return store.Manifest{}, err
	}
	b, err := dir.NewBuilder(ctx)
	if err != nil {
		return store.Manifest{}, err
	}
	defer b.Abort()
	if err := b.CheckSpace(sizeHint(opts, x, models, len(extra) > 0), opts.FreeSpace); err != nil {
		return store.Manifest{}, err
	}
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
	nk := len(x.EventKinds)
	if nk > 0 {
		if err := b.SetSeenEventKinds(x.EventKinds); err != nil {
			return store.Manifest{}, err
		}
	}
	var events []store.SeenEvent
	for u := range x.NumUsers() {
		if u%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return store.Manifest{}, err
			}
		}
		row := x.UserItems[x.UserPtr[u]:x.UserPtr[u+1]]
		if nk > 0 {
			events = events[:0]
			for k, it := range row {
				e := int(x.UserPtr[u]) + k
				for j, at := range x.EventTimes[e*nk : (e+1)*nk] {
					if at > 0 {
						events = append(events, store.SeenEvent{Item: it, Kind: uint32(j), At: at})
					}
				}
			}
			if err := b.PutSeenEvents(int32(u), events); err != nil {
				return store.Manifest{}, err
			}
		}
		if err := b.PutSeen(int32(u), row); err != nil {
			return store.Manifest{}, err
		}
		// The weights let a request-time fold-in rebuild the user's
		// least-squares system exactly (recommender's fold-in).
		if err := b.PutSeenWeights(int32(u), row, x.UserWeights[x.UserPtr[u]:x.UserPtr[u+1]]); err != nil {
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
	if err := b.SetPopularity(training.RecentPopularity(x, models.recency.HalfLife())); err != nil {
		return store.Manifest{}, err
	}
	if err := models.writeItemItem(b, x.NumItems()); err != nil {
		return store.Manifest{}, err
	}
	for _, a := range extra {
		var err error
		if a.set != nil {
			err = a.set(b)
		} else {
			err = b.AddFile(a.name, a.write)
		}
		if err != nil {
			return store.Manifest{}, err
		}
	}
	return b.Commit(ctx, m)
}

// testHookBeforePublish, if set by a test, runs just before the publish.
var testHookBeforePublish func()

// publishedVersion returns the published version of dataDir, "" if none.
func publishedVersion(dataDir string) (string, error) {
	dir, err := store.OpenDir(dataDir)
	if err != nil {
		return "", err
	}
	v, err := dir.Published()
	if errors.Is(err, store.ErrNoPublished) {
		return "", nil
	}
	return v, err
}

func orNothing(v string) string {
	if v == "" {
		return "nothing published"
	}
	return v
}

// sizeHint describes the version write is about to store, for the
// free-space check; aux says whether the auxiliary files (catalogue, int8
// rows, ANN index) are written too.
func sizeHint(opts Options, x *training.Interactions, ms *models, aux bool) store.SizeHint {
	h := store.SizeHint{Users: x.NumUsers(), Items: x.NumItems(), Dims: ms.factors.Dims, Seen: int64(x.NNZ())}
	for _, id := range x.Users {
		h.IDBytes += int64(len(id))
	}
	for _, id := range x.Items {
		h.IDBytes += int64(len(id))
	}
	for _, nn := range ms.neighbors {
		h.Neighbors += int64(len(nn))
	}
	switch ii := ms.itemItem.(type) {
	case *training.ItemItem:
		h.Extra += 4 * int64(ii.N) * int64(store.Stride(ii.N))
	case *training.SparseItemItem:
		h.Extra += 8*int64(ii.NNZ()) + 8*int64(ii.N+1) // itemitem.csr
	}
	for _, at := range x.EventTimes {
		if at > 0 {
			h.Extra += 12 // seenevents.csr
		}
	}
	if aux {
		// int8 rows (a byte a factor) and the ANN graph's links, high.
		h.Extra += int64(h.Items) * int64(store.Stride(h.Dims)+512)
		if opts.Catalog != "" {
			if fi, err := os.Stat(opts.Catalog); err == nil {
				h.Extra += 2 * fi.Size()
			}
		}
	}
	return h
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
