//go:build amd64 && !purego

#include "textflag.h"

// func indexAboveAVX2(s *float32, n int, floor float32) int
//
// Compares 16 floats per iteration with floor (ordered, so NaN is never
// above) and stops at the first group holding one above it.
TEXT ·indexAboveAVX2(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), SI
	MOVQ n+8(FP), BX
	VBROADCASTSS floor+16(FP), Y0
	XORQ AX, AX

above_loop:
	VCMPPS    $0x11, (SI)(AX*4), Y0, Y1   // _CMP_LT_OQ: floor < s[i:i+8]
	VCMPPS    $0x11, 32(SI)(AX*4), Y0, Y2 // floor < s[i+8:i+16]
	VORPS     Y2, Y1, Y3
	VMOVMSKPS Y3, DX
	TESTL     DX, DX
	JNZ       above_found
	ADDQ      $16, AX
	CMPQ      AX, BX
	JLT       above_loop

	MOVQ BX, ret+24(FP)
	VZEROUPPER
	RET

above_found:
	VMOVMSKPS Y1, DX
	VMOVMSKPS Y2, CX
	SHLL      $8, CX
	ORL       CX, DX
	BSFL      DX, DX
	ADDQ      DX, AX
	MOVQ      AX, ret+24(FP)
	VZEROUPPER
	RET
