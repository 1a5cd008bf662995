package recommender

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/polecam/polecam/recommender/rules"
)

// MaxPageDepth is how deep pages may go: the items of one query beyond
// the first MaxPageDepth are not reachable by paging.
const MaxPageDepth = MaxN

// A page token is stateless: it holds what the server needs to produce
// the next page of the same query, and nothing the caller could change
// undetected.
//
//	byte 0       format (pageTokenV1)
//	bytes 1..4   offset: how many items earlier pages returned
//	bytes 5..12  hash of the query (every field but N, PageToken,
//	             ReturnAttributes and Explain)
//	byte 13      cursor tier: the answer tier of the last item returned
//	bytes 14..17 cursor score (float32 bits)
//	bytes 18..21 cursor item row
//	bytes 22..   model version
//	last 4       CRC-32 (IEEE) of everything before
//
// The next page is the best items of the query that rank after the
// cursor, in (tier, score, row) order: no page repeats an item of an
// earlier one, and, the ranking being deterministic for one model
// version, pages 1..k of size n are the items of one request for n·k.
const pageTokenV1 = 1

// pageCursor is the position of the last item of a page.
type pageCursor struct {
	offset int
	hash   uint64
	tier   uint8
	score  float32
	row    int32
}

func (m *Model) encodePageToken(c pageCursor) string {
	b := make([]byte, 0, 26+len(m.version))
	b = append(b, pageTokenV1)
	b = binary.LittleEndian.AppendUint32(b, uint32(c.offset))
	b = binary.LittleEndian.AppendUint64(b, c.hash)
	b = append(b, c.tier)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.score))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.row))
	b = append(b, m.version...)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken parses tok for a query of hash h. An empty token is the
// first page.
func (m *Model) decodePageToken(tok string, h uint64) (pageCursor, bool, error) {
	if tok == "" {
		return pageCursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 26 || b[0] != pageTokenV1 ||
		binary.LittleEndian.Uint32(b[len(b)-4:]) != crc32.ChecksumIEEE(b[:len(b)-4]) {
		return pageCursor{}, false, fmt.Errorf("%w: page_token is not one this server issued; start again without it", ErrInvalidArgument)
	}
	c := pageCursor{
		offset: int(binary.LittleEndian.Uint32(b[1:])),
		hash:   binary.LittleEndian.Uint64(b[5:]),
		tier:   b[13],
		score:  math.Float32frombits(binary.LittleEndian.Uint32(b[14:])),
		row:    int32(binary.LittleEndian.Uint32(b[18:])),
	}
	if v := string(b[22 : len(b)-4]); v != m.version {
		return pageCursor{}, false, fmt.Errorf("%w: page_token belongs to model version %s, now serving %s; start again from the first page", ErrFailedPrecondition, v, m.version)
	}
	if c.hash != h {
		return pageCursor{}, false, fmt.Errorf("%w: page_token belongs to another request; send the same request with it, changing only n", ErrInvalidArgument)
	}
	if c.offset < 1 || c.offset >= MaxPageDepth {
		return pageCursor{}, false, fmt.Errorf("%w: page_token is not one this server issued; start again without it", ErrInvalidArgument)
	}
	return c, true, nil
}

// after reports whether p ranks after the cursor.
func (c pageCursor) after(p pick) bool {
	if p.tier != c.tier {
		return p.tier > c.tier
	}
	return better(candidate{Index: c.row, Score: c.score}, p.candidate)
}

// queryHash hashes the fields that define a query's ranking (FNV-1a,
// each string length-prefixed), without allocating.
type queryHash struct{ h uint64 }

const fnvPrime = 1099511628211

func newQueryHash(kind byte) *queryHash {
	q := &queryHash{h: 14695981039346656037}
	q.byte(kind)
	return q
}

func (q *queryHash) byte(b byte) { q.h = (q.h ^ uint64(b)) * fnvPrime }

func (q *queryHash) int(n int) {
	for i := range 8 {
		q.byte(byte(uint64(n) >> (8 * i)))
	}
}

func (q *queryHash) str(s string) {
	q.int(len(s))
	for i := 0; i < len(s); i++ {
		q.byte(s[i])
	}
}

func (q *queryHash) strs(ss []string) {
	q.int(len(ss))
	for _, s := range ss {
		q.str(s)
	}
}

// sortedStrs hashes a set of strings, in any order: the sum and the xor
// of the strings' own hashes, which do not depend on the order.
func (q *queryHash) sortedStrs(ss []string) {
	var sum, x uint64
	for _, s := range ss {
		h := queryHash{h: 14695981039346656037}
		h.str(s)
		sum += h.h
		x ^= h.h
	}
	q.int(int(sum))
	q.int(int(x))
}

func (q *queryHash) bool(b bool) {
	if b {
		q.str("t")
	} else {
		q.str("f")
	}
}

func (q *queryHash) filter(f Filter) {
	q.sortedStrs(f.Categories)
	q.sortedStrs(f.ExcludeCategories)
	q.int(len(f.Attributes))
	for _, c := range f.Attributes {
		q.str(c.Name)
		q.byte(byte(c.Op))
		q.str(c.Value)
		q.strs(c.Values)
		for _, b := range []*float64{c.Min, c.Max} {
			if b == nil {
				q.byte(0)
			} else {
				q.byte(1)
				q.int(int(math.Float64bits(*b)))
			}
		}
	}
}

// paginate cuts the page out of sc.picks, which holds the query's best
// items up to depth, ranked: the first n items after the cursor, or, when
// merchandising rules reordered the answer (byOffset), after the items
// earlier pages returned. It returns the token of the next page, or ""
// when there is none.
func (m *Model) paginate(sc *scratch, p pageQuery, n int) string {
	cur, paged, h, depth, byOffset := p.cur, p.paged, p.hash, p.depth, p.ruled
	picks := sc.picks
	if paged && byOffset {
		picks = picks[min(cur.offset, len(picks)):]
	} else if paged {
		i := 0
		for i < len(picks) && !cur.after(picks[i]) {
			i++
		}
		picks = picks[i:]
	}
	limit := MaxPageDepth
	if byOffset {
		limit = RuledPageDepth
	}
	more := cur.offset+n < limit && (len(picks) > n || (len(sc.picks) == depth && depth < limit))
	picks = picks[:min(n, len(picks))]
	sc.picks = append(sc.picks[:0], picks...)
	if !more || len(picks) == 0 {
		return ""
	}
	last := picks[len(picks)-1]
	return m.encodePageToken(pageCursor{offset: cur.offset + len(picks), hash: h, tier: last.tier, score: last.Score, row: last.Index})
}

// pageDepth returns how many ranked items a page at cur of size n needs.
func pageDepth(cur pageCursor, n int) int { return min(cur.offset+n, MaxPageDepth) }

// pageQuery is where a query's page starts and how deep the query is
// ranked for it.
type pageQuery struct {
	cur   pageCursor
	paged bool   // a later page: cur is set
	hash  uint64 // the query's hash, for the next token
	depth int    // the items the answer needs, up to this page's end
	fetch int    // the items to rank: more under rules, which re-rank
	ruled bool
}

// startPage decodes a query's page token (for a query of hash h) and
// sizes its ranking for a page of n items under rl (nil: no rules) of
// scope.
func (m *Model) startPage(token string, h uint64, n int, rl *rules.Rules, scope rules.Scope) (pageQuery, error) {
	cur, paged, err := m.decodePageToken(token, h)
	if err != nil {
		return pageQuery{}, err
	}
	p := pageQuery{cur: cur, paged: paged, hash: h, depth: pageDepth(cur, n), ruled: rl != nil}
	p.fetch = p.depth
	if rl != nil {
		p.depth = ruledDepth(p.depth)
		p.fetch = rl.Candidates(scope, p.depth)
	}
	return p, nil
}
