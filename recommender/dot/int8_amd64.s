//go:build amd64 && !purego

#include "textflag.h"

// Register use in both kernels:
//   DI  dst          BX  rows left      SI  row 0 of the current block
//   R8  stride bytes R12 row 1          R13 row 2          R14 row 3
//   DX  q            R10 width w        CX  scales         X9  qScale x4
//   AX  byte offset within a row        R11 3*stride
// Each step sign-extends int8 to int16 and multiplies-and-adds pairs into
// int32 lanes (VPMADDWD); the sums are exact.

// func scoresInt8AVX512(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)
TEXT ·scoresInt8AVX512(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ rows+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ q+32(FP), DX
	MOVQ w+40(FP), R10
	MOVQ scales+48(FP), CX
	VBROADCASTSS qScale+56(FP), X9
	LEAQ (R8)(R8*2), R11

	CMPQ BX, $4
	JLT  i8avx512_one

i8avx512_four:
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (SI)(R11*1), R14
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX

i8avx512_four_loop:
	VPMOVSXBW (DX)(AX*1), Z4
	VPMOVSXBW (SI)(AX*1), Z5
	VPMOVSXBW (R12)(AX*1), Z6
	VPMOVSXBW (R13)(AX*1), Z7
	VPMOVSXBW (R14)(AX*1), Z8
	VPMADDWD  Z5, Z4, Z5
	VPMADDWD  Z6, Z4, Z6
	VPMADDWD  Z7, Z4, Z7
	VPMADDWD  Z8, Z4, Z8
	VPADDD    Z5, Z0, Z0
	VPADDD    Z6, Z1, Z1
	VPADDD    Z7, Z2, Z2
	VPADDD    Z8, Z3, Z3
	ADDQ $32, AX
	CMPQ AX, R10
	JLT  i8avx512_four_loop

	// Transpose-and-add so each 128-bit lane holds partial sums of rows
	// 0..3 in order, then add the four lanes.
	VPUNPCKLDQ  Z1, Z0, Z5
	VPUNPCKHDQ  Z1, Z0, Z6
	VPADDD      Z6, Z5, Z5
	VPUNPCKLDQ  Z3, Z2, Z6
	VPUNPCKHDQ  Z3, Z2, Z7
	VPADDD      Z7, Z6, Z6
	VPUNPCKLQDQ Z6, Z5, Z7
	VPUNPCKHQDQ Z6, Z5, Z8
	VPADDD      Z8, Z7, Z7
	VEXTRACTI64X4 $1, Z7, Y8
	VPADDD      Y8, Y7, Y7
	VEXTRACTI128 $1, Y7, X8
	VPADDD      X8, X7, X7
	VCVTDQ2PS   X7, X7
	VMULPS      (CX), X7, X7
	VMULPS      X9, X7, X7
	VMOVUPS     X7, (DI)

	ADDQ $16, DI
	ADDQ $16, CX
	LEAQ (SI)(R8*4), SI
	SUBQ $4, BX
	CMPQ BX, $4
	JGE  i8avx512_four

i8avx512_one:
	TESTQ BX, BX
	JZ    i8avx512_done

i8avx512_one_row:
	VPXORD Z0, Z0, Z0
	XORQ AX, AX

i8avx512_one_loop:
	VPMOVSXBW (DX)(AX*1), Z4
	VPMOVSXBW (SI)(AX*1), Z5
	VPMADDWD  Z5, Z4, Z5
	VPADDD    Z5, Z0, Z0
	ADDQ $32, AX
	CMPQ AX, R10
	JLT  i8avx512_one_loop

	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD    Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD    X1, X0, X0
	VPHADDD   X0, X0, X0
	VPHADDD   X0, X0, X0
	VCVTDQ2PS X0, X0
	VMULSS    (CX), X0, X0
	VMULSS    X9, X0, X0
	VMOVSS    X0, (DI)

	ADDQ $4, DI
	ADDQ $4, CX
	ADDQ R8, SI
	DECQ BX
	JNZ  i8avx512_one_row

i8avx512_done:
	VZEROUPPER
	RET

// func scoresInt8AVX2(dst *float32, n int, rows *int8, stride int, q *int8, w int, scales *float32, qScale float32)
TEXT ·scoresInt8AVX2(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ rows+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ q+32(FP), DX
	MOVQ w+40(FP), R10
	MOVQ scales+48(FP), CX
	VBROADCASTSS qScale+56(FP), X9
	LEAQ (R8)(R8*2), R11

	CMPQ BX, $4
	JLT  i8avx2_one

i8avx2_four:
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (SI)(R11*1), R14
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	XORQ AX, AX

i8avx2_four_loop:
	VPMOVSXBW (DX)(AX*1), Y4
	VPMOVSXBW (SI)(AX*1), Y5
	VPMOVSXBW (R12)(AX*1), Y6
	VPMOVSXBW (R13)(AX*1), Y7
	VPMOVSXBW (R14)(AX*1), Y8
	VPMADDWD  Y5, Y4, Y5
	VPMADDWD  Y6, Y4, Y6
	VPMADDWD  Y7, Y4, Y7
	VPMADDWD  Y8, Y4, Y8
	VPADDD    Y5, Y0, Y0
	VPADDD    Y6, Y1, Y1
	VPADDD    Y7, Y2, Y2
	VPADDD    Y8, Y3, Y3
	ADDQ $16, AX
	CMPQ AX, R10
	JLT  i8avx2_four_loop

	VPHADDD Y1, Y0, Y4
	VPHADDD Y3, Y2, Y5
	VPHADDD Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD    X5, X4, X4
	VCVTDQ2PS X4, X4
	VMULPS    (CX), X4, X4
	VMULPS    X9, X4, X4
	VMOVUPS   X4, (DI)

	ADDQ $16, DI
	ADDQ $16, CX
	LEAQ (SI)(R8*4), SI
	SUBQ $4, BX
	CMPQ BX, $4
	JGE  i8avx2_four

i8avx2_one:
	TESTQ BX, BX
	JZ    i8avx2_done

i8avx2_one_row:
	VPXOR Y0, Y0, Y0
	XORQ AX, AX

i8avx2_one_loop:
	VPMOVSXBW (DX)(AX*1), Y4
	VPMOVSXBW (SI)(AX*1), Y5
	VPMADDWD  Y5, Y4, Y5
	VPADDD    Y5, Y0, Y0
	ADDQ $16, AX
	CMPQ AX, R10
	JLT  i8avx2_one_loop

	VEXTRACTI128 $1, Y0, X1
	VPADDD    X1, X0, X0
	VPHADDD   X0, X0, X0
	VPHADDD   X0, X0, X0
	VCVTDQ2PS X0, X0
	VMULSS    (CX), X0, X0
	VMULSS    X9, X0, X0
	VMOVSS    X0, (DI)

	ADDQ $4, DI
	ADDQ $4, CX
	ADDQ R8, SI
	DECQ BX
	JNZ  i8avx2_one_row

i8avx2_done:
	VZEROUPPER
	RET
