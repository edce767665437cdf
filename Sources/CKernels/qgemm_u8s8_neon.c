// aarch64 plain NEON (Armv8.0, e.g. Cortex-A53) int8 GEMM kernel. A is flipped to A xor 0x80 = A - 128 (int8)
// so smull can multiply it with the int8 weights: each product fits int16 (|p| <= 16384), and sadalp adds
// pairs of products straight into int32, so nothing saturates. Blocks of 2 rows x 16 channels.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

#if defined(__aarch64__)
#include "ck_neon_epilogue.h"

#define NEON_ROWS 2
#define NEON_ROW_BLOCK 64

// partial[r][j]: channel pair j (channels 2j, 2j+1), lanes (ch 2j: k0+k1, k2+k3, ch 2j+1: k0+k1, k2+k3).
static inline void neon_micro_kernel(const uint8_t *const a_rows[NEON_ROWS], const int8_t *b, int K,
                                     int32x4_t acc[NEON_ROWS][4]) {
    int32x4_t partial[NEON_ROWS][8];
    for (int r = 0; r < NEON_ROWS; r++)
        for (int j = 0; j < 8; j++) partial[r][j] = vdupq_n_s32(0);
    for (int k = 0; k < K; k += 4, b += 64) {
        const int count = K - k < 4 ? K - k : 4;
        int8x8_t a[NEON_ROWS];
        for (int r = 0; r < NEON_ROWS; r++) {
            const uint32_t word = (count == 4 ? ck_load_group(a_rows[r] + k, 4) : ck_load_group(a_rows[r] + k, count))
                                  ^ 0x80808080u;
            a[r] = vreinterpret_s8_u32(vdup_n_u32(word));
        }
        for (int q = 0; q < 4; q++) {
            const int8x16_t w = vld1q_s8(b + 16 * q);
            for (int r = 0; r < NEON_ROWS; r++) {
                partial[r][2 * q] = vpadalq_s16(partial[r][2 * q], vmull_s8(vget_low_s8(w), a[r]));
                partial[r][2 * q + 1] = vpadalq_s16(partial[r][2 * q + 1], vmull_s8(vget_high_s8(w), a[r]));
            }
        }
    }
    for (int r = 0; r < NEON_ROWS; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vpaddq_s32(partial[r][2 * q], partial[r][2 * q + 1]);
}

void ck_qgemm_u8s8_neon(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const size_t panel_bytes = (size_t)header->padded_k * CK_PANEL_WIDTH;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int block = m_begin; block < m_end; block += NEON_ROW_BLOCK) {
        const int block_end = m_end - block < NEON_ROW_BLOCK ? m_end : block + NEON_ROW_BLOCK;
        for (int panel = 0; panel < panel_count; panel++) {
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = args->N - n0 < CK_PANEL_WIDTH ? args->N - n0 : CK_PANEL_WIDTH;
            ck_neon_panel_constants constants;
            ck_neon_panel_constants_init(&constants, args, n0, columns);
            for (int m0 = block; m0 < block_end; m0 += NEON_ROWS) {
                const int rows = block_end - m0 < NEON_ROWS ? block_end - m0 : NEON_ROWS;
                const uint8_t *a_rows[NEON_ROWS];
                for (int r = 0; r < NEON_ROWS; r++)
                    a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;
                int32x4_t acc[NEON_ROWS][4];
                neon_micro_kernel(a_rows, panels + (size_t)panel * panel_bytes, args->K, acc);
                for (int r = 0; r < rows; r++) ck_neon_epilogue_row(args, &constants, m0 + r, n0, columns, acc[r]);
            }
        }
    }
}
#endif
