// Private to CKernels on x86-64: the AVX2 form of ck_epilogue_one (16 channels of one row in two 8-lane halves)
// and its per-panel constants, shared by the AVX2 kernels (widening and the two vpmaddubsw ones), and the
// vpmaddubsw kernels' A broadcast and tile loop.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include "ck_internal.h"

#define AVX2_TARGET __attribute__((target("avx2")))

// Per-panel epilogue constants, padded to 16 channels with zeros.
typedef struct {
    int32_t zero_point_correction[16];   // a_zero_point * column_sum[n]
    float multiplier[16];
    float bias[16];
} avx2_panel_constants;

// The constants of the panel starting at channel n0 with `columns` valid channels.
static inline void avx2_panel_constants_init(avx2_panel_constants *constants, const ck_qgemm_args *args, int n0,
                                             int columns) {
    const int32_t *column_sums = ck_packed_column_sums(args->packed_b);
    memset(constants, 0, sizeof *constants);
    for (int c = 0; c < columns; c++) {
        constants->zero_point_correction[c] = args->a_zero_point * column_sums[n0 + c];
        constants->multiplier[c] = args->multiplier[n0 + c];
        constants->bias[c] = args->bias ? args->bias[n0 + c] : 0.0f;
    }
}

// Epilogue of one row (16 channels in two 8-lane halves), the vector form of ck_epilogue_one.
AVX2_TARGET static inline void avx2_epilogue_row(const ck_qgemm_args *args, const avx2_panel_constants *constants,
                                                 int m, int n0, int columns, __m256i acc_lo, __m256i acc_hi) {
    const __m256i accs[2] = {acc_lo, acc_hi};
    __m256 values[2];
    const int full = columns == 16;
    float residual_f32[16];
    uint8_t residual_u8[16];
    if (args->residual_f32 && !full) {
        memset(residual_f32, 0, sizeof residual_f32);
        memcpy(residual_f32, args->residual_f32 + (ptrdiff_t)m * args->ld_residual + n0, (size_t)columns * 4);
    }
    if (args->residual_u8) {
        memset(residual_u8, 0, sizeof residual_u8);
        memcpy(residual_u8, args->residual_u8 + (ptrdiff_t)m * args->ld_residual + n0, (size_t)columns);
    }
    const __m256 zero = _mm256_setzero_ps();
    for (int h = 0; h < 2; h++) {
        __m256i corrected = _mm256_sub_epi32(accs[h], _mm256_loadu_si256((const __m256i *)(constants->zero_point_correction + 8 * h)));
        __m256 v = _mm256_cvtepi32_ps(corrected);
        v = _mm256_mul_ps(v, _mm256_loadu_ps(constants->multiplier + 8 * h));
        v = _mm256_add_ps(v, _mm256_loadu_ps(constants->bias + 8 * h));
        if (args->residual_f32) {
            const float *r = full ? args->residual_f32 + (ptrdiff_t)m * args->ld_residual + n0 : residual_f32;
            v = _mm256_add_ps(v, _mm256_loadu_ps(r + 8 * h));
        }
        if (args->residual_u8) {
            __m128i bytes = _mm_loadl_epi64((const __m128i *)(residual_u8 + 8 * h));
            __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(bytes), _mm256_set1_epi32(args->residual_zero_point));
            __m256 r = _mm256_cvtepi32_ps(q);
            r = _mm256_mul_ps(r, _mm256_set1_ps(args->residual_scale));
            v = _mm256_add_ps(v, r);
        }
        if (args->relu) v = _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
        values[h] = v;
    }
    if (args->out_f32) {
        float *out = args->out_f32 + (ptrdiff_t)m * args->ldc + n0;
        if (full) {
            _mm256_storeu_ps(out, values[0]);
            _mm256_storeu_ps(out + 8, values[1]);
        } else {
            float buffer[16];
            _mm256_storeu_ps(buffer, values[0]);
            _mm256_storeu_ps(buffer + 8, values[1]);
            memcpy(out, buffer, (size_t)columns * 4);
        }
    }
    if (args->out_u8) {
        const __m256 inv_scale = _mm256_set1_ps(args->out_inv_scale);
        const __m256 low = _mm256_set1_ps(-CK_QUANT_LIMIT), high = _mm256_set1_ps(CK_QUANT_LIMIT);
        __m256i q[2];
        for (int h = 0; h < 2; h++) {
            __m256 t = _mm256_mul_ps(values[h], inv_scale);
            t = _mm256_blendv_ps(low, t, _mm256_cmp_ps(t, low, _CMP_GT_OQ));
            t = _mm256_blendv_ps(high, t, _mm256_cmp_ps(t, high, _CMP_LT_OQ));
            q[h] = _mm256_add_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(args->out_zero_point));
        }
        // Saturating packs clamp to int16 then to 0...255, the same as clamping the int32 to 0...255.
        __m128i w0 = _mm_packs_epi32(_mm256_castsi256_si128(q[0]), _mm256_extracti128_si256(q[0], 1));
        __m128i w1 = _mm_packs_epi32(_mm256_castsi256_si128(q[1]), _mm256_extracti128_si256(q[1], 1));
        __m128i bytes = _mm_packus_epi16(w0, w1);
        uint8_t *out = args->out_u8 + (ptrdiff_t)m * args->ldc + n0;
        if (full) {
            _mm_storeu_si128((__m128i *)out, bytes);
        } else {
            uint8_t buffer[16];
            _mm_storeu_si128((__m128i *)buffer, bytes);
            memcpy(out, buffer, (size_t)columns);
        }
    }
}

// The 4 bytes of A at p broadcast to every 32-bit lane; `count` < 4 for a partial last group (the rest reads 0).
// Shared by the vpmaddubsw kernels, whose packed B holds one channel's 4 weights of a k group per 32-bit lane.
AVX2_TARGET static inline __attribute__((always_inline)) __m256i avx2_broadcast_group(const uint8_t *p, int count) {
    uint32_t word;
    if (count == 4) memcpy(&word, p, 4); else word = ck_load_group(p, count);
    return _mm256_set1_epi32((int32_t)word);
}

// A kernel's register tile: rows a[0..tile_rows) times the 16-channel panel `b`, then the epilogue of the first
// `rows` rows (the others repeat the last row; their results are not written).
typedef void (*avx2_tile_fn)(const ck_qgemm_args *args, const avx2_panel_constants *constants,
                             const uint8_t *const *a, const int8_t *b, int m0, int rows, int n0, int columns);

#define AVX2_MAX_TILE_ROWS 8

// Rows [m_begin, m_end) of C in blocks of `row_block` rows kept in L2 while every panel of B passes over them,
// each block in tiles of `tile_rows` rows: the loop every packed-panel AVX2 kernel runs around its tile.
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_run_tiles(const ck_qgemm_args *args, int m_begin,
        int m_end, int tile_rows, int row_block, avx2_tile_fn tile) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int block = m_begin; block < m_end; block += row_block) {
        const int block_end = m_end - block < row_block ? m_end : block + row_block;
        for (int panel = 0; panel < panel_count; panel++) {
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = args->N - n0 < CK_PANEL_WIDTH ? args->N - n0 : CK_PANEL_WIDTH;
            avx2_panel_constants constants;
            avx2_panel_constants_init(&constants, args, n0, columns);
            const int8_t *b = panels + (size_t)panel * panel_bytes;
            for (int m0 = block; m0 < block_end; m0 += tile_rows) {
                const int rows = block_end - m0 < tile_rows ? block_end - m0 : tile_rows;
                const uint8_t *a_rows[AVX2_MAX_TILE_ROWS];
                for (int r = 0; r < tile_rows; r++)   // a missing row repeats the last (result unused)
                    a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
                tile(args, &constants, a_rows, b, m0, rows, n0, columns);
            }
        }
    }
}

#endif
