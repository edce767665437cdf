// AVX2 int8 GEMM kernel for weights of the full int8 range. vpmaddubsw would saturate u8*s8 pair sums to int16
// when |w| > 64, so this kernel widens instead: A to zero-extended int16, B to sign-extended int16 (once per panel
// and K slice, reused by a block of rows), and vpmaddwd gives exact pair sums in int32 lanes. 2 rows x 16 channels
// per tile (8 accumulators). Packed weights within +-64 go to the vpmaddubsw kernel (qgemm_u8s8_avx2_maddubs.c).
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__x86_64__)
#include "ck_avx2_epilogue.h"

#define AVX2_ROW_BLOCK 64   // rows of A kept hot in L1/L2 while a panel's widened weights pass over them

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
            avx2_panel_constants_init(&constants, args, n0, columns);
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
