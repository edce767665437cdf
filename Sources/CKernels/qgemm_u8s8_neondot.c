// aarch64 NEON dotprod (Armv8.2 FEAT_DotProd) int8 GEMM kernel. sdot multiplies signed bytes only, so A is
// flipped to A xor 0x80 = A - 128 (int8) and the epilogue adds 128 * column_sum back (exact). Blocks of
// 4 rows x 16 channels: 16 int32x4 accumulators, one sdot-by-lane per 4 channels x 4 k per row.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__aarch64__)
#include "ck_neon_epilogue.h"

#if defined(__clang__)
#define NEONDOT_TARGET __attribute__((target("dotprod")))
#else
#define NEONDOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define NEONDOT_ROWS 4
#define NEONDOT_ROW_BLOCK 64

// One k group for every row: a[r] holds the row's 4 flipped bytes in lane 0 (in lanes `lane` of a 16-byte load).
#define NEONDOT_GROUP(b_ptr, a_vectors, lane)                                                   \
    do {                                                                                        \
        const int8x16_t w0 = vld1q_s8((b_ptr)), w1 = vld1q_s8((b_ptr) + 16);                    \
        const int8x16_t w2 = vld1q_s8((b_ptr) + 32), w3 = vld1q_s8((b_ptr) + 48);               \
        for (int r = 0; r < NEONDOT_ROWS; r++) {                                                \
            acc[r][0] = vdotq_laneq_s32(acc[r][0], w0, a_vectors[r], lane);                     \
            acc[r][1] = vdotq_laneq_s32(acc[r][1], w1, a_vectors[r], lane);                     \
            acc[r][2] = vdotq_laneq_s32(acc[r][2], w2, a_vectors[r], lane);                     \
            acc[r][3] = vdotq_laneq_s32(acc[r][3], w3, a_vectors[r], lane);                     \
        }                                                                                       \
    } while (0)

NEONDOT_TARGET static inline void neondot_micro_kernel(const uint8_t *const a_rows[NEONDOT_ROWS], const int8_t *b,
                                                       int K, int32x4_t acc[NEONDOT_ROWS][4]) {
    for (int r = 0; r < NEONDOT_ROWS; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    const uint8x16_t flip = vdupq_n_u8(0x80);
    int8x16_t a[NEONDOT_ROWS];
    int k = 0;
    for (; k + 16 <= K; k += 16, b += 256) {
        for (int r = 0; r < NEONDOT_ROWS; r++) a[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a_rows[r] + k), flip));
        NEONDOT_GROUP(b, a, 0);
        NEONDOT_GROUP(b + 64, a, 1);
        NEONDOT_GROUP(b + 128, a, 2);
        NEONDOT_GROUP(b + 192, a, 3);
    }
    for (; k < K; k += 4, b += 64) {
        const int count = K - k < 4 ? K - k : 4;
        for (int r = 0; r < NEONDOT_ROWS; r++) {
            const uint32_t word = ck_load_group(a_rows[r] + k, count) ^ 0x80808080u;
            a[r] = vreinterpretq_s8_u32(vdupq_n_u32(word));
        }
        NEONDOT_GROUP(b, a, 0);
    }
}

NEONDOT_TARGET void ck_qgemm_u8s8_neondot(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int block = m_begin; block < m_end; block += NEONDOT_ROW_BLOCK) {
        const int block_end = m_end - block < NEONDOT_ROW_BLOCK ? m_end : block + NEONDOT_ROW_BLOCK;
        for (int panel = 0; panel < panel_count; panel++) {
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = args->N - n0 < CK_PANEL_WIDTH ? args->N - n0 : CK_PANEL_WIDTH;
            ck_neon_panel_constants constants;
            ck_neon_panel_constants_init(&constants, args, n0, columns);
            for (int m0 = block; m0 < block_end; m0 += NEONDOT_ROWS) {
                const int rows = block_end - m0 < NEONDOT_ROWS ? block_end - m0 : NEONDOT_ROWS;
                const uint8_t *a_rows[NEONDOT_ROWS];
                for (int r = 0; r < NEONDOT_ROWS; r++)
                    a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
                int32x4_t acc[NEONDOT_ROWS][4];
                neondot_micro_kernel(a_rows, panels + (size_t)panel * panel_bytes, args->K, acc);
                for (int r = 0; r < rows; r++) ck_neon_epilogue_row(args, &constants, m0 + r, n0, columns, acc[r]);
            }
        }
    }
}
#endif
