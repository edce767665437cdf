// Private to CKernels: the packed-weight layout shared by every kernel, the scalar epilogue that defines the
// exact float steps (vector kernels repeat these steps lane by lane), and the kernel entry points.
#pragma once

#include <string.h>
#include <math.h>
#include "ckernels.h"

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// Packed weights, identical for every instruction set:
//   ck_packed_header (64 bytes)
//   int32_t column_sum[padded_n]                 sum_k B[n][k] (0 for padding columns)
//   int8_t  panels[padded_n/16][padded_k/4][16][4]
// A panel holds 16 output channels; for each group of 4 consecutive k it stores, channel after channel, the
// 4 weights of that group (k beyond K and channels beyond N are 0). One 64-byte group is one AVX-512 vector,
// two AVX2 vectors or four NEON vectors, with each 32-bit lane holding one channel's 4 weights.
#define CK_PANEL_WIDTH 16
#define CK_PACKED_MAGIC 0x43514b31u  /* "CQK1" */
// vpmaddubsw adds two u8 x s8 products in saturating int16: with A <= 255 and |B| <= 64 a pair sum stays within
// 2 * 255 * 64 = 32640 <= 32767, so it is exact. (7-bit weights, +-63, are inside.)
#define CK_MADDUBS_MAX_ABS_WEIGHT 64
// Summing two vpmaddubsw results with vpaddsw adds four u8 x s8 products in int16: with A <= 255 and |B| <= 32 the
// sum stays within 4 * 255 * 32 = 32640 <= 32767, so it is exact too. (6-bit weights, +-31, are inside.)
#define CK_MADDUBS2_MAX_ABS_WEIGHT 32

typedef struct {
    uint32_t magic;
    int32_t n, k;
    int32_t padded_n;   // N rounded up to CK_PANEL_WIDTH
    int32_t padded_k;   // K rounded up to 4
    int32_t max_abs_weight;   // max |B[n][k]|: picks the AVX2 kernel (CK_MADDUBS2_MAX_ABS_WEIGHT, CK_MADDUBS_MAX_ABS_WEIGHT)
    int32_t reserved[10];
} ck_packed_header;

static inline const ck_packed_header *ck_packed_header_of(const void *packed) {
    return (const ck_packed_header *)packed;
}
static inline const int32_t *ck_packed_column_sums(const void *packed) {
    return (const int32_t *)((const uint8_t *)packed + sizeof(ck_packed_header));
}
static inline const int8_t *ck_packed_panels(const void *packed) {
    const ck_packed_header *h = ck_packed_header_of(packed);
    return (const int8_t *)((const uint8_t *)packed + sizeof(ck_packed_header) + (size_t)h->padded_n * 4);
}

// Quantization steps shared by the epilogue and ck_quantize_u8: clamp to +-65536 first (NaN -> -65536), so the
// conversion to int never overflows and every ISA treats out-of-range values alike; then round to nearest-even.
#define CK_QUANT_LIMIT 65536.0f
static inline uint8_t ck_quantize_one(float v, float inv_scale, int32_t zero_point) {
    float t = v * inv_scale;
    t = t > -CK_QUANT_LIMIT ? t : -CK_QUANT_LIMIT;
    t = t < CK_QUANT_LIMIT ? t : CK_QUANT_LIMIT;
    int32_t q = (int32_t)rintf(t) + zero_point;
    q = q < 0 ? 0 : q;
    q = q > 255 ? 255 : q;
    return (uint8_t)q;
}

// The epilogue of one element. `corrected` is acc - a_zero_point * column_sum[n] (exact int32).
static inline void ck_epilogue_one(const ck_qgemm_args *args, int m, int n, int32_t corrected) {
    float v = (float)corrected;
    v = v * args->multiplier[n];
    v = v + (args->bias ? args->bias[n] : 0.0f);
    if (args->residual_f32) v = v + args->residual_f32[(ptrdiff_t)m * args->ld_residual + n];
    if (args->residual_u8) {
        float r = (float)((int32_t)args->residual_u8[(ptrdiff_t)m * args->ld_residual + n] - args->residual_zero_point);
        r = r * args->residual_scale;
        v = v + r;
    }
    if (args->relu) v = v > 0.0f ? v : 0.0f;
    if (args->out_f32) args->out_f32[(ptrdiff_t)m * args->ldc + n] = v;
    if (args->out_u8) args->out_u8[(ptrdiff_t)m * args->ldc + n] = ck_quantize_one(v, args->out_inv_scale, args->out_zero_point);
}

// Loads 4 bytes (one k group) of a row of A; `count` < 4 for the last, partial group (the rest reads as 0).
static inline uint32_t ck_load_group(const uint8_t *p, int count) {
    uint32_t word = 0;
    memcpy(&word, p, (size_t)count);
    return word;
}

typedef void (*ck_qgemm_kernel)(const ck_qgemm_args *args, int m_begin, int m_end);

void ck_qgemm_u8s8_generic(const ck_qgemm_args *args, int m_begin, int m_end);
#if defined(__x86_64__)
void ck_qgemm_u8s8_avx2(const ck_qgemm_args *args, int m_begin, int m_end);
void ck_qgemm_u8s8_avx2_maddubs(const ck_qgemm_args *args, int m_begin, int m_end);
void ck_qgemm_u8s8_avx2_maddubs2(const ck_qgemm_args *args, int m_begin, int m_end);
void ck_qgemm_u8s8_avx512vnni(const ck_qgemm_args *args, int m_begin, int m_end);
#endif
#if defined(__aarch64__)
void ck_qgemm_u8s8_neon(const ck_qgemm_args *args, int m_begin, int m_end);
void ck_qgemm_u8s8_neondot(const ck_qgemm_args *args, int m_begin, int m_end);
#endif
