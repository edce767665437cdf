// AVX-512 VNNI int8 GEMM kernel: vpdpbusd multiplies 4 unsigned bytes of A with 4 signed bytes of B and adds
// them into an int32 lane without saturation, so one instruction does 64 exact multiply-adds. The packed panel
// layout puts one channel's 4 weights in each 32-bit lane: a 16-channel group is one zmm load. Blocks of
// 8 rows x 32 channels (16 accumulators); epilogue tails use AVX-512 masks.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__x86_64__)
#if defined(CK_EMULATE_AVX512)
// Test build only (scripts/test-aarch64.sh): scalar stand-ins from Tests/CKernelsNative let this kernel's
// logic run on CPUs without AVX-512. SwiftPM never defines CK_EMULATE_AVX512.
#include "ck_avx512_emulation.h"
#define VNNI_TARGET
#else
#include <immintrin.h>
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif
#define VNNI_ROWS 8
#define VNNI_ROW_BLOCK 64   // rows of A kept hot in L2 while every panel of B passes over them

// Epilogue of one row of one 16-channel panel, the vector form of ck_epilogue_one; lanes >= columns are
// neither read nor written.
VNNI_TARGET static inline void vnni_epilogue_row(const ck_qgemm_args *args, int m, int n0, int columns, __m512i acc) {
    const __mmask16 mask = (__mmask16)(columns >= 16 ? 0xffffu : ((1u << columns) - 1u));
    const __m512i correction = _mm512_mullo_epi32(
        _mm512_set1_epi32(args->a_zero_point),
        _mm512_maskz_loadu_epi32(mask, ck_packed_column_sums(args->packed_b) + n0));
    __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, correction));
    v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mask, args->multiplier + n0));
    v = _mm512_add_ps(v, args->bias ? _mm512_maskz_loadu_ps(mask, args->bias + n0) : _mm512_setzero_ps());
    const ptrdiff_t residual_offset = (ptrdiff_t)m * args->ld_residual + n0;
    if (args->residual_f32) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, args->residual_f32 + residual_offset));
    if (args->residual_u8) {
        __m512i q = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, args->residual_u8 + residual_offset));
        __m512 r = _mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(args->residual_zero_point)));
        r = _mm512_mul_ps(r, _mm512_set1_ps(args->residual_scale));
        v = _mm512_add_ps(v, r);
    }
    if (args->relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
    const ptrdiff_t out_offset = (ptrdiff_t)m * args->ldc + n0;
    if (args->out_f32) _mm512_mask_storeu_ps(args->out_f32 + out_offset, mask, v);
    if (args->out_u8) {
        const __m512 low = _mm512_set1_ps(-CK_QUANT_LIMIT), high = _mm512_set1_ps(CK_QUANT_LIMIT);
        __m512 t = _mm512_mul_ps(v, _mm512_set1_ps(args->out_inv_scale));
        t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, low, _CMP_GT_OQ), low, t);
        t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, high, _CMP_LT_OQ), high, t);
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(args->out_zero_point));
        q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_setzero_si512()), _mm512_set1_epi32(255));
        _mm_mask_storeu_epi8(args->out_u8 + out_offset, mask, _mm512_cvtepi32_epi8(q));
    }
}

// Multiplies VNNI_ROWS rows of A with `panels` (1 or 2, a compile-time constant after inlining) consecutive
// 16-channel panels of B, then runs the epilogue for the valid rows/columns.
VNNI_TARGET static inline __attribute__((always_inline)) void vnni_block(
    const ck_qgemm_args *args, const int8_t *b, size_t panel_bytes, int panels, int m0, int rows, int n0) {
    const uint8_t *a_rows[VNNI_ROWS];
    for (int r = 0; r < VNNI_ROWS; r++) a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
    __m512i acc[VNNI_ROWS][2];
    for (int r = 0; r < VNNI_ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    const int full_groups = args->K / 4, tail = args->K % 4;
    const int8_t *b1 = b + panel_bytes;
    for (int g = 0; g < full_groups; g++) {
        const __m512i w0 = _mm512_loadu_si512((const void *)(b + 64 * (size_t)g));
        const __m512i w1 = panels == 2 ? _mm512_loadu_si512((const void *)(b1 + 64 * (size_t)g)) : w0;
        for (int r = 0; r < VNNI_ROWS; r++) {
            uint32_t word;
            memcpy(&word, a_rows[r] + 4 * g, 4);
            const __m512i a = _mm512_set1_epi32((int32_t)word);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, w0);
            if (panels == 2) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, w1);
        }
    }
    if (tail) {
        const __m512i w0 = _mm512_loadu_si512((const void *)(b + 64 * (size_t)full_groups));
        const __m512i w1 = panels == 2 ? _mm512_loadu_si512((const void *)(b1 + 64 * (size_t)full_groups)) : w0;
        for (int r = 0; r < VNNI_ROWS; r++) {
            const __m512i a = _mm512_set1_epi32((int32_t)ck_load_group(a_rows[r] + 4 * full_groups, tail));
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, w0);
            if (panels == 2) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, w1);
        }
    }
    for (int p = 0; p < panels; p++) {
        const int n = n0 + p * CK_PANEL_WIDTH;
        const int columns = args->N - n < CK_PANEL_WIDTH ? args->N - n : CK_PANEL_WIDTH;
        for (int r = 0; r < rows; r++) vnni_epilogue_row(args, m0 + r, n, columns, acc[r][p]);
    }
}

VNNI_TARGET void ck_qgemm_u8s8_avx512vnni(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int block = m_begin; block < m_end; block += VNNI_ROW_BLOCK) {
        const int block_end = m_end - block < VNNI_ROW_BLOCK ? m_end : block + VNNI_ROW_BLOCK;
        for (int panel = 0; panel < panel_count; panel += 2) {
            const int8_t *b = panels + (size_t)panel * panel_bytes;
            const int n0 = panel * CK_PANEL_WIDTH;
            for (int m0 = block; m0 < block_end; m0 += VNNI_ROWS) {
                const int rows = block_end - m0 < VNNI_ROWS ? block_end - m0 : VNNI_ROWS;
                if (panel + 1 < panel_count)
                    vnni_block(args, b, panel_bytes, 2, m0, rows, n0);
                else
                    vnni_block(args, b, panel_bytes, 1, m0, rows, n0);
            }
        }
    }
}
#endif
