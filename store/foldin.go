package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"unsafe"
)

// FoldInFile is the aux file holding what a request-time iALS fold-in
// needs, written by Builder.SetFoldIn and read by Snapshot.FoldIn.
const FoldInFile = "foldin.bin"

const (
	foldInHeaderSize    = 128
	foldInFormatVersion = 1
)

var foldInMagic = [8]byte{'P', 'C', 'F', 'O', 'L', 'D', 0, 0}

// FoldIn holds what a request-time iALS fold-in needs: the trainer's
// confidence and regularisation and the Gram matrix of the served item
// factors. Folding a user with interactions (i, w_i) in solves
//
//	(YᵀY + RegFor(Σ w_i)·I + Σ_i Alpha·w_i·y_i y_iᵀ) x = Σ_i (1 + Alpha·w_i) y_i,
//
// the normal equations the trainer solves for every user row.
type FoldIn struct {
	Dims int
	// Alpha scales the confidence of an interaction of weight w to
	// 1 + Alpha·w, as the trainer uses (training.ALSOptions.Alpha).
	Alpha float64
	// Lambda is the trainer's λ (training.ALSOptions.Regularization).
	Lambda float64
	// RegExponent is ν of the frequency-scaled penalty
	// (training.ALSOptions.RegularizationExponent); 0 penalises every user
	// by Lambda.
	RegExponent float64
	// RegItems and RegMeanWeight are the penalty's other inputs: the number
	// of items trained on (N) and the mean of N + Alpha·Σw over the
	// trained users with interactions (W̄). See RegFor.
	RegItems, RegMeanWeight float64
	// ViewWeight is the event weight a session click (a view) gets, from
	// the trainer's event weights; 1 when the weights have no view type.
	ViewWeight float64
	// YtY is the Dims×Dims Gram matrix, row-major, of the item factors the
	// snapshot serves, summed in float64 from their float32 values (see
	// ItemGram). From Snapshot.FoldIn it aliases the mapping.
	YtY []float64
}

// RegFor returns the trainer's penalty λ_u for a user whose interactions'
// weights (the aggregated cell weights the trainer sees, e.g. 1 for a
// view) sum to weightSum, exactly as training/als.go applies it:
//
//	λ_u = float32(Lambda · ((RegItems + Alpha·weightSum) / RegMeanWeight)^RegExponent)
//
// and Lambda itself when RegExponent is 0. (The penalty depends on the
// users' total weight, not on their number of interactions.)
func (f FoldIn) RegFor(weightSum float64) float64 {
	if f.RegExponent == 0 || f.RegMeanWeight <= 0 {
		return f.Lambda
	}
	v := f.RegItems + f.Alpha*weightSum
	return float64(float32(f.Lambda * math.Pow(v/f.RegMeanWeight, f.RegExponent)))
}

// Validate reports whether f can be stored.
func (f FoldIn) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case f.Dims <= 0 || f.Dims > 1<<16:
		return fmt.Errorf("fold-in dims %d, want 1..%d", f.Dims, 1<<16)
	case len(f.YtY) != f.Dims*f.Dims:
		return fmt.Errorf("fold-in YᵀY has %d entries for %d dims", len(f.YtY), f.Dims)
	case !finite(f.Alpha) || f.Alpha < 0, !finite(f.Lambda) || f.Lambda < 0, !finite(f.RegExponent) || f.RegExponent < 0,
		!finite(f.RegItems) || f.RegItems < 0, !finite(f.RegMeanWeight) || f.RegMeanWeight < 0,
		!finite(f.ViewWeight) || f.ViewWeight < 0:
		return fmt.Errorf("fold-in parameters out of range: alpha %v, lambda %v, exponent %v, items %v, mean weight %v, view weight %v",
			f.Alpha, f.Lambda, f.RegExponent, f.RegItems, f.RegMeanWeight, f.ViewWeight)
	}
	for _, v := range f.YtY {
		if !finite(v) {
			return errors.New("fold-in YᵀY is not finite")
		}
	}
	return nil
}

// ItemGram returns YᵀY, row-major dims×dims, of the row-major float32
// factors data, each product and sum in float64 in row order, so the same
// factors always give the same bits.
func ItemGram(dims int, data []float32) []float64 {
	return gram(len(data)/dims, dims, func(r int) []float32 { return data[r*dims : r*dims+dims] })
}

// matrixGram is ItemGram of a mapped matrix.
func matrixGram(m Matrix) []float64 { return gram(m.Rows, m.Dims, m.Row) }

func gram(rows, dims int, rowOf func(int) []float32) []float64 {
	g := make([]float64, dims*dims)
	row := make([]float64, dims)
	for r := range rows {
		for d, v := range rowOf(r) {
			row[d] = float64(v)
		}
		for a := range dims {
			ya := row[a]
			if ya == 0 {
				continue
			}
			ga := g[a*dims : a*dims+dims]
			for b := a; b < dims; b++ {
				ga[b] += ya * row[b]
			}
		}
	}
	for a := range dims {
		for b := a + 1; b < dims; b++ {
			g[b*dims+a] = g[a*dims+b]
		}
	}
	return g
}

// SetFoldIn writes the fold-in parameters as foldin.bin. f.YtY must be the
// Gram matrix of the item factors (ItemGram of the data given to
// SetItemFactors); Verify recomputes it. Call it after SetItemFactors.
func (b *Builder) SetFoldIn(f FoldIn) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setFoldIn(f); err != nil {
		return fmt.Errorf("set fold-in parameters of %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) setFoldIn(f FoldIn) error {
	if b.itemFactors == nil {
		return errors.New("item factors must be set first")
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if f.Dims != int(b.itemFactors.Dims) {
		return fmt.Errorf("fold-in of %d dims, item factors have %d", f.Dims, b.itemFactors.Dims)
	}
	data := encodeFoldIn(f)
	return b.addOwnFile(FoldInFile, "", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func encodeFoldIn(f FoldIn) []byte {
	out := make([]byte, foldInHeaderSize+8*len(f.YtY))
	for i, v := range f.YtY {
		binary.LittleEndian.PutUint64(out[foldInHeaderSize+8*i:], math.Float64bits(v))
	}
	h := out[:foldInHeaderSize]
	copy(h[0:8], foldInMagic[:])
	binary.LittleEndian.PutUint32(h[8:12], foldInFormatVersion)
	binary.LittleEndian.PutUint32(h[12:16], uint32(f.Dims))
	for i, v := range []float64{f.Alpha, f.Lambda, f.RegExponent, f.RegItems, f.RegMeanWeight, f.ViewWeight} {
		binary.LittleEndian.PutUint64(h[16+8*i:], math.Float64bits(v))
	}
	binary.LittleEndian.PutUint32(h[64:68], crc32.Checksum(out[foldInHeaderSize:], castagnoli))
	binary.LittleEndian.PutUint32(h[68:72], crc32.Checksum(h[0:68], castagnoli))
	return out
}

// parseFoldIn checks a fold-in file (and its payload CRC if verify) and
// returns its parameters, YtY aliasing data (which must be 8-byte
// aligned).
func parseFoldIn(data []byte, verify bool) (FoldIn, error) {
	var f FoldIn
	if len(data) < foldInHeaderSize {
		return f, fmt.Errorf("%w: truncated header: %d bytes, want %d", ErrCorrupt, len(data), foldInHeaderSize)
	}
	h := data[:foldInHeaderSize]
	if [8]byte(h[0:8]) != foldInMagic {
		return f, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, h[0:8], foldInMagic[:])
	}
	if v := binary.LittleEndian.Uint32(h[8:12]); v > foldInFormatVersion {
		return f, fmt.Errorf("%w: fold-in format version %d, this build reads up to %d", ErrFormat, v, foldInFormatVersion)
	} else if v == 0 {
		return f, fmt.Errorf("%w: fold-in format version 0", ErrCorrupt)
	}
	if got, want := crc32.Checksum(h[0:68], castagnoli), binary.LittleEndian.Uint32(h[68:72]); got != want {
		return f, fmt.Errorf("%w: header checksum mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	for _, c := range h[72:] {
		if c != 0 {
			return f, fmt.Errorf("%w: non-zero reserved header bytes", ErrCorrupt)
		}
	}
	dims := uint64(binary.LittleEndian.Uint32(h[12:16]))
	if dims == 0 || dims > 1<<16 || uint64(len(data)) != foldInHeaderSize+8*dims*dims {
		return f, fmt.Errorf("%w: fold-in of %d dims in %d bytes", ErrCorrupt, dims, len(data))
	}
	if verify {
		if got, want := crc32.Checksum(data[foldInHeaderSize:], castagnoli), binary.LittleEndian.Uint32(h[64:68]); got != want {
			return f, fmt.Errorf("%w: payload checksum mismatch: computed %08x, header says %08x", ErrCorrupt, got, want)
		}
	}
	if uintptr(unsafe.Pointer(&data[0]))%8 != 0 {
		return f, errors.New("fold-in file not 8-byte aligned")
	}
	f.Dims = int(dims)
	vals := []*float64{&f.Alpha, &f.Lambda, &f.RegExponent, &f.RegItems, &f.RegMeanWeight, &f.ViewWeight}
	for i, p := range vals {
		*p = math.Float64frombits(binary.LittleEndian.Uint64(h[16+8*i:]))
	}
	f.YtY = castF64(data[foldInHeaderSize:])
	if err := f.Validate(); err != nil {
		return FoldIn{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return f, nil
}
