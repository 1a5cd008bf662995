//go:build amd64 && !purego

#include "textflag.h"

// Register use in both kernels:
//   DI  dst          BX  rows left      SI  row 0 of the current block
//   R8  stride bytes R12 row 1          R13 row 2          R14 row 3
//   DX  q            R9  tail floats    R10 bytes of whole vectors per row
//   AX  byte offset within a row        R11 3*stride bytes

// func scoresAVX512(dst *float32, n int, data *float32, stride int, q *float32, d int)
TEXT ·scoresAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ data+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R9

	SHLQ $2, R8
	LEAQ (R8)(R8*2), R11
	MOVQ R9, R10
	ANDQ $-16, R10
	SHLQ $2, R10
	ANDQ $15, R9

	// K1 selects the R9 tail floats of a row.
	MOVQ R9, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

	CMPQ BX, $4
	JLT  avx512_one

avx512_four:
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (SI)(R11*1), R14
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX
	CMPQ AX, R10
	JGE  avx512_four_tail

avx512_four_loop:
	VMOVUPS     (DX)(AX*1), Z4
	VFMADD231PS (SI)(AX*1), Z4, Z0
	VFMADD231PS (R12)(AX*1), Z4, Z1
	VFMADD231PS (R13)(AX*1), Z4, Z2
	VFMADD231PS (R14)(AX*1), Z4, Z3
	ADDQ $64, AX
	CMPQ AX, R10
	JLT  avx512_four_loop

avx512_four_tail:
	TESTQ R9, R9
	JZ    avx512_four_sum
	VMOVUPS.Z   (DX)(AX*1), K1, Z4
	VFMADD231PS (SI)(AX*1), Z4, K1, Z0
	VFMADD231PS (R12)(AX*1), Z4, K1, Z1
	VFMADD231PS (R13)(AX*1), Z4, K1, Z2
	VFMADD231PS (R14)(AX*1), Z4, K1, Z3

avx512_four_sum:
	// Transpose-and-add so each 128-bit lane holds partial sums of rows
	// 0..3 in order, then add the four lanes.
	VUNPCKLPS Z1, Z0, Z5
	VUNPCKHPS Z1, Z0, Z6
	VADDPS    Z6, Z5, Z5
	VUNPCKLPS Z3, Z2, Z6
	VUNPCKHPS Z3, Z2, Z7
	VADDPS    Z7, Z6, Z6
	VUNPCKLPD Z6, Z5, Z7
	VUNPCKHPD Z6, Z5, Z8
	VADDPS    Z8, Z7, Z7
	VEXTRACTF64X4 $1, Z7, Y8
	VADDPS    Y8, Y7, Y7
	VEXTRACTF128 $1, Y7, X8
	VADDPS    X8, X7, X7
	VMOVUPS   X7, (DI)

	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, BX
	CMPQ BX, $4
	JGE  avx512_four

avx512_one:
	TESTQ BX, BX
	JZ    avx512_done

avx512_one_row:
	VPXORD Z0, Z0, Z0
	XORQ AX, AX
	CMPQ AX, R10
	JGE  avx512_one_tail

avx512_one_loop:
	VMOVUPS     (DX)(AX*1), Z4
	VFMADD231PS (SI)(AX*1), Z4, Z0
	ADDQ $64, AX
	CMPQ AX, R10
	JLT  avx512_one_loop

avx512_one_tail:
	TESTQ R9, R9
	JZ    avx512_one_sum
	VMOVUPS.Z   (DX)(AX*1), K1, Z4
	VFMADD231PS (SI)(AX*1), Z4, K1, Z0

avx512_one_sum:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS  Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS  X0, (DI)

	ADDQ $4, DI
	ADDQ R8, SI
	DECQ BX
	JNZ  avx512_one_row

avx512_done:
	VZEROUPPER
	RET

// tailmask<>+(8-t)*4 holds a VMASKMOVPS mask selecting the first t of 8 floats.
DATA tailmask<>+0(SB)/8, $0xffffffffffffffff
DATA tailmask<>+8(SB)/8, $0xffffffffffffffff
DATA tailmask<>+16(SB)/8, $0xffffffffffffffff
DATA tailmask<>+24(SB)/8, $0xffffffffffffffff
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// func scoresAVX2(dst *float32, n int, data *float32, stride int, q *float32, d int)
TEXT ·scoresAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ data+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R9

	SHLQ $2, R8
	LEAQ (R8)(R8*2), R11
	MOVQ R9, R10
	ANDQ $-8, R10
	SHLQ $2, R10
	ANDQ $7, R9

	// Y15 selects the R9 tail floats of a row.
	MOVQ $8, AX
	SUBQ R9, AX
	LEAQ tailmask<>(SB), CX
	VMOVDQU (CX)(AX*4), Y15

	CMPQ BX, $4
	JLT  avx2_one

avx2_four:
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (SI)(R11*1), R14
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX
	CMPQ AX, R10
	JGE  avx2_four_tail

avx2_four_loop:
	VMOVUPS     (DX)(AX*1), Y4
	VFMADD231PS (SI)(AX*1), Y4, Y0
	VFMADD231PS (R12)(AX*1), Y4, Y1
	VFMADD231PS (R13)(AX*1), Y4, Y2
	VFMADD231PS (R14)(AX*1), Y4, Y3
	ADDQ $32, AX
	CMPQ AX, R10
	JLT  avx2_four_loop

avx2_four_tail:
	TESTQ R9, R9
	JZ    avx2_four_sum
	VMASKMOVPS  (DX)(AX*1), Y15, Y4
	VMASKMOVPS  (SI)(AX*1), Y15, Y5
	VMASKMOVPS  (R12)(AX*1), Y15, Y6
	VMASKMOVPS  (R13)(AX*1), Y15, Y7
	VMASKMOVPS  (R14)(AX*1), Y15, Y8
	VFMADD231PS Y5, Y4, Y0
	VFMADD231PS Y6, Y4, Y1
	VFMADD231PS Y7, Y4, Y2
	VFMADD231PS Y8, Y4, Y3

avx2_four_sum:
	VHADDPS Y1, Y0, Y4
	VHADDPS Y3, Y2, Y5
	VHADDPS Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS  X5, X4, X4
	VMOVUPS X4, (DI)

	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, BX
	CMPQ BX, $4
	JGE  avx2_four

avx2_one:
	TESTQ BX, BX
	JZ    avx2_done

avx2_one_row:
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
	CMPQ AX, R10
	JGE  avx2_one_tail

avx2_one_loop:
	VMOVUPS     (DX)(AX*1), Y4
	VFMADD231PS (SI)(AX*1), Y4, Y0
	ADDQ $32, AX
	CMPQ AX, R10
	JLT  avx2_one_loop

avx2_one_tail:
	TESTQ R9, R9
	JZ    avx2_one_sum
	VMASKMOVPS  (DX)(AX*1), Y15, Y4
	VMASKMOVPS  (SI)(AX*1), Y15, Y5
	VFMADD231PS Y5, Y4, Y0

avx2_one_sum:
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS  X0, (DI)

	ADDQ $4, DI
	ADDQ R8, SI
	DECQ BX
	JNZ  avx2_one_row

avx2_done:
	VZEROUPPER
	RET
