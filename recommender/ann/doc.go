// Package ann answers approximate maximum-inner-product top-N queries over
// the item factor vectors of a large catalogue with an HNSW graph
// (hierarchical navigable small world, Malkov & Yashunin 2018), in a
// compact form that is written once at training time and used in place
// from a memory-mapped snapshot.
//
// # The graph
//
// [Build] inserts every row with a non-zero vector into a layered graph:
// each node keeps up to 2*M links on layer 0 and up to M on the few upper
// layers it is drawn on. A search descends greedily through the upper
// layers and then runs a beam search of width ef on layer 0.
//
// Similarity is the plain inner product, both while building and while
// searching, as in Faiss's HNSW with METRIC_INNER_PRODUCT. The textbook
// alternative, the reduction of MIPS to nearest-neighbour search (append
// sqrt(max‖x‖² − ‖x‖²) to every item and 0 to the query; Bachrach et
// al. 2014), builds a graph that queries navigate badly: on the test
// vectors of this package (a mixture of Gaussians with varied norms) it
// found 38 % of the exact top 10 at ef 64, the inner-product graph 97 %
// (benchmarks/ann.md). The inner-product graph links nodes towards long
// vectors, which are the answers to inner-product queries, but leaves many
// short vectors without a link to them; Build then links every such node
// from a reachable node near it with room in its list (found among its
// neighbours or by a search of the graph; only failing that is a link
// replaced, its node relinked through the new one), so that every node is
// reachable from the entry, where every layer-0 search also starts, and a
// filter that passes only short vectors still finds them.
//
// # Searching
//
// [Index.Search] returns the n best items by inner product, best first,
// with their exact inner products. A [Filter] is applied during the
// search: rejected items are walked through but never returned, so an
// answer still has n items when many are excluded. A very selective filter
// (a few items out of many) makes the search walk much of the graph; a
// caller that knows its few candidates should score them directly.
// Search allocates nothing when it is given a reused [Scratch] and a dst
// with room for n results.
//
// The index does not hold the vectors: it reads them from the row-major
// float32 matrix given to Build or Load (rows stride floats apart), with
// the AVX-512/AVX2 kernel of package dot. The matrix must not change while
// the index is in use.
//
// A search spends most of its time waiting for the rows of the nodes it
// scores, scattered over the matrix. [Index.WithInt8] returns an index
// that walks the graph with int8-quantised rows instead (a snapshot's
// int8 item file: 64 bytes, one cache line, per row at 64 dimensions
// instead of 256) and rescores only the best few dozen of the final beam
// with the float rows, so the answer still carries exact inner products.
// On the test vectors its recall equals the float walk's at every ef
// measured (benchmarks/ann.md).
//
// # Storing
//
// [Index.WriteTo] writes the graph (about 4*(2*M+2) bytes per row plus a
// little for the upper layers: 136 MB for 1M rows at M=16) with a header
// and CRC-32C checksums; [Load] checks them and every link, then uses the
// bytes in place (see format.go for the layout). Load never panics on
// damaged input: it returns an error wrapping [ErrCorrupt].
//
// # Concurrency
//
// Build inserts rows from Options.Workers goroutines with a lock per node
// and stops them all before it returns. A built or loaded Index is
// immutable; any number of goroutines may search it at once, each with its
// own Scratch.
package ann
