//go:build amd64 && !purego

#include "textflag.h"

// func addScaledRowsAVX2(dst *float32, n int, data *float32, stride int, coef *float32, d int)
//
// dst[0:d] += Σ_i coef[i]·data[i*stride : i*stride+d] for i in [0, n); d
// is a positive multiple of 8 and n is at least 1. Columns go 32 at a
// time in four independent accumulators (one broadcast and four FMAs a
// row), then 8 at a time.
//
//   DI dst   BX n   SI data   R8 stride bytes   DX coef   CX d bytes
//   AX column byte offset   R10 row pointer   R11 coef pointer   R12 rows left
TEXT ·addScaledRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ data+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ coef+32(FP), DX
	MOVQ d+40(FP), CX
	SHLQ $2, R8
	SHLQ $2, CX
	XORQ AX, AX

axpy_col32:
	LEAQ 128(AX), R9
	CMPQ R9, CX
	JGT  axpy_col8
	VMOVUPS (DI)(AX*1), Y0
	VMOVUPS 32(DI)(AX*1), Y1
	VMOVUPS 64(DI)(AX*1), Y2
	VMOVUPS 96(DI)(AX*1), Y3
	LEAQ (SI)(AX*1), R10
	MOVQ DX, R11
	MOVQ BX, R12

axpy_row32:
	VBROADCASTSS (R11), Y4
	VFMADD231PS  (R10), Y4, Y0
	VFMADD231PS  32(R10), Y4, Y1
	VFMADD231PS  64(R10), Y4, Y2
	VFMADD231PS  96(R10), Y4, Y3
	ADDQ R8, R10
	ADDQ $4, R11
	DECQ R12
	JNZ  axpy_row32

	VMOVUPS Y0, (DI)(AX*1)
	VMOVUPS Y1, 32(DI)(AX*1)
	VMOVUPS Y2, 64(DI)(AX*1)
	VMOVUPS Y3, 96(DI)(AX*1)
	MOVQ R9, AX
	JMP  axpy_col32

axpy_col8:
	CMPQ AX, CX
	JGE  axpy_done
	VMOVUPS (DI)(AX*1), Y0
	LEAQ (SI)(AX*1), R10
	MOVQ DX, R11
	MOVQ BX, R12

axpy_row8:
	VBROADCASTSS (R11), Y4
	VFMADD231PS  (R10), Y4, Y0
	ADDQ R8, R10
	ADDQ $4, R11
	DECQ R12
	JNZ  axpy_row8

	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	JMP  axpy_col8

axpy_done:
	VZEROUPPER
	RET
