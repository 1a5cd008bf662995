// Package dot scores a query vector against the rows of a row-major float32
// matrix: the inner-product kernel behind every top-N scan. It also adds
// weighted rows into a vector (AddScaledRows), the other half of a
// least-squares step over gathered rows, which training's iALS uses with
// Scores.
//
// The matrix is read in place (typically memory-mapped); rows are stride
// floats apart and only the first len(q) floats of each row are used. Rows
// need not be aligned and stride need not be a multiple of anything: the
// vector kernels finish each row with a masked load, so they never read past
// the last float of the last row.
//
// # Implementations
//
// Scores picks one implementation when the package is initialised, by the
// CPU's features:
//
//   - "avx512": AVX-512F assembly, 16 floats per instruction, 4 rows per
//     iteration (amd64 with AVX512F and OS support for its state).
//   - "avx512bw": the same float kernel with the AVX512BW int8 kernel;
//     never chosen, listed after "avx512" on CPUs with AVX-512 VNNI so
//     that tests and benchmarks can compare the two int8 kernels.
//   - "avx2": AVX2+FMA assembly, 8 floats per instruction, 4 rows per
//     iteration.
//   - "generic": a plain Go loop, used on every other CPU and architecture
//     and when built with the purego tag.
//
// Impl reports the choice; Implementations lists every implementation the
// machine can run (the tests exercise each), and Kernels lists the assembly
// kernels compiled in, with the CPU features each needs and whether this
// machine runs it, so a test log says which kernels a run covered: on a CPU
// without AVX-512 no test executes the AVX-512 kernels. The vector kernels sum in a different order from
// the Go loop, so results differ from it by rounding only (a few ulps of
// sum |row_j * q_j|); rankings differ only between near-ties.
//
// Within one implementation results are reproducible: the vector kernels
// score rows in groups of four, rows [4k, 4k+4) of one call, and the last
// len(dst)%4 rows one at a time, summing a grouped row in a different order
// from a lone one. A row's score depends only on the row, q and which of
// the two ways it was scored, so scoring the same group of four (or the
// same lone row) again gives the same bits; callers that rescore a few
// rows of a large scan rely on this.
//
// # Int8 rows
//
// QuantizeRows stores each row as int8 with one float32 scale per row, a
// quarter of the bytes of float32 rows; QuantizeVector does the same for a
// query, and ScoresInt8 scores int8 rows with an exact integer inner
// product, scaled back to float32. The AVX-512 int8 kernel needs AVX512BW
// as well; without it the generic loop is used. Where the CPU also has
// AVX-512 VNNI, "avx512" scores int8 rows with VPDPBUSD, 64 bytes and 16
// rows at a time (see int8vnni_amd64.s), and the AVX512BW kernel
// (VPMOVSXBW and VPMADDWD, 4 rows at a time) is kept as "avx512bw" for
// tests and benchmarks. Every int8 implementation returns the same bits:
// the integer sums are exact and all scale them as float32(sum)*rowScale,
// then *qScale.
//
// Quantisation moves a score by at most about
// (qScale*sum|row| + rowScale*sum|q|)/2, so use int8 rows
// to shortlist candidates and rescore the shortlist with Scores when exact
// order matters.
//
// # Selection
//
// IndexAbove finds the first score above a floor, comparing 16 scores per
// iteration with AVX2 where the CPU has it: a top-N scan keeps the worst
// score it holds as the floor and skips straight to the next score that
// beats it.
//
// Scores, ScoresInt8 and IndexAbove do not allocate. The assembly kernels cannot be preempted, so
// Scores calls them on blocks of at most 16384 rows, which keeps each
// non-preemptible stretch well under a millisecond.
package dot
