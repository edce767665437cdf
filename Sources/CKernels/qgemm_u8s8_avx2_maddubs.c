// AVX2 int8 GEMM kernel for packed weights within +-64 (7-bit tables): vpmaddubsw multiplies 32 unsigned bytes of A
// with 32 signed bytes of B and adds neighbouring products in int16, vpmaddwd with ones adds those pairs into int32,
// vpaddd accumulates: 32 multiply-adds per three instructions, twice the widening kernel's rate. vpmaddubsw saturates
// a pair sum at +-32767; with A <= 255 and |B| <= 64 a pair sum is at most 2 * 255 * 64 = 32640, so nothing saturates
// and the result is exact (the dispatcher sends wider weights to the widening kernel in qgemm_u8s8_avx2.c).
//
// The packed layout feeds it without shuffles: in a panel's 64-byte k group each 32-bit lane holds one channel's
// 4 weights, so one 32-byte load is 8 channels x 4 k, and a row's 4 bytes of A broadcast to every lane (vpbroadcastd
// from memory) meet them lane by lane; the int32 lanes then hold per-channel sums, in channel order, with no
// horizontal reduction. Tiles of 6 rows x 16 channels: 12 accumulators, 2 weight vectors, the broadcast and the
// ones vector fill the 16 ymm registers.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__x86_64__)
#include "ck_avx2_epilogue.h"

#define MADDUBS_TILE_ROWS 6
#define MADDUBS_ROW_BLOCK 48   // rows of A kept in L2 while every panel of B passes over them (8 tiles)

// acc += the int32 sums of the 4 u8 x s8 products in each lane of x (A, broadcast) and w (B).
#define MADDUBS_STEP(acc, x, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))

// Rows a[0..5] times one 16-channel panel `b` over all k groups, then the epilogue of the first `rows` rows.
AVX2_TARGET static void maddubs_tile(const ck_qgemm_args *args, const avx2_panel_constants *constants,
                                     const uint8_t *const *a, const int8_t *b, int m0, int rows,
                                     int n0, int columns) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    const int full_groups = args->K / 4, tail = args->K % 4;
    // One k group g of all six rows; `count` is 4 except for a partial last group.
#define MADDUBS_GROUP(g, count) do { \
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(b + 64 * (size_t)(g))); \
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(b + 64 * (size_t)(g) + 32)); \
        const size_t k = 4 * (size_t)(g); \
        __m256i x = avx2_broadcast_group(a0 + k, count); \
        MADDUBS_STEP(c00, x, w0); MADDUBS_STEP(c01, x, w1); \
        x = avx2_broadcast_group(a1 + k, count); \
        MADDUBS_STEP(c10, x, w0); MADDUBS_STEP(c11, x, w1); \
        x = avx2_broadcast_group(a2 + k, count); \
        MADDUBS_STEP(c20, x, w0); MADDUBS_STEP(c21, x, w1); \
        x = avx2_broadcast_group(a3 + k, count); \
        MADDUBS_STEP(c30, x, w0); MADDUBS_STEP(c31, x, w1); \
        x = avx2_broadcast_group(a4 + k, count); \
        MADDUBS_STEP(c40, x, w0); MADDUBS_STEP(c41, x, w1); \
        x = avx2_broadcast_group(a5 + k, count); \
        MADDUBS_STEP(c50, x, w0); MADDUBS_STEP(c51, x, w1); \
    } while (0)
    for (int g = 0; g < full_groups; g++) MADDUBS_GROUP(g, 4);
    if (tail) MADDUBS_GROUP(full_groups, tail);
#undef MADDUBS_GROUP
    const __m256i acc[MADDUBS_TILE_ROWS][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int r = 0; r < rows; r++) avx2_epilogue_row(args, constants, m0 + r, n0, columns, acc[r][0], acc[r][1]);
}

AVX2_TARGET void ck_qgemm_u8s8_avx2_maddubs(const ck_qgemm_args *args, int m_begin, int m_end) {
    avx2_run_tiles(args, m_begin, m_end, MADDUBS_TILE_ROWS, MADDUBS_ROW_BLOCK, maddubs_tile);
}
#endif
