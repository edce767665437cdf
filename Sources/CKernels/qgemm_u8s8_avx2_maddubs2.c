// AVX2 int8 GEMM kernel for packed weights within +-32 (6-bit tables, quantized to +-31): two vpmaddubsw over two
// consecutive k groups are summed in int16 with vpaddsw before one vpmaddwd with ones widens them to int32, so
// 64 multiply-adds cost three multiplies instead of the four of the 7-bit kernel (qgemm_u8s8_avx2_maddubs.c).
//
// Why nothing saturates: A is raw uint8 (0...255; the zero point is subtracted after the GEMM through the column
// sums) and |B| <= 32. One vpmaddubsw int16 lane is a pair sum a0*b0 + a1*b1, |.| <= 2 * 255 * 32 = 16320; the
// vpaddsw of two such lanes is a sum of 4 products, |.| <= 4 * 255 * 32 = 32640 <= 32767, so vpaddsw never clamps
// and vpmaddubsw never clamps either. vpmaddwd(ones) adds neighbouring int16 lanes exactly into int32, and the int32
// accumulators stay exact for K <= CK_QGEMM_MAX_K. The result is bit-identical to ck_qgemm_u8s8_reference.
// (|B| = 33 would allow 4 * 255 * 33 = 33660: the dispatcher sends such weights to the 7-bit or widening kernel.)
//
// Layout: the shared packed layout (ck_internal.h) already fits. In a panel's 64-byte k group each 32-bit lane holds
// one channel's 4 weights; the int16 lanes of vpmaddubsw(x_g, w_g) hold (k0,k1) and (k2,k3) pair sums of group g,
// and adding the same lanes of group g+1 keeps every channel in its own 32-bit lane: no shuffle anywhere, and the
// int32 lanes end up in channel order. Groups are taken two at a time; an odd last group, or a partial one (K not a
// multiple of 4, read with zeros beyond K where the packed weights are zero too), takes the single-vpmaddubsw step.
// Tiles of 4 rows x 16 channels: 8 accumulators, the 4 weight vectors of a group pair, the ones vector, a row's two
// broadcasts and two products are 17 values for 16 ymm registers, so one weight vector is read from L1 per row (a
// load, not a multiply: the multiplies stay the bottleneck). Measured on the model's shapes, 4 rows beat 3, 5 and 6.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__x86_64__)
#include "ck_avx2_epilogue.h"

#define MADDUBS2_TILE_ROWS 4
#define MADDUBS2_ROW_BLOCK 48   // rows of A kept in L2 while every panel of B passes over them (12 tiles)

// acc += per-lane sums of 8 products: 4 of x0 (group g) with w0, 4 of x1 (group g+1) with w1.
#define MADDUBS2_PAIR(acc, x0, w0, x1, w1) \
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16( \
        _mm256_adds_epi16(_mm256_maddubs_epi16(x0, w0), _mm256_maddubs_epi16(x1, w1)), ones))
// acc += per-lane sums of the 4 products of one group.
#define MADDUBS2_SINGLE(acc, x, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))

// Rows a[0..3] times one 16-channel panel `b` over all k groups, then the epilogue of the first `rows` rows.
AVX2_TARGET static void maddubs2_tile(const ck_qgemm_args *args, const avx2_panel_constants *constants,
                                      const uint8_t *const *a, const int8_t *b, int m0, int rows,
                                      int n0, int columns) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const int full_groups = args->K / 4, tail = args->K % 4, groups = (args->K + 3) / 4;
    // Groups g and g+1 of all four rows; counts are 4 except for a partial last group.
#define MADDUBS2_GROUP_PAIR(g, count0, count1) do { \
        const int8_t *wb = b + 64 * (size_t)(g); \
        const __m256i w00 = _mm256_loadu_si256((const __m256i *)wb); \
        const __m256i w01 = _mm256_loadu_si256((const __m256i *)(wb + 32)); \
        const __m256i w10 = _mm256_loadu_si256((const __m256i *)(wb + 64)); \
        const __m256i w11 = _mm256_loadu_si256((const __m256i *)(wb + 96)); \
        const size_t k = 4 * (size_t)(g); \
        __m256i x0 = avx2_broadcast_group(a0 + k, count0), x1 = avx2_broadcast_group(a0 + k + 4, count1); \
        MADDUBS2_PAIR(c00, x0, w00, x1, w10); MADDUBS2_PAIR(c01, x0, w01, x1, w11); \
        x0 = avx2_broadcast_group(a1 + k, count0); x1 = avx2_broadcast_group(a1 + k + 4, count1); \
        MADDUBS2_PAIR(c10, x0, w00, x1, w10); MADDUBS2_PAIR(c11, x0, w01, x1, w11); \
        x0 = avx2_broadcast_group(a2 + k, count0); x1 = avx2_broadcast_group(a2 + k + 4, count1); \
        MADDUBS2_PAIR(c20, x0, w00, x1, w10); MADDUBS2_PAIR(c21, x0, w01, x1, w11); \
        x0 = avx2_broadcast_group(a3 + k, count0); x1 = avx2_broadcast_group(a3 + k + 4, count1); \
        MADDUBS2_PAIR(c30, x0, w00, x1, w10); MADDUBS2_PAIR(c31, x0, w01, x1, w11); \
    } while (0)
#define MADDUBS2_GROUP(g, count) do { \
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(b + 64 * (size_t)(g))); \
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(b + 64 * (size_t)(g) + 32)); \
        const size_t k = 4 * (size_t)(g); \
        __m256i x = avx2_broadcast_group(a0 + k, count); \
        MADDUBS2_SINGLE(c00, x, w0); MADDUBS2_SINGLE(c01, x, w1); \
        x = avx2_broadcast_group(a1 + k, count); \
        MADDUBS2_SINGLE(c10, x, w0); MADDUBS2_SINGLE(c11, x, w1); \
        x = avx2_broadcast_group(a2 + k, count); \
        MADDUBS2_SINGLE(c20, x, w0); MADDUBS2_SINGLE(c21, x, w1); \
        x = avx2_broadcast_group(a3 + k, count); \
        MADDUBS2_SINGLE(c30, x, w0); MADDUBS2_SINGLE(c31, x, w1); \
    } while (0)
    const int pairs = full_groups / 2;
    for (int p = 0; p < pairs; p++) MADDUBS2_GROUP_PAIR(2 * p, 4, 4);
    const int rest = 2 * pairs;   // groups [rest, groups) remain: none, one (full or partial), or a full and a partial
    if (groups - rest == 2) MADDUBS2_GROUP_PAIR(rest, 4, tail);
    else if (groups - rest == 1) MADDUBS2_GROUP(rest, tail ? tail : 4);
#undef MADDUBS2_GROUP_PAIR
#undef MADDUBS2_GROUP
    const __m256i acc[MADDUBS2_TILE_ROWS][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int r = 0; r < rows; r++) avx2_epilogue_row(args, constants, m0 + r, n0, columns, acc[r][0], acc[r][1]);
}

AVX2_TARGET void ck_qgemm_u8s8_avx2_maddubs2(const ck_qgemm_args *args, int m_begin, int m_end) {
    avx2_run_tiles(args, m_begin, m_end, MADDUBS2_TILE_ROWS, MADDUBS2_ROW_BLOCK, maddubs2_tile);
}
#endif
