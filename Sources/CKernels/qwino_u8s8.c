// Int8 Winograd F(2x2, 3x3) and F(4x4, 3x3) (ck_qwino_u8s8 in ckernels.h): weight transforms and packing, the
// plain-C kernel that defines the arithmetic (every other kernel must give its bits), argument checks and the
// run-time choice of kernel.
// The transforms and why they are exact: ck_qwino_internal.h.
#include "ck_qwino_internal.h"

static int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }

// The integer transforms of ck_qwino_internal.h, by tile size m (index m / 2 - 1); t = m + 2 points per axis.
typedef struct {
    int m, t;
    int g[6][3];        // G' (t x 3)
    int bt[6][6];       // B^T (t x t)
    int at[4][6];       // A'^T (m x t)
    uint32_t inverse;   // T * inverse = 2^shift * acc modulo 2^32
    int shift;
} transforms;

static const transforms transforms_by_m[2] = {
    {2, 4,
     {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}},
     {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
     {{1, 1, 1, 0}, {0, 1, -1, -1}},
     1, 2},
    {4, 6,
     {{1, 0, 0}, {-1, -1, -1}, {-1, 1, -1}, {1, 2, 4}, {1, -2, 4}, {0, 0, 1}},
     {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0},
      {0, 4, 0, -5, 0, 1}},
     {{6, 4, 4, 1, 1, 0}, {0, 4, -4, 2, -2, 0}, {0, 4, 4, 4, 4, 0}, {0, 4, -4, 8, -8, 24}},
     CK_QWINO_INVERSE_9, 6},
};

static const transforms *transforms_for(int m) { return m == 2 || m == 4 ? &transforms_by_m[m / 2 - 1] : NULL; }

size_t ck_qwino_packed_size(int m, int N, int C) {
    const transforms *f = transforms_for(m);
    if (!f || N < 1 || C < 1 || C > CK_QGEMM_MAX_K / 9) return 0;
    return sizeof(ck_qwino_header) + (size_t)f->t * f->t * round_up(N, 16) * round_up(C, 16) * 2;
}

// Whether the transform of tile size m stays exact for these weights (see ck_qwino_internal.h).
static int weights_fit(int m, const int8_t *w, int N, int C, int *max_abs_out) {
    int max_abs = 0;
    double largest_sum = 0;
    for (int n = 0; n < N; n++) {
        double sum = 0;
        for (size_t i = (size_t)n * 9 * C; i < (size_t)(n + 1) * 9 * C; i++) {
            const int a = w[i] < 0 ? -w[i] : w[i];
            sum += a;
            if (a > max_abs) max_abs = a;
        }
        if (sum > largest_sum) largest_sum = sum;
    }
    *max_abs_out = max_abs;
    if (m == 2) return 36.0 * C * 255.0 * max_abs < 2147483648.0;   // 4 * acc fits int32
    return 255.0 * largest_sum < 33554432.0;                         // |acc| < 2^25
}

int ck_qwino_pack_weights(int m, const int8_t *w, int N, int C, void *packed) {
    const transforms *f = transforms_for(m);
    const size_t size = ck_qwino_packed_size(m, N, C);
    if (!w || !packed || size == 0) return -1;
    int max_abs = 0;
    if (!weights_fit(m, w, N, C, &max_abs)) return -1;
    memset(packed, 0, size);
    ck_qwino_header *h = (ck_qwino_header *)packed;
    h->magic = CK_QWINO_MAGIC;
    h->n = N; h->c = C;
    h->padded_n = round_up(N, 16); h->padded_c = round_up(C, 16);
    h->max_abs_weight = max_abs;
    h->m = m; h->points = f->t * f->t;
    int16_t *u = (int16_t *)ck_qwino_weights(packed);
    const int panels = h->padded_n / 16, t = f->t;
    const size_t panel_elements = ck_qwino_panel_elements(h);
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
            int g[3][3], gt[6][3];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) g[ky][kx] = w[(size_t)n * 9 * C + (size_t)(ky * 3 + kx) * C + c];
            for (int i = 0; i < t; i++)
                for (int kx = 0; kx < 3; kx++)
                    gt[i][kx] = f->g[i][0] * g[0][kx] + f->g[i][1] * g[1][kx] + f->g[i][2] * g[2][kx];
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < t; j++) {
                    const int value = gt[i][0] * f->g[j][0] + gt[i][1] * f->g[j][1] + gt[i][2] * f->g[j][2];
                    const size_t at = ((size_t)(i * t + j) * panels + n / 16) * panel_elements
                                    + (size_t)(c / 2) * 32 + (size_t)(n % 16) * 2 + (size_t)(c % 2);
                    u[at] = (int16_t)value;   // |value| <= 9 * 127 = 1143 (m = 2), 49 * 127 = 6223 (m = 4)
                }
            }
        }
    }
    return 0;
}

int ck_qwino_tile_rows(int m, int out_height, int dilation_h) {
    if (!transforms_for(m) || out_height < 1 || dilation_h < 1) return 0;
    return ck_qwino_tile_count(out_height, dilation_h, m);
}

size_t ck_qwino_scratch_size(int m, int C) {
    const transforms *f = transforms_for(m);
    if (!f || C < 1 || C > CK_QGEMM_MAX_K / 9) return 0;
    return ck_qwino_scratch_bytes(f->t * f->t, round_up(C, 16));
}

void ck_qwino_u8s8_generic(const ck_qwino_args *a, int row_begin, int row_end, void *scratch) {
    const ck_qwino_header *h = (const ck_qwino_header *)a->packed_wino;
    const transforms *f = transforms_for(h->m);
    const int pc = h->padded_c, panels = h->padded_n / 16, t = f->t, m = f->m;
    const size_t panel_elements = ck_qwino_panel_elements(h);
    const int16_t *u = ck_qwino_weights(a->packed_wino);
    const ck_qgemm_args *ep = a->epilogue;
    const int32_t *column_sums = ck_packed_column_sums(ep->packed_b);
    const ck_qwino_scratch s = ck_qwino_scratch_split(scratch, h->points, pc);
    const size_t point_stride = (size_t)s.block_tiles * pc;
    int row = row_begin, col = 0;
    for (;;) {
        const int count = ck_qwino_next_tiles(a, m, &row, &col, row_end, s.block_tiles, s.origins);
        if (count == 0) break;
        for (int tile = 0; tile < count; tile++) {
            const int oy = s.origins[2 * tile], ox = s.origins[2 * tile + 1];
            for (int c = 0; c < pc; c++) {
                // V = B^T d B (int: |V| <= 25500).
                int d[6][6], e[6][6];
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++)
                        d[i][j] = c < a->channels ? ck_qwino_input(a, oy - a->pad_top + i * a->dilation_h,
                                                                   ox - a->pad_left + j * a->dilation_w, c) : 0;
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++) {
                        int sum = 0;
                        for (int k = 0; k < t; k++) sum += f->bt[i][k] * d[k][j];
                        e[i][j] = sum;
                    }
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++) {
                        int sum = 0;
                        for (int k = 0; k < t; k++) sum += e[i][k] * f->bt[j][k];
                        s.v[(size_t)(i * t + j) * point_stride + (size_t)tile * pc + c] = (int16_t)sum;
                    }
            }
        }
        for (int n = 0; n < ep->N; n++) {
            const int32_t correction = ep->a_zero_point * column_sums[n];
            for (int tile = 0; tile < count; tile++) {
                // The transformed-domain products, summed over channels modulo 2^32.
                uint32_t prod[6][6];
                for (int p = 0; p < t * t; p++) {
                    const int16_t *vp = s.v + p * point_stride + (size_t)tile * pc;
                    const int16_t *up = u + ((size_t)p * panels + n / 16) * panel_elements + (size_t)(n % 16) * 2;
                    uint32_t acc = 0;
                    for (int c = 0; c < pc; c++) acc += (uint32_t)((int32_t)vp[c] * (int32_t)up[(size_t)(c / 2) * 32 + c % 2]);
                    prod[p / t][p % t] = acc;
                }
                // T = A'^T prod A' modulo 2^32 = scale * acc; acc recovered exactly (ck_qwino_internal.h).
                uint32_t half[4][6];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < t; j++) {
                        uint32_t sum = 0;
                        for (int k = 0; k < t; k++) sum += (uint32_t)f->at[i][k] * prod[k][j];
                        half[i][j] = sum;
                    }
                const int oy = s.origins[2 * tile], ox = s.origins[2 * tile + 1];
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < m; j++) {
                        uint32_t sum = 0;
                        for (int k = 0; k < t; k++) sum += half[i][k] * (uint32_t)f->at[j][k];
                        const int32_t acc = (int32_t)(sum * f->inverse) / (1 << f->shift);   // exact division
                        const int py = oy + i * a->dilation_h, px = ox + j * a->dilation_w;
                        if (py < a->out_height && px < a->out_width)
                            ck_epilogue_one(ep, py * a->out_width + px, n, acc - correction);
                    }
                }
            }
        }
    }
}

static ck_qwino_kernel kernel_for_active_isa(void) {
#if defined(__x86_64__)
    const ck_isa isa = ck_active_isa();
    if (isa == CK_ISA_AVX2 || isa == CK_ISA_AVX512VNNI) return ck_qwino_u8s8_avx2;
#endif
    return ck_qwino_u8s8_generic;
}

int ck_qwino_preferred(void) { return ck_active_isa() == CK_ISA_AVX2; }

int ck_qwino_u8s8(const ck_qwino_args *a, int row_begin, int row_end, void *scratch) {
    if (!a || !a->input || !a->packed_wino || !a->epilogue || !scratch) return -1;
    const ck_qwino_header *h = (const ck_qwino_header *)a->packed_wino;
    const ck_qgemm_args *ep = a->epilogue;
    if (h->magic != CK_QWINO_MAGIC || !transforms_for(h->m) || h->c != a->channels || h->n != ep->N) return -1;
    if (!ep->packed_b || ck_packed_header_of(ep->packed_b)->magic != CK_PACKED_MAGIC) return -1;
    if (ck_packed_header_of(ep->packed_b)->n != h->n || ck_packed_header_of(ep->packed_b)->k != 9 * h->c) return -1;
    if (!ep->multiplier || (!ep->out_f32 && !ep->out_u8) || ep->ldc < ep->N) return -1;
    if ((ep->residual_f32 || ep->residual_u8) && ep->ld_residual < ep->N) return -1;
    if (a->height < 1 || a->width < 1 || a->pixel_stride < a->channels || a->row_stride < (ptrdiff_t)a->width * a->pixel_stride)
        return -1;
    if (a->dilation_h < 1 || a->dilation_w < 1 || a->out_height < 1 || a->out_width < 1) return -1;
    const int rows = ck_qwino_tile_rows(h->m, a->out_height, a->dilation_h);
    if (row_begin < 0) row_begin = 0;
    if (row_end > rows) row_end = rows;
    if (row_begin >= row_end) return 0;
    kernel_for_active_isa()(a, row_begin, row_end, scratch);
    return 0;
}
