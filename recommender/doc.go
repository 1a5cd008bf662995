// Package recommender is polecam's serving core: it answers top-N queries
// from one loaded model snapshot.
//
// # Models
//
// A [Model] wraps an opened snapshot (see package store; anything
// implementing [Snapshot] will do) and is immutable once [NewModel] has
// validated it. NewModel checks the shapes of the factor matrices, computes
// the item norms used for cosine similarity and ranks the most popular
// items once, so that requests do no per-model work. A Model is safe for
// concurrent use by any number of goroutines.
//
// # Queries
//
// [Model.Recommend] scores every item against the user's factor vector with
// the kernel in package dot, reading the item matrix in place, and keeps
// the best N in a bounded heap. Items the user interacted with in training
// are excluded unless [RecommendRequest].IncludeSeen is set, and so are the
// request's Exclude ids. A user the model does not know, or whose factor
// vector is zero, gets the most popular items instead and the [Result] says
// so in Fallback. Items without a factor vector (all zero: absent from
// training) are never ranked by factors; they can only appear as
// popularity fill.
//
// When the snapshot also holds an item-item model with its
// [ItemItemParams] — dense, the n × n matrix [ItemItemMatrix] (EASE,
// trained by the pipeline for catalogues small enough), or sparse, the
// rows of store.ItemItemRowsFile (approximate EASE or RP3beta: some
// weights per item, negative ones allowed), never both — a known user is
// ranked instead by the blend w·f/max(f) + (1−w)·s/max(s) of the factor
// scores f and the item-item scores s (the sum of the rows of the user's
// history; a sparse row adds its weights to its items only), both maxima
// over the candidates, as training.Blend defines it, plus r·p/max(p) of
// the popularity list p when ItemItemConfig.Recency r is set
// (training.RecencyScorer: items selling now rise); the source is still
// SourceFactors. Both kinds are read in place from the mapped snapshot
// and use the same pooled score buffer, so neither allocates per request.
// Without a model the factor-only path is unchanged.
//
// [Model.SimilarItems] returns an item's co-occurrence neighbours first;
// when there are fewer than N it fills with the items nearest to it by
// cosine similarity of the factor vectors (an exact scan), then with
// popular items. Every [ScoredItem] names the [Source] that produced it;
// scores are comparable only within one source. Within a source items are
// ordered by score, best first, and equal scores by catalogue position, so
// every answer is deterministic.
//
// # Who asks, and one ranking core
//
// Every query is answered in two steps. The first resolves who asks
// (resolveUser): the user's row and trained vector, the items they were
// trained on, the session's [RecommendRequest].Recent items, forgotten
// users (served as visitors), and from them the query: a vector, the
// history and the set of items never to return. The second is one
// ranking core shared by every call: the request's [Filter] is compiled
// into a bitset over the item rows (from the catalogue's per-category
// row lists, inverted attribute indexes and value-sorted numeric
// columns) and travels into every tier — the int8 shortlist with its
// exactness proof, the float scan, split scans, the HNSW walk (which
// widens its beam by √(items/passing)), the item-item blend,
// co-occurrence and the popularity and trending lists — so nothing is
// over-fetched and dropped. A selective filter (few rows: see
// directCheaper) is answered by scoring just its rows: shortlisted by
// their int8 rows — scanned as contiguous blocks of a category-ordered
// copy for a filter on a few categories (ModelOptions.CategoryBlocks),
// gathered from where they are otherwise — then proved and rescored,
// each in its group of four as a scan scores it, so exact answers stay
// the float scan's bit for bit with filters too. RecommendBatch answers
// many users at once with one catalogue scan shared by those whose
// answer is the plain int8 scan. Items the catalogue marks out of stock
// (an in_stock or available attribute that is false) are never returned.
//
// Recent items are folded in at request time: the iALS least-squares
// step for the history plus the session, with the trainer's α and
// regularisation and the precomputed YᵀY of the snapshot's fold-in file,
// solved by conjugate gradient from the trained vector (about 0.1 ms at
// 64 factors; benchmarks/query.md). A known user's trained items count
// with the weights they were trained with (the snapshot's seen weights),
// so without session items the answer is their trained vector; a visitor
// the model does not know gets a personal answer from the session alone.
// Session items are never returned.
//
// [Model.Rank] orders a caller's candidates by the scores Recommend
// gives them; [Model.RecommendForBasket] sums the seeds' cart and
// purchase co-occurrence (then view co-occurrence, then factor
// similarity to the basket); [Model.Trending] walks the trending,
// bestseller or popularity list under the filter.
//
// Pages: [Result].NextPageToken is stateless. It holds the model version,
// a hash of the query and a cursor (tier, score, row) of the last item
// returned; the next page is the best items after the cursor, so no page
// repeats an item and, for one model version, pages 1..k of size n are the
// items of one request for n·k (up to [MaxPageDepth] items). A token of
// another version fails with [ErrFailedPrecondition].
//
// # Scans
//
// A catalogue scan scores the items in chunks of 8,192 rows, each scored
// in blocks that stay in L1 cache and offered to a bounded heap. From
// [ModelOptions].ParallelMinItems items on (by default 32,768: below that,
// waking a second core costs more than it saves), a Model keeps
// Workers-1 long-lived scan goroutines, stopped by [Model.Close]. A
// request offers them its chunks without blocking and takes part itself;
// each participant keeps its own top N and the request merges them. When
// the workers are busy with other requests, the request scans alone, so
// under load every core serves its own request. The int8 scans below
// split only from [ModelOptions].Int8ParallelMinItems items on (by
// default 150,000): they are so much faster per item that a second core
// costs more than it saves on smaller catalogues. However a scan is split,
// every item is scored by the same kernel call pattern and ties break by
// catalogue position, so the answer is bit for bit the same.
//
// # Int8 shortlists
//
// When a snapshot carries the int8 item vectors ([Int8ItemsFile], written
// by the training pipeline with [WriteInt8Items]) and [ModelOptions].Int8
// is set, Recommend scans them instead of the float vectors — a quarter of
// the memory traffic — keeps the best 4N+64 candidates, rescores those
// with the float vectors and keeps the best N. It then proves the answer
// exact: the quantisation error of any item's score is bounded (see
// package dot), and unless the N-th rescored score beats the last
// shortlisted int8 score by more than that bound, it shortlists again,
// 16N+1024 candidates, and if that cannot be proved either (many exact
// ties, say) it runs the float scan after all ([Model.Int8Fallbacks]
// counts these). So the items,
// their order and their scores are always those of the float scan; ties
// included, which is why [RecommendRequest].Exact, for audits, is served
// this way too.
// SimilarItems always scans the float vectors.
//
// # Approximate search
//
// For catalogues too large to scan within a request's budget the training
// pipeline also stores an HNSW index over the item vectors
// ([ANNIndexFile], written with [WriteANNIndex]; see package ann). When a
// snapshot has it and [ModelOptions].ANN is set (the default), NewModel
// loads it in place over the mapped bytes and the mapped item matrix,
// checking its checksums and every link, and Recommend answers a known
// user by searching it instead of scanning: the search explores
// max(the index's EfSearch, 4N) candidates, or [ModelOptions].ANNEf, and
// skips the seen and excluded items while it walks the graph, so the
// answer still has N items from the factors. The items found are
// rescored as the float scan scores them, so an item's score does not
// depend on the path that found it, and ordered by score. The answer is
// approximate: on clustered test data it holds 95-98 % of the exact top
// N (benchmarks/ann.md). [RecommendRequest].Exact bypasses the index; a
// snapshot without it is served by the scans above. The item-item blend,
// when present, takes precedence over the index, and SimilarItems never
// uses it.
//
// Requests reuse per-model scratch buffers from a sync.Pool: a query
// allocates its result of N items and nothing proportional to the
// catalogue, and [Model.RecommendInto] appends the result to a buffer the
// caller passes, so that a request over a snapshot whose id lookups do not
// allocate allocates nothing at all.
//
// # Errors
//
// Errors wrap one of [ErrInvalidArgument] (a request a caller must fix),
// [ErrNotFound] (an item the model does not know), [ErrFailedPrecondition]
// (a page token of another model version) or [ErrUnavailable] (no model
// loaded, or the model was closed), with a message a person can act
// on; test with errors.Is. A cancelled or expired context is returned as
// ctx.Err(). Any other error comes from the snapshot.
//
// # Swapping models
//
// A [Recommender] holds the current Model behind an atomic pointer, so
// requests take no lock. [Recommender.Swap] installs a new model and
// returns the old one; requests in flight keep using the model they
// started with, because every request holds a reference to its model
// until it returns. [Model.Close] drops the owner's reference, waits for
// the last request to finish and only then closes the snapshot, so
// swapping never fails a request:
//
//	m, err := recommender.NewModel(snap)
//	if err != nil { ... }
//	if old := rec.Swap(m); old != nil {
//		go old.Close() // returns once its in-flight requests are done
//	}
package recommender
