// Test-only scalar stand-ins for the AVX-512 intrinsics used by qgemm_u8s8_avx512vnni.c, so that kernel's
// logic (blocking, tails, masks, epilogue) can be run on a CPU without AVX-512. Included only when the
// self-test is built with -DCK_EMULATE_AVX512 (scripts/test-aarch64.sh); never part of the product build.
// Each function follows the semantics in Intel's intrinsics guide.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef union { int32_t i32[16]; uint8_t u8[64]; int8_t i8[64]; } __m512i;
typedef struct { float f[16]; } __m512;
typedef union { uint8_t u8[16]; int32_t i32[4]; } __m128i;
typedef uint16_t __mmask16;
#define _CMP_LT_OQ 0x11
#define _CMP_GT_OQ 0x1e

#define EMU static inline
#define EMU_LANES for (int l = 0; l < 16; l++)
#define EMU_ON(k) (((k) >> l) & 1)

EMU __m512i _mm512_setzero_si512(void) { __m512i r; memset(&r, 0, sizeof r); return r; }
EMU __m512 _mm512_setzero_ps(void) { __m512 r; EMU_LANES r.f[l] = 0.0f; return r; }
EMU __m512i _mm512_set1_epi32(int32_t x) { __m512i r; EMU_LANES r.i32[l] = x; return r; }
EMU __m512 _mm512_set1_ps(float x) { __m512 r; EMU_LANES r.f[l] = x; return r; }
EMU __m512i _mm512_loadu_si512(const void *p) { __m512i r; memcpy(&r, p, 64); return r; }
EMU __m512i _mm512_maskz_loadu_epi32(__mmask16 k, const void *p) {
    __m512i r; EMU_LANES { r.i32[l] = 0; if (EMU_ON(k)) memcpy(&r.i32[l], (const int32_t *)p + l, 4); } return r;
}
EMU __m512 _mm512_maskz_loadu_ps(__mmask16 k, const void *p) {
    __m512 r; EMU_LANES { r.f[l] = 0.0f; if (EMU_ON(k)) memcpy(&r.f[l], (const float *)p + l, 4); } return r;
}
EMU __m128i _mm_maskz_loadu_epi8(__mmask16 k, const void *p) {
    __m128i r; EMU_LANES r.u8[l] = EMU_ON(k) ? ((const uint8_t *)p)[l] : 0; return r;
}
EMU void _mm512_mask_storeu_ps(void *p, __mmask16 k, __m512 a) { EMU_LANES if (EMU_ON(k)) memcpy((float *)p + l, &a.f[l], 4); }
EMU void _mm_mask_storeu_epi8(void *p, __mmask16 k, __m128i a) { EMU_LANES if (EMU_ON(k)) ((uint8_t *)p)[l] = a.u8[l]; }
EMU __m512i _mm512_add_epi32(__m512i a, __m512i b) { EMU_LANES a.i32[l] = (int32_t)((uint32_t)a.i32[l] + (uint32_t)b.i32[l]); return a; }
EMU __m512i _mm512_sub_epi32(__m512i a, __m512i b) { EMU_LANES a.i32[l] = (int32_t)((uint32_t)a.i32[l] - (uint32_t)b.i32[l]); return a; }
EMU __m512i _mm512_mullo_epi32(__m512i a, __m512i b) { EMU_LANES a.i32[l] = (int32_t)((uint32_t)a.i32[l] * (uint32_t)b.i32[l]); return a; }
EMU __m512i _mm512_min_epi32(__m512i a, __m512i b) { EMU_LANES a.i32[l] = a.i32[l] < b.i32[l] ? a.i32[l] : b.i32[l]; return a; }
EMU __m512i _mm512_max_epi32(__m512i a, __m512i b) { EMU_LANES a.i32[l] = a.i32[l] > b.i32[l] ? a.i32[l] : b.i32[l]; return a; }
EMU __m512 _mm512_add_ps(__m512 a, __m512 b) { EMU_LANES a.f[l] = a.f[l] + b.f[l]; return a; }
EMU __m512 _mm512_mul_ps(__m512 a, __m512 b) { EMU_LANES a.f[l] = a.f[l] * b.f[l]; return a; }
EMU __m512 _mm512_cvtepi32_ps(__m512i a) { __m512 r; EMU_LANES r.f[l] = (float)a.i32[l]; return r; }
// Current rounding mode (nearest-even by default); out of range and NaN give the "integer indefinite" 0x80000000.
EMU __m512i _mm512_cvtps_epi32(__m512 a) {
    __m512i r;
    EMU_LANES r.i32[l] = (a.f[l] >= -2147483648.0f && a.f[l] < 2147483648.0f) ? (int32_t)rintf(a.f[l]) : INT32_MIN;
    return r;
}
EMU __m512i _mm512_cvtepu8_epi32(__m128i a) { __m512i r; EMU_LANES r.i32[l] = a.u8[l]; return r; }
EMU __m128i _mm512_cvtepi32_epi8(__m512i a) { __m128i r; EMU_LANES r.u8[l] = (uint8_t)a.i32[l]; return r; }
EMU __mmask16 _mm512_cmp_ps_mask(__m512 a, __m512 b, const int predicate) {
    __mmask16 k = 0;
    EMU_LANES {
        const int on = predicate == _CMP_GT_OQ ? a.f[l] > b.f[l] : predicate == _CMP_LT_OQ ? a.f[l] < b.f[l] : 0;
        k |= (__mmask16)(on << l);
    }
    return k;
}
EMU __m512 _mm512_mask_blend_ps(__mmask16 k, __m512 a, __m512 b) { EMU_LANES a.f[l] = EMU_ON(k) ? b.f[l] : a.f[l]; return a; }
EMU __m512 _mm512_maskz_mov_ps(__mmask16 k, __m512 a) { EMU_LANES a.f[l] = EMU_ON(k) ? a.f[l] : 0.0f; return a; }
// vpdpbusd: each int32 lane += sum of 4 products unsigned byte of a x signed byte of b, no saturation.
EMU __m512i _mm512_dpbusd_epi32(__m512i src, __m512i a, __m512i b) {
    EMU_LANES {
        int32_t sum = 0;
        for (int j = 0; j < 4; j++) sum += (int32_t)a.u8[4 * l + j] * (int32_t)b.i8[4 * l + j];
        src.i32[l] = (int32_t)((uint32_t)src.i32[l] + (uint32_t)sum);
    }
    return src;
}
