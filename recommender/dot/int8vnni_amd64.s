//go:build amd64 && !purego

#include "textflag.h"

// scoresInt8VNNI scores 16 rows per block with VPDPBUSD, which multiplies
// unsigned bytes by signed bytes and adds each group of four products to an
// int32 lane. A row byte r is made unsigned as r XOR 0x80 = r+128, so a
// block accumulates <row, q> + 128*sum(q); sum(q) is computed once per call
// (VPDPBUSD of 0x01 bytes with q) and subtracted after the reduction. The
// int32 arithmetic wraps, so the difference is exact whatever the bias.
// Zero padding adds nothing because q is zero there.
//
// Register use:
//   DI  dst          BX  rows left      SI  row 0 of the block (rows 0-3)
//   R12 row 4        R13 row 8          R14 row 12
//   R8  stride       R11 3*stride       DX  q (advanced within a block)
//   R10 width w      R9  w rounded down to 64   CX  scales
//   Z0-Z15 the 16 rows' accumulators    Z16 64 bytes of q (for w == 32,
//          q in both halves)
//   Z17-Z27 scratch  Z28 128*sum(q) in every lane
//   Z29 0x01 bytes   Z30 0x80 bytes     Z31 qScale in every lane
// A block steps through the row 64 bytes at a time, then 32 bytes with YMM
// loads if w%64 == 32 (the upper half of both operands is zero). The 16
// accumulators are reduced together by a transpose tree (dword, qword,
// then 128-bit lane shuffles), so the block's 16 sums come out in row order
// in one ZMM, converted and scaled by one VCVTDQ2PS and two VMULPS, in the
// same order as the Go loop: float32(s)*scales[i], then *qScale. Rows of
// width 32 take a path of their own (vnni32_block) that packs two rows in
// a ZMM and needs half the accumulators and reduction steps. Both block
// loops prefetch 1 KiB ahead of the rows they read, which measurably helps
// when the rows stream from L3. The last n%16 rows are scored one at a
// time.

// func scoresInt8VNNI(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)
TEXT ·scoresInt8VNNI(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ rows+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ q+32(FP), DX
	MOVQ w+40(FP), R10
	MOVQ scales+48(FP), CX
	VBROADCASTSS qScale+56(FP), Z31
	LEAQ (R8)(R8*2), R11
	MOVQ R10, R9
	ANDQ $~63, R9
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z30
	MOVL $0x01010101, AX
	VPBROADCASTD AX, Z29

	// Z28 = 128*sum(q) in every lane.
	VPXORD Z28, Z28, Z28
	XORQ AX, AX
	TESTQ R9, R9
	JZ    vnni_sum_tail

vnni_sum_loop:
	VPDPBUSD (DX)(AX*1), Z29, Z28
	ADDQ $64, AX
	CMPQ AX, R9
	JLT  vnni_sum_loop

vnni_sum_tail:
	TESTQ $32, R10
	JZ    vnni_sum_done
	VMOVDQU64 (DX)(AX*1), Y27
	VPDPBUSD Z27, Z29, Z28

vnni_sum_done:
	VEXTRACTI64X4 $1, Z28, Y27
	VPADDD Y27, Y28, Y28
	VEXTRACTI32X4 $1, Y28, X27
	VPADDD X27, X28, X28
	VPSHUFD $0x4E, X28, X27
	VPADDD X27, X28, X28
	VPSHUFD $0xB1, X28, X27
	VPADDD X27, X28, X28
	VPSLLD $7, X28, X28
	VPBROADCASTD X28, Z28

	CMPQ BX, $16
	JLT  vnni_one
	CMPQ R10, $32
	JNE  vnni_block
	VBROADCASTI64X4 (DX), Z16
	JMP  vnni32_block

vnni_block:
	LEAQ (SI)(R8*4), R12
	LEAQ (R12)(R8*4), R13
	LEAQ (R13)(R8*4), R14
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ R9, AX
	TESTQ AX, AX
	JZ    vnni_block_tail

vnni_block_loop:
	// Prefetch 1 KiB ahead of each row: for 64-byte rows, the same row
	// of the next block.
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R8*1)
	PREFETCHT0 1024(SI)(R8*2)
	PREFETCHT0 1024(SI)(R11*1)
	PREFETCHT0 1024(R12)
	PREFETCHT0 1024(R12)(R8*1)
	PREFETCHT0 1024(R12)(R8*2)
	PREFETCHT0 1024(R12)(R11*1)
	PREFETCHT0 1024(R13)
	PREFETCHT0 1024(R13)(R8*1)
	PREFETCHT0 1024(R13)(R8*2)
	PREFETCHT0 1024(R13)(R11*1)
	PREFETCHT0 1024(R14)
	PREFETCHT0 1024(R14)(R8*1)
	PREFETCHT0 1024(R14)(R8*2)
	PREFETCHT0 1024(R14)(R11*1)
	VMOVDQU64 (DX), Z16
	VPXORD (SI), Z30, Z17
	VPXORD (SI)(R8*1), Z30, Z18
	VPXORD (SI)(R8*2), Z30, Z19
	VPXORD (SI)(R11*1), Z30, Z20
	VPDPBUSD Z16, Z17, Z0
	VPDPBUSD Z16, Z18, Z1
	VPDPBUSD Z16, Z19, Z2
	VPDPBUSD Z16, Z20, Z3
	VPXORD (R12), Z30, Z21
	VPXORD (R12)(R8*1), Z30, Z22
	VPXORD (R12)(R8*2), Z30, Z23
	VPXORD (R12)(R11*1), Z30, Z24
	VPDPBUSD Z16, Z21, Z4
	VPDPBUSD Z16, Z22, Z5
	VPDPBUSD Z16, Z23, Z6
	VPDPBUSD Z16, Z24, Z7
	VPXORD (R13), Z30, Z17
	VPXORD (R13)(R8*1), Z30, Z18
	VPXORD (R13)(R8*2), Z30, Z19
	VPXORD (R13)(R11*1), Z30, Z20
	VPDPBUSD Z16, Z17, Z8
	VPDPBUSD Z16, Z18, Z9
	VPDPBUSD Z16, Z19, Z10
	VPDPBUSD Z16, Z20, Z11
	VPXORD (R14), Z30, Z21
	VPXORD (R14)(R8*1), Z30, Z22
	VPXORD (R14)(R8*2), Z30, Z23
	VPXORD (R14)(R11*1), Z30, Z24
	VPDPBUSD Z16, Z21, Z12
	VPDPBUSD Z16, Z22, Z13
	VPDPBUSD Z16, Z23, Z14
	VPDPBUSD Z16, Z24, Z15
	ADDQ $64, SI
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, R14
	ADDQ $64, DX
	SUBQ $64, AX
	JNZ  vnni_block_loop

vnni_block_tail:
	TESTQ $32, R10
	JZ    vnni_block_reduce
	VMOVDQU64 (DX), Y16 // zeroes the upper half of Z16
	VPXORD (SI), Y30, Y17
	VPXORD (SI)(R8*1), Y30, Y18
	VPXORD (SI)(R8*2), Y30, Y19
	VPXORD (SI)(R11*1), Y30, Y20
	VPDPBUSD Z16, Z17, Z0
	VPDPBUSD Z16, Z18, Z1
	VPDPBUSD Z16, Z19, Z2
	VPDPBUSD Z16, Z20, Z3
	VPXORD (R12), Y30, Y21
	VPXORD (R12)(R8*1), Y30, Y22
	VPXORD (R12)(R8*2), Y30, Y23
	VPXORD (R12)(R11*1), Y30, Y24
	VPDPBUSD Z16, Z21, Z4
	VPDPBUSD Z16, Z22, Z5
	VPDPBUSD Z16, Z23, Z6
	VPDPBUSD Z16, Z24, Z7
	VPXORD (R13), Y30, Y17
	VPXORD (R13)(R8*1), Y30, Y18
	VPXORD (R13)(R8*2), Y30, Y19
	VPXORD (R13)(R11*1), Y30, Y20
	VPDPBUSD Z16, Z17, Z8
	VPDPBUSD Z16, Z18, Z9
	VPDPBUSD Z16, Z19, Z10
	VPDPBUSD Z16, Z20, Z11
	VPXORD (R14), Y30, Y21
	VPXORD (R14)(R8*1), Y30, Y22
	VPXORD (R14)(R8*2), Y30, Y23
	VPXORD (R14)(R11*1), Y30, Y24
	VPDPBUSD Z16, Z21, Z12
	VPDPBUSD Z16, Z22, Z13
	VPDPBUSD Z16, Z23, Z14
	VPDPBUSD Z16, Z24, Z15
	ADDQ $32, R14
	ADDQ $32, DX

vnni_block_reduce:
	// R14 and DX have advanced by w bytes: rewind q and move SI to the
	// next block's first row.
	SUBQ R10, DX
	LEAQ (R14)(R8*4), SI
	SUBQ R10, SI
	VPUNPCKLDQ Z1, Z0, Z16
	VPUNPCKHDQ Z1, Z0, Z24
	VPADDD Z24, Z16, Z16
	VPUNPCKLDQ Z3, Z2, Z17
	VPUNPCKHDQ Z3, Z2, Z25
	VPADDD Z25, Z17, Z17
	VPUNPCKLDQ Z5, Z4, Z18
	VPUNPCKHDQ Z5, Z4, Z26
	VPADDD Z26, Z18, Z18
	VPUNPCKLDQ Z7, Z6, Z19
	VPUNPCKHDQ Z7, Z6, Z27
	VPADDD Z27, Z19, Z19
	VPUNPCKLDQ Z9, Z8, Z20
	VPUNPCKHDQ Z9, Z8, Z24
	VPADDD Z24, Z20, Z20
	VPUNPCKLDQ Z11, Z10, Z21
	VPUNPCKHDQ Z11, Z10, Z25
	VPADDD Z25, Z21, Z21
	VPUNPCKLDQ Z13, Z12, Z22
	VPUNPCKHDQ Z13, Z12, Z26
	VPADDD Z26, Z22, Z22
	VPUNPCKLDQ Z15, Z14, Z23
	VPUNPCKHDQ Z15, Z14, Z27
	VPADDD Z27, Z23, Z23
	VPUNPCKLQDQ Z17, Z16, Z0
	VPUNPCKHQDQ Z17, Z16, Z24
	VPADDD Z24, Z0, Z0
	VPUNPCKLQDQ Z19, Z18, Z1
	VPUNPCKHQDQ Z19, Z18, Z25
	VPADDD Z25, Z1, Z1
	VPUNPCKLQDQ Z21, Z20, Z2
	VPUNPCKHQDQ Z21, Z20, Z26
	VPADDD Z26, Z2, Z2
	VPUNPCKLQDQ Z23, Z22, Z3
	VPUNPCKHQDQ Z23, Z22, Z27
	VPADDD Z27, Z3, Z3
	VSHUFI32X4 $0x88, Z1, Z0, Z4
	VSHUFI32X4 $0xDD, Z1, Z0, Z24
	VPADDD Z24, Z4, Z4
	VSHUFI32X4 $0x88, Z3, Z2, Z6
	VSHUFI32X4 $0xDD, Z3, Z2, Z25
	VPADDD Z25, Z6, Z6
	VSHUFI32X4 $0x88, Z6, Z4, Z0
	VSHUFI32X4 $0xDD, Z6, Z4, Z1
	VPADDD Z1, Z0, Z0
	VPSUBD    Z28, Z0, Z0
	VCVTDQ2PS Z0, Z0
	VMULPS    (CX), Z0, Z0
	VMULPS    Z31, Z0, Z0
	VMOVUPS   Z0, (DI)

	ADDQ $64, DI
	ADDQ $64, CX
	SUBQ $16, BX
	CMPQ BX, $16
	JGE  vnni_block
	JMP  vnni_one

// w == 32: two rows per ZMM against q in both halves, so 8 accumulators
// hold 16 rows. Accumulator a holds row 8*(a/4)+a%4 in its low half and
// the row 4 after it in its high half, which makes the three-level
// transpose tree below leave the 16 sums in row order.
vnni32_block:
	LEAQ (SI)(R8*4), R12
	LEAQ (R12)(R8*4), R13
	LEAQ (R13)(R8*4), R14
	// Prefetch the block after next when rows are 32 bytes apart (rows
	// 0, 2, 4, ... each start a 64-byte line).
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R8*2)
	PREFETCHT0 1024(R12)
	PREFETCHT0 1024(R12)(R8*2)
	PREFETCHT0 1024(R13)
	PREFETCHT0 1024(R13)(R8*2)
	PREFETCHT0 1024(R14)
	PREFETCHT0 1024(R14)(R8*2)
	VMOVDQU64 (SI), Y17
	VINSERTI64X4 $1, (R12), Z17, Z17
	VPXORD Z30, Z17, Z17
	VPXORD Z0, Z0, Z0
	VPDPBUSD Z16, Z17, Z0
	VMOVDQU64 (SI)(R8*1), Y18
	VINSERTI64X4 $1, (R12)(R8*1), Z18, Z18
	VPXORD Z30, Z18, Z18
	VPXORD Z1, Z1, Z1
	VPDPBUSD Z16, Z18, Z1
	VMOVDQU64 (SI)(R8*2), Y19
	VINSERTI64X4 $1, (R12)(R8*2), Z19, Z19
	VPXORD Z30, Z19, Z19
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z16, Z19, Z2
	VMOVDQU64 (SI)(R11*1), Y20
	VINSERTI64X4 $1, (R12)(R11*1), Z20, Z20
	VPXORD Z30, Z20, Z20
	VPXORD Z3, Z3, Z3
	VPDPBUSD Z16, Z20, Z3
	VMOVDQU64 (R13), Y21
	VINSERTI64X4 $1, (R14), Z21, Z21
	VPXORD Z30, Z21, Z21
	VPXORD Z4, Z4, Z4
	VPDPBUSD Z16, Z21, Z4
	VMOVDQU64 (R13)(R8*1), Y22
	VINSERTI64X4 $1, (R14)(R8*1), Z22, Z22
	VPXORD Z30, Z22, Z22
	VPXORD Z5, Z5, Z5
	VPDPBUSD Z16, Z22, Z5
	VMOVDQU64 (R13)(R8*2), Y23
	VINSERTI64X4 $1, (R14)(R8*2), Z23, Z23
	VPXORD Z30, Z23, Z23
	VPXORD Z6, Z6, Z6
	VPDPBUSD Z16, Z23, Z6
	VMOVDQU64 (R13)(R11*1), Y24
	VINSERTI64X4 $1, (R14)(R11*1), Z24, Z24
	VPXORD Z30, Z24, Z24
	VPXORD Z7, Z7, Z7
	VPDPBUSD Z16, Z24, Z7
	VPUNPCKLDQ Z1, Z0, Z8
	VPUNPCKHDQ Z1, Z0, Z24
	VPADDD Z24, Z8, Z8
	VPUNPCKLDQ Z3, Z2, Z9
	VPUNPCKHDQ Z3, Z2, Z25
	VPADDD Z25, Z9, Z9
	VPUNPCKLDQ Z5, Z4, Z10
	VPUNPCKHDQ Z5, Z4, Z26
	VPADDD Z26, Z10, Z10
	VPUNPCKLDQ Z7, Z6, Z11
	VPUNPCKHDQ Z7, Z6, Z27
	VPADDD Z27, Z11, Z11
	VPUNPCKLQDQ Z9, Z8, Z12
	VPUNPCKHQDQ Z9, Z8, Z24
	VPADDD Z24, Z12, Z12
	VPUNPCKLQDQ Z11, Z10, Z13
	VPUNPCKHQDQ Z11, Z10, Z25
	VPADDD Z25, Z13, Z13
	VSHUFI32X4 $0x88, Z13, Z12, Z0
	VSHUFI32X4 $0xDD, Z13, Z12, Z1
	VPADDD Z1, Z0, Z0
	VPSUBD    Z28, Z0, Z0
	VCVTDQ2PS Z0, Z0
	VMULPS    (CX), Z0, Z0
	VMULPS    Z31, Z0, Z0
	VMOVUPS   Z0, (DI)

	LEAQ (R14)(R8*4), SI
	ADDQ $64, DI
	ADDQ $64, CX
	SUBQ $16, BX
	CMPQ BX, $16
	JGE  vnni32_block
	JMP  vnni_one

vnni_one:
	TESTQ BX, BX
	JZ    vnni_done

vnni_one_row:
	VPXORD Z0, Z0, Z0
	MOVQ SI, R12
	MOVQ DX, R13
	MOVQ R9, AX
	TESTQ AX, AX
	JZ    vnni_one_tail

vnni_one_loop:
	VPXORD   (R12), Z30, Z17
	VPDPBUSD (R13), Z17, Z0
	ADDQ $64, R12
	ADDQ $64, R13
	SUBQ $64, AX
	JNZ  vnni_one_loop

vnni_one_tail:
	TESTQ $32, R10
	JZ    vnni_one_reduce
	VPXORD    (R12), Y30, Y17
	VMOVDQU64 (R13), Y16
	VPDPBUSD  Z16, Z17, Z0

vnni_one_reduce:
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD    Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD    X1, X0, X0
	VPSHUFD   $0x4E, X0, X1
	VPADDD    X1, X0, X0
	VPSHUFD   $0xB1, X0, X1
	VPADDD    X1, X0, X0
	VPSUBD    X28, X0, X0
	VCVTDQ2PS X0, X0
	VMULSS    (CX), X0, X0
	VMULSS    X31, X0, X0
	VMOVSS    X0, (DI)

	ADDQ $4, DI
	ADDQ $4, CX
	ADDQ R8, SI
	DECQ BX
	JNZ  vnni_one_row

vnni_done:
	VZEROUPPER
	RET
