package training

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/mat"

	kernels "github.com/polecam/polecam/recommender/dot"
)

// ALSOptions configures TrainALS.
type ALSOptions struct {
	// Factors is the number of latent dimensions. Default 64.
	Factors int `json:"factors"`
	// Iterations is the number of alternating rounds; each solves all user
	// factors, then all item factors. Default 15.
	Iterations int `json:"iterations"`
	// Regularization is λ, the ridge penalty on every factor vector. It is
	// not scaled by the number of interactions of a user or item: the
	// objective is Σ c(p−xᵀy)² + λ(Σ‖x‖² + Σ‖y‖²), as in Hu et al. It must
	// therefore grow with the confidences, that is with Alpha and the size
	// of the weights. Default 100, chosen with Alpha 4 on synthetic logs
	// weighted view 1, add to cart 3, purchase 5, where recall@10 was flat
	// within 3% for λ between 100 and 200 and fell by a quarter at λ = 10.
	Regularization float32 `json:"regularization"`
	// RegularizationExponent is ν in the frequency-scaled penalty of
	// Rendle, Krichene, Zhang & Koren ("Revisiting the Performance of iALS
	// on Item Recommendation Benchmarks", RecSys 2022): row r (a user or an
	// item) is penalised by
	//
	//	λ_r = λ · (W_r / W̄)^ν,   W_r = N_other + α·Σ_{i∈r} w_ri,
	//
	// where W_r is the total confidence the row's squared errors carry (one
	// per cell of the other side plus α·w for each interaction) and W̄ its
	// mean over the rows of that side with interactions, so λ keeps its
	// scale. 0 (the default) is the unscaled penalty of Hu et al.; 1 makes
	// the penalty proportional to the row's weight in the loss.
	RegularizationExponent float32 `json:"regularization_exponent,omitempty"`
	// Alpha scales the confidence of an interaction of weight w to
	// c = 1 + Alpha·w. Default 4.
	Alpha float32 `json:"alpha"`
	// CGSteps is the number of conjugate-gradient steps per row, warm-started
	// from the previous factors. Zero selects an exact Cholesky solve per row
	// (in float64), which costs O(k²) per interaction and O(k³) per row and is
	// meant as a reference. Default 3.
	CGSteps int `json:"cg_steps"`
	// Seed seeds the initial factors. Training is deterministic for a given
	// Seed, matrix and options, whatever Workers is.
	Seed int64 `json:"seed"`
	// Workers is the number of goroutines solving rows. Default
	// runtime.GOMAXPROCS(0).
	Workers int `json:"-"`
	// InitScale sets the spread of the initial factors: every entry is drawn
	// from a normal distribution with mean 0 and standard deviation
	// InitScale/√Factors. Default 0.1.
	InitScale float32
}

// DefaultALSOptions returns the default options described on ALSOptions.
func DefaultALSOptions() ALSOptions {
	return ALSOptions{
		Factors:        64,
		Iterations:     15,
		Regularization: 100,
		Alpha:          4,
		CGSteps:        3,
		Seed:           1,
		Workers:        runtime.GOMAXPROCS(0),
		InitScale:      0.1,
	}
}

// Validate reports the first option that is out of range.
func (o ALSOptions) Validate() error {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch {
	case o.Factors < 1:
		return fmt.Errorf("als options: factors %d, want at least 1", o.Factors)
	case o.Iterations < 1:
		return fmt.Errorf("als options: iterations %d, want at least 1", o.Iterations)
	case !finite(o.Regularization) || o.Regularization < 0:
		return fmt.Errorf("als options: regularization %v, want finite and non-negative", o.Regularization)
	case !finite(o.RegularizationExponent) || o.RegularizationExponent < 0:
		return fmt.Errorf("als options: regularization exponent %v, want finite and non-negative", o.RegularizationExponent)
	case !finite(o.Alpha) || o.Alpha < 0:
		return fmt.Errorf("als options: alpha %v, want finite and non-negative", o.Alpha)
	case o.CGSteps < 0:
		return fmt.Errorf("als options: cg steps %d, want non-negative (0 for an exact solve)", o.CGSteps)
	case o.Workers < 1:
		return fmt.Errorf("als options: workers %d, want at least 1", o.Workers)
	case !finite(o.InitScale) || o.InitScale <= 0:
		return fmt.Errorf("als options: init scale %v, want finite and positive", o.InitScale)
	}
	return nil
}

// Factors holds trained latent factors, row-major: user u's vector is
// User[u*Dims:(u+1)*Dims] and item i's is Item[i*Dims:(i+1)*Dims], indexed as
// in the Interactions they were trained on. The predicted preference of user
// u for item i is the dot product of their vectors. Users and items without
// interactions have zero vectors.
type Factors struct {
	Dims int
	User []float32
	Item []float32
}

// UserVector returns user u's factors; the slice aliases f.User.
func (f *Factors) UserVector(u int32) []float32 {
	return f.User[int(u)*f.Dims : (int(u)+1)*f.Dims]
}

// ItemVector returns item i's factors; the slice aliases f.Item.
func (f *Factors) ItemVector(i int32) []float32 {
	return f.Item[int(i)*f.Dims : (int(i)+1)*f.Dims]
}

// Scores sets dst[i] to the score of user u for every item i. dst must have
// one element per item.
func (f *Factors) Scores(u int32, dst []float32) {
	x := f.UserVector(u)
	for i := range dst {
		dst[i] = dot(x, f.Item[i*f.Dims:(i+1)*f.Dims])
	}
}

// IterationStats describes one completed ALS iteration.
type IterationStats struct {
	Iteration int           // 1-based
	Loss      float64       // the full objective after the iteration
	Duration  time.Duration // time spent solving, excluding the loss
}

// TrainALS factorises x with implicit-feedback alternating least squares
// (see the package documentation). If progress is not nil it is called after
// every iteration, from the calling goroutine, with the objective value; the
// loss is computed only then. TrainALS stops early and returns ctx.Err() if
// ctx is cancelled.
func TrainALS(ctx context.Context, x *Interactions, opts ALSOptions, progress func(IterationStats)) (*Factors, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	t := newALSTrainer(x, opts)
	for it := 1; it <= opts.Iterations; it++ {
		start := time.Now()
		if err := t.iterate(ctx); err != nil {
			return nil, fmt.Errorf("als iteration %d: %w", it, err)
		}
		if progress == nil {
			continue
		}
		d := time.Since(start)
		loss, err := t.loss(ctx)
		if err != nil {
			return nil, fmt.Errorf("als iteration %d loss: %w", it, err)
		}
		progress(IterationStats{Iteration: it, Loss: loss, Duration: d})
	}
	return t.f, nil
}

// rowChunk is the number of rows a worker takes at a time.
const rowChunk = 64

// alsTrainer holds the state of one training run.
type alsTrainer struct {
	x       *Interactions
	opts    ALSOptions
	f       *Factors
	gram    []float32 // k×k Gram matrix of the fixed side, full (both triangles)
	a       []float32 // gram + λI
	scratch []alsScratch
	parts   []float64 // per-chunk loss terms, summed in chunk order
	// userReg and itemReg are the per-row penalties λ_r, nil when
	// RegularizationExponent is 0 (every row then has λ).
	userReg, itemReg []float32
}

// alsScratch is one worker's scratch space; nothing is allocated per row.
type alsScratch struct {
	r, p, ap []float32
	ys       []float32 // CG: the row's fixed-side vectors, gathered
	c1       []float32 // CG: the row's confidences minus one
	t        []float32 // CG: one coefficient per gathered vector
	// Exact solve only.
	m    *mat.SymDense
	b, v *mat.VecDense
	chol mat.Cholesky
}

func newALSTrainer(x *Interactions, opts ALSOptions) *alsTrainer {
	k := opts.Factors
	f := &Factors{
		Dims: k,
		User: make([]float32, x.NumUsers()*k),
		Item: make([]float32, x.NumItems()*k),
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15))
	std := float64(opts.InitScale) / math.Sqrt(float64(k))
	for i := range f.User {
		f.User[i] = float32(rng.NormFloat64() * std)
	}
	for i := range f.Item {
		f.Item[i] = float32(rng.NormFloat64() * std)
	}
	t := &alsTrainer{
		x:       x,
		opts:    opts,
		f:       f,
		gram:    make([]float32, k*k),
		a:       make([]float32, k*k),
		scratch: make([]alsScratch, opts.Workers),
	}
	if opts.RegularizationExponent != 0 {
		t.userReg = rowPenalties(x.UserPtr, x.UserWeights, x.NumItems(), opts)
		t.itemReg = rowPenalties(x.ItemPtr, x.ItemWeights, x.NumUsers(), opts)
	}
	for w := range t.scratch {
		s := &t.scratch[w]
		s.r, s.p, s.ap = make([]float32, k), make([]float32, k), make([]float32, k)
		if opts.CGSteps == 0 {
			s.m = mat.NewSymDense(k, nil)
			s.b = mat.NewVecDense(k, nil)
			s.v = mat.NewVecDense(k, nil)
		}
	}
	return t
}

// iterate solves all user factors with the item factors fixed, then all
// item factors with the user factors fixed.
func (t *alsTrainer) iterate(ctx context.Context) error {
	x := t.x
	if err := t.solveSide(ctx, x.UserPtr, x.UserItems, x.UserWeights, t.userReg, t.f.User, t.f.Item); err != nil {
		return fmt.Errorf("solve users: %w", err)
	}
	if err := t.solveSide(ctx, x.ItemPtr, x.ItemUsers, x.ItemWeights, t.itemReg, t.f.Item, t.f.User); err != nil {
		return fmt.Errorf("solve items: %w", err)
	}
	return nil
}

// computeGram sets t.gram to YᵀY for the row-major factors y.
func (t *alsTrainer) computeGram(y []float32) {
	k := t.opts.Factors
	clear(t.gram)
	if n := len(y) / k; n > 0 {
		blas32.Syrk(blas.Trans, 1,
			blas32.General{Rows: n, Cols: k, Stride: k, Data: y}, 0,
			blas32.Symmetric{Uplo: blas.Upper, N: k, Stride: k, Data: t.gram})
	}
	for r := range k {
		for c := r + 1; c < k; c++ {
			t.gram[c*k+r] = t.gram[r*k+c]
		}
	}
}

// RowPenalty holds the inputs of the frequency-scaled penalty TrainALS
// applies to the rows of one side (see
// ALSOptions.RegularizationExponent), so that a row solved later — a user
// folded in at request time — gets exactly the penalty training gave it.
type RowPenalty struct {
	Lambda   float64 // λ
	Exponent float64 // ν; 0 penalises every row by λ
	Alpha    float64 // α
	Other    float64 // N_other: the number of rows of the other side
	Mean     float64 // W̄: the mean of N_other + α·Σw over the rows with interactions; 0 if none
}

// For returns λ_r of a row whose interactions' weights sum to weightSum,
// as TrainALS computes it (rounded to float32).
func (p RowPenalty) For(weightSum float64) float32 {
	if p.Exponent == 0 {
		return float32(p.Lambda)
	}
	return p.forTotal(p.Other + p.Alpha*weightSum)
}

func (p RowPenalty) forTotal(v float64) float32 {
	return float32(p.Lambda * math.Pow(v/p.Mean, p.Exponent))
}

// UserPenalty returns the penalty inputs TrainALS uses for the users of x
// under opts.
func UserPenalty(x *Interactions, opts ALSOptions) RowPenalty {
	p, _ := rowPenalty(x.UserPtr, x.UserWeights, x.NumItems(), opts)
	return p
}

// rowPenalty returns the penalty inputs of one side and every row's total
// weight N_other + α·Σw (0 for a row without interactions).
func rowPenalty(ptr []int64, w []float32, nOther int, opts ALSOptions) (RowPenalty, []float64) {
	n := len(ptr) - 1
	tot := make([]float64, n)
	var sum float64
	rows := 0
	for r := range n {
		b, e := ptr[r], ptr[r+1]
		if b == e {
			continue
		}
		var s float64
		for _, v := range w[b:e] {
			s += float64(v)
		}
		tot[r] = float64(nOther) + float64(opts.Alpha)*s
		sum += tot[r]
		rows++
	}
	p := RowPenalty{Lambda: float64(opts.Regularization), Exponent: float64(opts.RegularizationExponent),
		Alpha: float64(opts.Alpha), Other: float64(nOther)}
	if rows > 0 {
		p.Mean = sum / float64(rows)
	}
	return p, tot
}

// rowPenalties returns λ_r for every row of one side (see
// ALSOptions.RegularizationExponent); nOther is the size of the other side.
func rowPenalties(ptr []int64, w []float32, nOther int, opts ALSOptions) []float32 {
	p, tot := rowPenalty(ptr, w, nOther, opts)
	reg := make([]float32, len(tot))
	if p.Mean == 0 {
		return reg
	}
	for r, v := range tot {
		reg[r] = p.forTotal(v)
	}
	return reg
}

// solveSide updates every row of dst (one side's factors) given the fixed
// factors of the other side, the compressed rows ptr/idx/w that connect
// them and the rows' penalties reg (nil: λ for every row). Each row's result depends only on fixed and on its own previous
// value, so the outcome does not depend on how rows are spread over workers.
func (t *alsTrainer) solveSide(ctx context.Context, ptr []int64, idx []int32, w []float32, reg []float32, dst, fixed []float32) error {
	k := t.opts.Factors
	t.computeGram(fixed)
	copy(t.a, t.gram)
	for d := range k {
		t.a[d*k+d] += t.opts.Regularization
	}
	n := len(ptr) - 1
	return parallelChunks(ctx, n, rowChunk, t.opts.Workers, func(worker, lo, hi int) error {
		s := &t.scratch[worker]
		for r := lo; r < hi; r++ {
			x := dst[r*k : (r+1)*k]
			b, e := ptr[r], ptr[r+1]
			if b == e {
				clear(x)
				continue
			}
			var extra float32 // λ_r − λ
			if reg != nil {
				extra = reg[r] - t.opts.Regularization
			}
			if t.opts.CGSteps == 0 {
				if err := t.solveExact(s, x, idx[b:e], w[b:e], extra, fixed); err != nil {
					return fmt.Errorf("row %d: %w", r, err)
				}
				continue
			}
			t.solveCG(s, x, idx[b:e], w[b:e], extra, fixed)
		}
		return nil
	})
}

// cgEpsilon is the squared residual norm below which a row counts as solved.
const cgEpsilon = 1e-20

// solveCG improves x towards the solution of
//
//	(YᵀY + λ_r I + Σ_i (c_i−1) y_i y_iᵀ) x = Σ_i c_i y_i
//
// (λ_r = λ + extra) with a few warm-started conjugate-gradient steps, as the implicit library
// does (Takács, Pilászy & Tikk 2011). The matrix is never formed: its product
// with a vector is YᵀY·v + λv plus one dot and one axpy per interaction.
func (t *alsTrainer) solveCG(s *alsScratch, x []float32, idx []int32, w []float32, extra float32, y []float32) {
	k := len(x)
	alpha := t.opts.Alpha
	r, p, ap := s.r, s.p, s.ap
	// The row's vectors y_i are read once per CG step; gathering them into
	// contiguous scratch keeps them in cache and removes the indirection.
	n := len(idx)
	if cap(s.ys) < n*k {
		s.ys = make([]float32, n*k)
	}
	ys := s.ys[:n*k]
	c1s := s.c1[:0]

	// r = b − A·x.
	t.mulA(r, x)
	if extra != 0 {
		axpy(extra, x, r)
	}
	for d := range r {
		r[d] = -r[d]
	}
	for j, i := range idx {
		copy(ys[j*k:j*k+k], y[int(i)*k:int(i)*k+k])
		c1s = append(c1s, alpha*w[j]) // c − 1
	}
	s.c1 = c1s
	if cap(s.t) < n {
		s.t = make([]float32, n)
	}
	tc := s.t[:n]
	// r += Σ (c_i − (c_i − 1)·y_i·x)·y_i, the products over the gathered
	// vectors in two kernel calls (kernels.Scores, kernels.AddScaledRows) rather
	// than two calls a vector.
	if n > 0 {
		kernels.Scores(tc, ys, k, x)
		for j, c1 := range c1s {
			tc[j] = 1 + c1 - c1*tc[j]
		}
		kernels.AddScaledRows(r, ys, k, tc)
	}
	copy(p, r)
	rs := dot(r, r)
	for range t.opts.CGSteps {
		if rs < cgEpsilon {
			return
		}
		// ap = A·p.
		t.mulA(ap, p)
		if extra != 0 {
			axpy(extra, p, ap)
		}
		if n > 0 {
			kernels.Scores(tc, ys, k, p)
			for j, c1 := range c1s {
				tc[j] *= c1
			}
			kernels.AddScaledRows(ap, ys, k, tc)
		}
		pap := dot(p, ap)
		if !(pap > 0) {
			return
		}
		step := rs / pap
		axpy(step, p, x)
		axpy(-step, ap, r)
		rsNew := dot(r, r)
		beta := rsNew / rs
		rs = rsNew
		// p = r + beta·p.
		for d, rd := range r {
			p[d] = rd + beta*p[d]
		}
	}
}

// mulA sets dst = (YᵀY + λI)·v.
func (t *alsTrainer) mulA(dst, v []float32) {
	k := len(v)
	kernels.Scores(dst[:k], t.a[:k*k], k, v)
}

// solveExact sets x to the exact solution of the row's normal equations,
// formed and factorised in float64.
func (t *alsTrainer) solveExact(s *alsScratch, x []float32, idx []int32, w []float32, extra float32, y []float32) error {
	k := len(x)
	alpha := float64(t.opts.Alpha)
	m := s.m.RawSymmetric() // upper triangle is used
	bv := s.b.RawVector().Data
	for d := range k * k {
		m.Data[d] = float64(t.a[d])
	}
	for d := range k {
		m.Data[d*k+d] += float64(extra)
	}
	clear(bv)
	for n, i := range idx {
		yi := y[int(i)*k : int(i)*k+k]
		c1 := alpha * float64(w[n])
		for d := range k {
			yd := float64(yi[d])
			bv[d] += (1 + c1) * yd
			cy := c1 * yd
			row := m.Data[d*k+d : d*k+k]
			for e, ye := range yi[d:] {
				row[e] += cy * float64(ye)
			}
		}
	}
	if !s.chol.Factorize(s.m) {
		return errors.New("normal equations not positive definite")
	}
	if err := s.chol.SolveVecTo(s.v, s.b); err != nil {
		var cond mat.Condition
		if !errors.As(err, &cond) {
			return fmt.Errorf("cholesky solve: %w", err)
		}
		// An ill-conditioned system still has a usable solution.
	}
	for d := range k {
		x[d] = float32(s.v.AtVec(d))
	}
	return nil
}

// loss returns the full iALS objective for the current factors:
//
//	Σ_u Σ_i c_ui (p_ui − x_uᵀy_i)² + λ(Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)
//
// over all user × item cells, computed in O(k²·(users) + k·nnz) as
// Σ_u [x_uᵀ(YᵀY)x_u + Σ_{i∈I_u} (c_ui(1−s)² − s²)] with s = x_uᵀy_i.
func (t *alsTrainer) loss(ctx context.Context) (float64, error) {
	k := t.opts.Factors
	x := t.x
	t.computeGram(t.f.Item)
	n := x.NumUsers()
	t.parts = t.parts[:0]
	t.parts = append(t.parts, make([]float64, (n+rowChunk-1)/rowChunk)...)
	alpha := float64(t.opts.Alpha)
	err := parallelChunks(ctx, n, rowChunk, t.opts.Workers, func(worker, lo, hi int) error {
		tmp := t.scratch[worker].ap
		var sum float64
		for u := lo; u < hi; u++ {
			xu := t.f.User[u*k : (u+1)*k]
			for d := range tmp {
				tmp[d] = dot(t.gram[d*k:d*k+k], xu)
			}
			sum += float64(dot(tmp, xu))
			for n := x.UserPtr[u]; n < x.UserPtr[u+1]; n++ {
				i := int(x.UserItems[n])
				s := float64(dot(xu, t.f.Item[i*k:i*k+k]))
				c := 1 + alpha*float64(x.UserWeights[n])
				sum += c*(1-s)*(1-s) - s*s
			}
		}
		t.parts[lo/rowChunk] = sum
		return nil
	})
	if err != nil {
		return 0, err
	}
	var total float64
	for _, p := range t.parts {
		total += p
	}
	total += t.penalty(t.f.User, t.userReg) + t.penalty(t.f.Item, t.itemReg)
	return total, nil
}

// penalty returns Σ_r λ_r‖v_r‖² over the rows of one side's factors.
func (t *alsTrainer) penalty(v []float32, reg []float32) float64 {
	if reg == nil {
		return float64(t.opts.Regularization) * sumSquares(v)
	}
	k := t.opts.Factors
	var s float64
	for r, l := range reg {
		s += float64(l) * sumSquares(v[r*k:(r+1)*k])
	}
	return s
}

func sumSquares(v []float32) float64 {
	var s float64
	for _, e := range v {
		s += float64(e) * float64(e)
	}
	return s
}

// f32 is gonum's native float32 BLAS, whose unit-stride Sdot and Saxpy run
// assembly kernels on amd64. Calling the concrete type avoids an interface
// dispatch per call.
var f32 gonum.Implementation

func dot(x, y []float32) float32 { return f32.Sdot(len(x), x, 1, y, 1) }

func axpy(a float32, x, y []float32) { f32.Saxpy(len(x), a, x, 1, y, 1) }
