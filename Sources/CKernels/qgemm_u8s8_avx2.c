// AVX2 int8 GEMM kernel. vpmaddubsw would saturate u8*s8 pair sums to int16, so this kernel widens instead:
// per k group, A splits into its even/odd bytes as int16 (a0,a2)/(a1,a3), B into sign-extended (b0,b2)/(b1,b3),
// and two vpmaddwd give the exact 4-term dot product in each int32 lane. 4 rows x 16 channels per block.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2")))
#define AVX2_ROWS 4
#define AVX2_ROW_BLOCK 64   // rows of A kept hot in L2 while every panel of B passes over them

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

// One k group (4 values of k) for AVX2_ROWS rows x 16 channels; a_words[r] holds row r's 4 bytes of A.
AVX2_TARGET static inline void avx2_group(const int8_t *b, const uint32_t a_words[AVX2_ROWS], __m256i acc[AVX2_ROWS][2]) {
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
    const __m256i b0_even = _mm256_srai_epi16(_mm256_slli_epi16(b0, 8), 8), b0_odd = _mm256_srai_epi16(b0, 8);
    const __m256i b1_even = _mm256_srai_epi16(_mm256_slli_epi16(b1, 8), 8), b1_odd = _mm256_srai_epi16(b1, 8);
    const __m256i even_mask = _mm256_set1_epi16(0x00ff);
    for (int r = 0; r < AVX2_ROWS; r++) {
        const __m256i a = _mm256_set1_epi32((int32_t)a_words[r]);
        const __m256i a_even = _mm256_and_si256(a, even_mask), a_odd = _mm256_srli_epi16(a, 8);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(a_even, b0_even));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(a_even, b1_even));
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(a_odd, b0_odd));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(a_odd, b1_odd));
    }
}

// Multiplies AVX2_ROWS rows of A with one 16-channel panel of B.
AVX2_TARGET static inline void avx2_micro_kernel(const uint8_t *const a_rows[AVX2_ROWS], const int8_t *b,
                                                 int full_groups, int tail, __m256i acc[AVX2_ROWS][2]) {
    for (int r = 0; r < AVX2_ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    uint32_t a_words[AVX2_ROWS];
    for (int g = 0; g < full_groups; g++, b += 64) {
        for (int r = 0; r < AVX2_ROWS; r++) memcpy(&a_words[r], a_rows[r] + 4 * g, 4);
        avx2_group(b, a_words, acc);
    }
    if (tail) {
        for (int r = 0; r < AVX2_ROWS; r++) a_words[r] = ck_load_group(a_rows[r] + 4 * full_groups, tail);
        avx2_group(b, a_words, acc);
    }
}

AVX2_TARGET void ck_qgemm_u8s8_avx2(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int32_t *column_sums = ck_packed_column_sums(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const int N = args->N, full_groups = args->K / 4, tail = args->K % 4;
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

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
            for (int m0 = block; m0 < block_end; m0 += AVX2_ROWS) {
                const int rows = block_end - m0 < AVX2_ROWS ? block_end - m0 : AVX2_ROWS;
                const uint8_t *a_rows[AVX2_ROWS];
                for (int r = 0; r < AVX2_ROWS; r++)
                    a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
                __m256i acc[AVX2_ROWS][2];
                avx2_micro_kernel(a_rows, b, full_groups, tail, acc);
                for (int r = 0; r < rows; r++)
                    avx2_epilogue_row(args, &constants, m0 + r, n0, columns, acc[r][0], acc[r][1]);
            }
        }
    }
}
#endif
