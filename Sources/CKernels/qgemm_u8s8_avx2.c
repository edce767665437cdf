// AVX2 int8 GEMM kernel. vpmaddubsw would saturate u8*s8 pair sums to int16, so this kernel widens instead: A to
// zero-extended int16, B to sign-extended int16 (once per panel and K slice, reused by a block of rows), and
// vpmaddwd gives exact pair sums in int32 lanes. 2 rows x 16 channels per tile (8 accumulators).
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2")))
#define AVX2_ROW_BLOCK 64   // rows of A kept hot in L1/L2 while a panel's widened weights pass over them

// Per-panel epilogue constants, padded to 16 channels with zeros.
typedef struct {
    int32_t zero_point_correction[16];   // a_zero_point * column_sum[n]
    float multiplier[16];
    float bias[16];
} avx2_panel_constants;

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

// Inner product layout: a k group (4 values of k) of one channel's weights, sign-extended to int16, fills one 64-bit
// quarter (two 32-bit lanes: (b0,b1), (b2,b3)); a row's 4 bytes of A, zero-extended to int16 and broadcast to every
// quarter, meet them in vpmaddwd, which gives a0·b0 + a1·b1 and a2·b2 + a3·b3 exactly (|a·b| ≤ 255·128). Sixteen
// channels are four vectors; the two partial sums per channel are added once at the end (vphaddd). A panel's
// weights are widened once per K slice into a stack buffer and reused by every row of the block.
#define AVX2_TILE_ROWS 2
#define AVX2_K_SLICE_GROUPS 256   // 1024 values of k per slice: 32 KiB of widened weights

// The 4 bytes of `word` zero-extended to int16 and repeated in every 64-bit quarter (broadcast + one byte shuffle).
AVX2_TARGET static inline __m256i avx2_broadcast_row_group(uint32_t word) {
    const __m256i spread = _mm256_setr_epi8(0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1,
                                            0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1);
    return _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)word), spread);
}

// Widens `groups` k groups of one packed panel: 64 bytes → four vectors of 4 channels × 4 int16.
AVX2_TARGET static void avx2_widen_panel(const int8_t *b, int groups, __m256i *wide) {
    for (int g = 0; g < groups; g++, b += 64, wide += 4) {
        wide[0] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b));
        wide[1] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 16)));
        wide[2] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 32)));
        wide[3] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 48)));
    }
}

// Adds groups [g_begin, g_end) of rows a_rows[0..1] (group g_end − 1 partial when `last_count` < 4) times the
// widened weights to acc[row][quarter]; acc lane pairs hold the two partial sums of each channel.
AVX2_TARGET static inline void avx2_tile(const uint8_t *const a_rows[AVX2_TILE_ROWS], const __m256i *wide,
                                         int g_begin, int g_end, int last_count, __m256i acc[AVX2_TILE_ROWS][4]) {
    __m256i acc00 = acc[0][0], acc01 = acc[0][1], acc02 = acc[0][2], acc03 = acc[0][3];
    __m256i acc10 = acc[1][0], acc11 = acc[1][1], acc12 = acc[1][2], acc13 = acc[1][3];
    const uint8_t *a0 = a_rows[0], *a1 = a_rows[1];
    const int full_end = last_count < 4 ? g_end - 1 : g_end;
    for (int g = g_begin; g < g_end; g++) {
        const __m256i *w = wide + 4 * (g - g_begin);
        uint32_t word0, word1;
        if (g < full_end) {
            memcpy(&word0, a0 + 4 * g, 4);
            memcpy(&word1, a1 + 4 * g, 4);
        } else {
            word0 = ck_load_group(a0 + 4 * g, last_count);
            word1 = ck_load_group(a1 + 4 * g, last_count);
        }
        const __m256i x0 = avx2_broadcast_row_group(word0), x1 = avx2_broadcast_row_group(word1);
        const __m256i w0 = _mm256_load_si256(w), w1 = _mm256_load_si256(w + 1);
        const __m256i w2 = _mm256_load_si256(w + 2), w3 = _mm256_load_si256(w + 3);
        acc00 = _mm256_add_epi32(acc00, _mm256_madd_epi16(x0, w0));
        acc01 = _mm256_add_epi32(acc01, _mm256_madd_epi16(x0, w1));
        acc02 = _mm256_add_epi32(acc02, _mm256_madd_epi16(x0, w2));
        acc03 = _mm256_add_epi32(acc03, _mm256_madd_epi16(x0, w3));
        acc10 = _mm256_add_epi32(acc10, _mm256_madd_epi16(x1, w0));
        acc11 = _mm256_add_epi32(acc11, _mm256_madd_epi16(x1, w1));
        acc12 = _mm256_add_epi32(acc12, _mm256_madd_epi16(x1, w2));
        acc13 = _mm256_add_epi32(acc13, _mm256_madd_epi16(x1, w3));
    }
    acc[0][0] = acc00; acc[0][1] = acc01; acc[0][2] = acc02; acc[0][3] = acc03;
    acc[1][0] = acc10; acc[1][1] = acc11; acc[1][2] = acc12; acc[1][3] = acc13;
}

// Channel sums 0–7 and 8–15 from the four pair-sum vectors of one row.
AVX2_TARGET static inline void avx2_reduce_pairs(const __m256i q[4], __m256i *low, __m256i *high) {
    *low = _mm256_permute4x64_epi64(_mm256_hadd_epi32(q[0], q[1]), 0xD8);
    *high = _mm256_permute4x64_epi64(_mm256_hadd_epi32(q[2], q[3]), 0xD8);
}

AVX2_TARGET void ck_qgemm_u8s8_avx2(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int32_t *column_sums = ck_packed_column_sums(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const int N = args->N, groups = (args->K + 3) / 4, tail = args->K % 4;
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;
    __m256i wide[4 * AVX2_K_SLICE_GROUPS];
    __m256i acc[AVX2_ROW_BLOCK][4];

    for (int block = m_begin; block < m_end; block += AVX2_ROW_BLOCK) {
        const int block_end = m_end - block < AVX2_ROW_BLOCK ? m_end : block + AVX2_ROW_BLOCK;
        for (int panel = 0; panel < panel_count; panel++) {
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = N - n0 < CK_PANEL_WIDTH ? N - n0 : CK_PANEL_WIDTH;
            avx2_panel_constants constants;
            memset(&constants, 0, sizeof constants);
            for (int c = 0; c < columns; c++) {
                constants.zero_point_correction[c] = args->a_zero_point * column_sums[n0 + c];
                constants.multiplier[c] = args->multiplier[n0 + c];
                constants.bias[c] = args->bias ? args->bias[n0 + c] : 0.0f;
            }
            const int8_t *b = panels + (size_t)panel * panel_bytes;
            for (int r = 0; r < block_end - block; r++)
                acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm256_setzero_si256();
            for (int g0 = 0; g0 < groups; g0 += AVX2_K_SLICE_GROUPS) {
                const int g1 = groups - g0 < AVX2_K_SLICE_GROUPS ? groups : g0 + AVX2_K_SLICE_GROUPS;
                avx2_widen_panel(b + (size_t)g0 * 64, g1 - g0, wide);
                const int last_count = (g1 == groups && tail) ? tail : 4;
                for (int m0 = block; m0 < block_end; m0 += AVX2_TILE_ROWS) {
                    const int rows = block_end - m0 < AVX2_TILE_ROWS ? block_end - m0 : AVX2_TILE_ROWS;
                    const uint8_t *a_rows[AVX2_TILE_ROWS];
                    __m256i tile[AVX2_TILE_ROWS][4];
                    for (int r = 0; r < AVX2_TILE_ROWS; r++) {
                        const int row = r < rows ? r : rows - 1;   // a missing row repeats the last (result unused)
                        a_rows[r] = args->a + (ptrdiff_t)(m0 + row) * args->lda;
                        for (int q = 0; q < 4; q++) tile[r][q] = acc[m0 - block + row][q];
                    }
                    avx2_tile(a_rows, wide, g0, g1, last_count, tile);
                    for (int r = 0; r < rows; r++)
                        for (int q = 0; q < 4; q++) acc[m0 - block + r][q] = tile[r][q];
                }
            }
            for (int r = 0; r < block_end - block; r++) {
                __m256i low, high;
                avx2_reduce_pairs(acc[r], &low, &high);
                avx2_epilogue_row(args, &constants, block + r, n0, columns, low, high);
            }
        }
    }
}
#endif
