// Portable C int8 GEMM (uint8 A x int8 packed B -> int32 -> float epilogue): the fallback on every CPU, and
// ck_qgemm_u8s8_reference, the naive version the fast kernels are tested against. Also the weight packer.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

size_t ck_qgemm_packed_size(int N, int K) {
    if (N < 1 || K < 1 || K > CK_QGEMM_MAX_K) return 0;
    size_t padded_n = ((size_t)N + CK_PANEL_WIDTH - 1) / CK_PANEL_WIDTH * CK_PANEL_WIDTH;
    size_t padded_k = ((size_t)K + 3) / 4 * 4;
    return sizeof(ck_packed_header) + padded_n * 4 + padded_n * padded_k;
}

int ck_qgemm_pack_weights(const int8_t *w, int N, int K, void *packed) {
    size_t size = ck_qgemm_packed_size(N, K);
    if (size == 0 || w == NULL || packed == NULL) return -1;
    ck_packed_header header;
    memset(&header, 0, sizeof header);
    header.magic = CK_PACKED_MAGIC;
    header.n = N;
    header.k = K;
    header.padded_n = (N + CK_PANEL_WIDTH - 1) / CK_PANEL_WIDTH * CK_PANEL_WIDTH;
    header.padded_k = (K + 3) / 4 * 4;

    int32_t *column_sums = (int32_t *)((uint8_t *)packed + sizeof(ck_packed_header));
    int8_t *panels = (int8_t *)(column_sums + header.padded_n);
    int32_t max_abs = 0;
    for (int n = 0; n < header.padded_n; n++) {
        int32_t sum = 0;
        if (n < N) {
            for (int k = 0; k < K; k++) {
                const int32_t v = w[(size_t)n * K + k];
                sum += v;
                if (v > max_abs) max_abs = v;
                if (-v > max_abs) max_abs = -v;
            }
        }
        column_sums[n] = sum;
    }
    header.max_abs_weight = max_abs;
    memcpy(packed, &header, sizeof header);
    const int groups = header.padded_k / 4;
    for (int panel = 0; panel < header.padded_n / CK_PANEL_WIDTH; panel++) {
        int8_t *panel_data = panels + (size_t)panel * groups * CK_PANEL_WIDTH * 4;
        for (int g = 0; g < groups; g++) {
            for (int c = 0; c < CK_PANEL_WIDTH; c++) {
                int n = panel * CK_PANEL_WIDTH + c;
                for (int j = 0; j < 4; j++) {
                    int k = g * 4 + j;
                    panel_data[((size_t)g * CK_PANEL_WIDTH + c) * 4 + j] = (n < N && k < K) ? w[(size_t)n * K + k] : 0;
                }
            }
        }
    }
    return 0;
}

void ck_qgemm_u8s8_reference(const int8_t *w_unpacked, const ck_qgemm_args *args, int m_begin, int m_end) {
    for (int m = m_begin; m < m_end; m++) {
        const uint8_t *row = args->a + (ptrdiff_t)m * args->lda;
        for (int n = 0; n < args->N; n++) {
            const int8_t *weights = w_unpacked + (size_t)n * args->K;
            int32_t acc = 0, column_sum = 0;
            for (int k = 0; k < args->K; k++) {
                acc += (int32_t)row[k] * (int32_t)weights[k];
                column_sum += weights[k];
            }
            ck_epilogue_one(args, m, n, acc - args->a_zero_point * column_sum);
        }
    }
}

// Rows per block of the portable kernel.
#define GENERIC_ROWS 4

void ck_qgemm_u8s8_generic(const ck_qgemm_args *args, int m_begin, int m_end) {
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    const int32_t *column_sums = ck_packed_column_sums(args->packed_b);
    const int8_t *panels = ck_packed_panels(args->packed_b);
    const int K = args->K, N = args->N;
    const int full_groups = K / 4, tail = K % 4, groups = header->padded_k / 4;
    const int panel_count = header->padded_n / CK_PANEL_WIDTH;

    for (int m0 = m_begin; m0 < m_end; m0 += GENERIC_ROWS) {
        const int rows = m_end - m0 < GENERIC_ROWS ? m_end - m0 : GENERIC_ROWS;
        const uint8_t *a_rows[GENERIC_ROWS];
        for (int r = 0; r < GENERIC_ROWS; r++)
            a_rows[r] = args->a + (ptrdiff_t)(m0 + (r < rows ? r : rows - 1)) * args->lda;

        for (int panel = 0; panel < panel_count; panel++) {
            const int8_t *b = panels + (size_t)panel * groups * CK_PANEL_WIDTH * 4;
            int32_t acc[GENERIC_ROWS][CK_PANEL_WIDTH];
            memset(acc, 0, sizeof acc);
            for (int g = 0; g < groups; g++, b += CK_PANEL_WIDTH * 4) {
                const int count = g < full_groups ? 4 : tail;
                for (int r = 0; r < GENERIC_ROWS; r++) {
                    uint8_t a4[4];
                    uint32_t word = ck_load_group(a_rows[r] + g * 4, count);
                    memcpy(a4, &word, 4);
                    for (int c = 0; c < CK_PANEL_WIDTH; c++) {
                        acc[r][c] += (int32_t)a4[0] * b[c * 4 + 0] + (int32_t)a4[1] * b[c * 4 + 1]
                                   + (int32_t)a4[2] * b[c * 4 + 2] + (int32_t)a4[3] * b[c * 4 + 3];
                    }
                }
            }
            const int n0 = panel * CK_PANEL_WIDTH;
            const int columns = N - n0 < CK_PANEL_WIDTH ? N - n0 : CK_PANEL_WIDTH;
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    ck_epilogue_one(args, m0 + r, n0 + c, acc[r][c] - args->a_zero_point * column_sums[n0 + c]);
        }
    }
}
