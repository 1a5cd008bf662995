// Package training turns aggregated shop events into recommendation models:
// the user × item interaction matrix, implicit-feedback matrix factorisation
// (iALS), item-to-item co-occurrence, item popularity, and the evaluation
// helpers used to compare them. It produces models and knows nothing of how
// they are stored or served.
//
// # Interactions
//
// A Builder accumulates (user, item, weight) triples — typically one per log
// event, weighted by event type — summing the weights of repeated pairs. Its
// memory grows with distinct users, items and pairs, not with the number of
// events, so a log can be streamed through it. Build returns an Interactions:
// the matrix in CSR (by user) and CSC (by item) form, with dense int32
// indexes assigned in first-seen order and maps back to the shop ids.
//
// # Implicit alternating least squares
//
// TrainALS follows Hu, Koren & Volinsky, "Collaborative Filtering for
// Implicit Feedback Datasets" (ICDM 2008). An aggregated weight w_ui > 0 is
// read as a preference p_ui = 1 held with confidence
//
//	c_ui = 1 + α·w_ui
//
// and every cell without events as p_ui = 0 with confidence 1. User factors
// x_u and item factors y_i (k dimensions each) minimise
//
//	Σ_{u,i} c_ui (p_ui − x_uᵀy_i)² + λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)
//
// over all cells, not only the observed ones. With the item factors Y fixed,
// each user's optimum solves the k × k system
//
//	(YᵀY + λI + Σ_{i∈I_u} (c_ui − 1) y_i y_iᵀ) x_u = Σ_{i∈I_u} c_ui y_i
//
// whose dense part YᵀY is computed once per half-iteration (gonum BLAS
// Ssyrk), so a user costs O(k²) plus O(k) per interaction; items are solved
// symmetrically. By default λ is the same for every row; with
// ALSOptions.RegularizationExponent ν > 0 row r gets λ·(W_r/W̄)^ν, W_r its
// total confidence mass (Rendle, Krichene, Zhang & Koren, "Revisiting the
// Performance of iALS on Item Recommendation Benchmarks", RecSys 2022), so
// heavy users and popular items are shrunk more.
//
// By default each system is solved approximately, with a few steps of
// conjugate gradient warm-started from the previous iteration's vector and
// never forming the matrix (Takács, Pilászy & Tikk, "Applications of the
// Conjugate Gradient Method for Implicit Feedback Collaborative Filtering",
// RecSys 2011; the method of the implicit library). ALSOptions.CGSteps = 0
// selects an exact Cholesky solve (gonum mat.Cholesky) as a reference. Rows
// are solved in parallel by ALSOptions.Workers goroutines; a row's solution
// depends only on the fixed side, so training is deterministic for a seed
// whatever the number of workers. Users and items without interactions get
// zero vectors. The score of user u for item i is x_uᵀy_i.
//
// # Co-occurrence and popularity
//
// CoOccurrence lists, for each item, the items most often used by the same
// users, scored by the cosine similarity of their binary user-incidence
// vectors, n_ij / √(n_i·n_j). Popularity counts each item's distinct users,
// the baseline every other model must beat.
//
// # Evaluation
//
// SplitRandom holds out a random share of each user's items, and RecallAtK
// measures how many of them a scoring function ranks in its top k among the
// items the user has not already used.
//
// SplitStratifiedItem is the split of the Microsoft Recommenders
// benchmarks (a share of every item's interactions held out) and
// HoldoutBuilder a time-based holdout (the last N days). Metrics defines
// precision, recall, binary NDCG, MAP, hit rate and catalogue coverage at
// k, accumulated by an Evaluator; Evaluate ranks with a score function.
//
// # Item-item model and tuning
//
// TrainEASE fits EASE (Steck 2019), a dense item × item regression over the
// Gram matrix, for catalogues up to EASEOptions.MaxItems; TrainSparseEASE
// approximates it beyond, regressing each item on its EASEOptions.Neighbors
// most similar items only (FitEASE chooses between the two). A user's
// scores are the sum of the rows of the items they used. Blend mixes factor and
// item-item scores as the server does, and Tune chooses a Recipe (iALS,
// EASE and blend parameters) on validation splits carved from the training
// data (never the test data), averaging NDCG@k over them, within a count
// and a time budget (StratifiedSplits carves TuneOptions.Folds stratified
// splits; package pipeline carves a time split for logs with times).
package training
