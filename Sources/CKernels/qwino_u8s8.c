// Int8 Winograd F(2x2, 3x3) (ck_qwino_u8s8 in ckernels.h): weight transform and packing, the plain-C kernel that
// defines the arithmetic (every other kernel must give its bits), argument checks and the run-time choice of kernel.
// The transforms and why they are exact: ck_qwino_internal.h.
#include "ck_qwino_internal.h"

static int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }

size_t ck_qwino_packed_size(int N, int C) {
    if (N < 1 || C < 1 || C > CK_QGEMM_MAX_K / 9) return 0;
    return sizeof(ck_qwino_header) + (size_t)CK_QWINO_POINTS * round_up(N, 16) * round_up(C, 16) * 2;
}

// G' = 2G of F(2x2, 3x3): U' = G' g G'^T is an integer matrix, 4x the usual U.
static const int g_prime[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};

int ck_qwino_pack_weights(const int8_t *w, int N, int C, void *packed) {
    const size_t size = ck_qwino_packed_size(N, C);
    if (!w || !packed || size == 0) return -1;
    int max_abs = 0;
    for (size_t i = 0; i < (size_t)N * 9 * C; i++) {
        const int a = w[i] < 0 ? -w[i] : w[i];
        if (a > max_abs) max_abs = a;
    }
    // 4 * acc must fit int32: |acc| <= 9 * C * 255 * max|w|.
    if (36.0 * C * 255.0 * max_abs >= 2147483648.0) return -1;
    memset(packed, 0, size);
    ck_qwino_header *h = (ck_qwino_header *)packed;
    h->magic = CK_QWINO_MAGIC;
    h->n = N; h->c = C;
    h->padded_n = round_up(N, 16); h->padded_c = round_up(C, 16);
    h->max_abs_weight = max_abs;
    int16_t *u = (int16_t *)ck_qwino_weights(packed);
    const int panels = h->padded_n / 16;
    const size_t panel_elements = ck_qwino_panel_elements(h);
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
            int g[3][3], t[4][3];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) g[ky][kx] = w[(size_t)n * 9 * C + (size_t)(ky * 3 + kx) * C + c];
            for (int i = 0; i < 4; i++)
                for (int kx = 0; kx < 3; kx++)
                    t[i][kx] = g_prime[i][0] * g[0][kx] + g_prime[i][1] * g[1][kx] + g_prime[i][2] * g[2][kx];
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    const int value = t[i][0] * g_prime[j][0] + t[i][1] * g_prime[j][1] + t[i][2] * g_prime[j][2];
                    const size_t at = ((size_t)(i * 4 + j) * panels + n / 16) * panel_elements
                                    + (size_t)(c / 2) * 32 + (size_t)(n % 16) * 2 + (size_t)(c % 2);
                    u[at] = (int16_t)value;   // |value| <= 9 * 127 = 1143
                }
            }
        }
    }
    return 0;
}

int ck_qwino_tile_rows(int out_height, int dilation_h) {
    if (out_height < 1 || dilation_h < 1) return 0;
    return ck_qwino_tile_count(out_height, dilation_h);
}

size_t ck_qwino_scratch_size(int C) {
    if (C < 1 || C > CK_QGEMM_MAX_K / 9) return 0;
    return ck_qwino_scratch_bytes(round_up(C, 16));
}

// V = B^T d B of one 4x4 patch (one channel), in the order of ck_qwino_internal.h.
static void input_transform(const int d[4][4], int v[4][4]) {
    int e[4][4];
    for (int j = 0; j < 4; j++) {
        e[0][j] = d[0][j] - d[2][j];
        e[1][j] = d[1][j] + d[2][j];
        e[2][j] = d[2][j] - d[1][j];
        e[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; i++) {
        v[i][0] = e[i][0] - e[i][2];
        v[i][1] = e[i][1] + e[i][2];
        v[i][2] = e[i][2] - e[i][1];
        v[i][3] = e[i][1] - e[i][3];
    }
}

// Y = A^T m A, modulo 2^32, then the exact division by 4 (see ck_qwino_internal.h).
static void output_transform(const uint32_t m[16], int32_t y[4]) {
    uint32_t s[2][4];
    for (int j = 0; j < 4; j++) {
        s[0][j] = m[j] + m[4 + j] + m[8 + j];
        s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    for (int i = 0; i < 2; i++) {
        y[2 * i] = (int32_t)(s[i][0] + s[i][1] + s[i][2]) / 4;
        y[2 * i + 1] = (int32_t)(s[i][1] - s[i][2] - s[i][3]) / 4;
    }
}

void ck_qwino_u8s8_generic(const ck_qwino_args *a, int row_begin, int row_end, void *scratch) {
    const ck_qwino_header *h = (const ck_qwino_header *)a->packed_wino;
    const int pc = h->padded_c, panels = h->padded_n / 16;
    const size_t panel_elements = ck_qwino_panel_elements(h);
    const int16_t *u = ck_qwino_weights(a->packed_wino);
    const ck_qgemm_args *ep = a->epilogue;
    const int32_t *column_sums = ck_packed_column_sums(ep->packed_b);
    const ck_qwino_scratch s = ck_qwino_scratch_split(scratch, pc);
    const size_t point_stride = (size_t)s.block_tiles * pc;
    int row = row_begin, col = 0;
    for (;;) {
        const int count = ck_qwino_next_tiles(a, &row, &col, row_end, s.block_tiles, s.origins);
        if (count == 0) break;
        for (int t = 0; t < count; t++) {
            const int oy = s.origins[2 * t], ox = s.origins[2 * t + 1];
            for (int c = 0; c < pc; c++) {
                int d[4][4], v[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        d[i][j] = c < a->channels ? ck_qwino_input(a, oy - a->pad_top + i * a->dilation_h,
                                                                   ox - a->pad_left + j * a->dilation_w, c) : 0;
                input_transform(d, v);
                for (int p = 0; p < CK_QWINO_POINTS; p++) s.v[p * point_stride + (size_t)t * pc + c] = (int16_t)v[p / 4][p % 4];
            }
        }
        for (int n = 0; n < ep->N; n++) {
            const int32_t correction = ep->a_zero_point * column_sums[n];
            for (int t = 0; t < count; t++) {
                uint32_t m[CK_QWINO_POINTS];
                for (int p = 0; p < CK_QWINO_POINTS; p++) {
                    const int16_t *vp = s.v + p * point_stride + (size_t)t * pc;
                    const int16_t *up = u + ((size_t)p * panels + n / 16) * panel_elements + (size_t)(n % 16) * 2;
                    uint32_t acc = 0;
                    for (int c = 0; c < pc; c++) acc += (uint32_t)((int32_t)vp[c] * (int32_t)up[(size_t)(c / 2) * 32 + c % 2]);
                    m[p] = acc;
                }
                int32_t y[4];
                output_transform(m, y);
                const int oy = s.origins[2 * t], ox = s.origins[2 * t + 1];
                for (int q = 0; q < 4; q++) {
                    const int py = oy + (q / 2) * a->dilation_h, px = ox + (q % 2) * a->dilation_w;
                    if (py < a->out_height && px < a->out_width)
                        ck_epilogue_one(ep, py * a->out_width + px, n, y[q] - correction);
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
    if (h->magic != CK_QWINO_MAGIC || h->c != a->channels || h->n != ep->N) return -1;
    if (!ep->packed_b || ck_packed_header_of(ep->packed_b)->magic != CK_PACKED_MAGIC) return -1;
    if (ck_packed_header_of(ep->packed_b)->n != h->n || ck_packed_header_of(ep->packed_b)->k != 9 * h->c) return -1;
    if (!ep->multiplier || (!ep->out_f32 && !ep->out_u8) || ep->ldc < ep->N) return -1;
    if ((ep->residual_f32 || ep->residual_u8) && ep->ld_residual < ep->N) return -1;
    if (a->height < 1 || a->width < 1 || a->pixel_stride < a->channels || a->row_stride < (ptrdiff_t)a->width * a->pixel_stride)
        return -1;
    if (a->dilation_h < 1 || a->dilation_w < 1 || a->out_height < 1 || a->out_width < 1) return -1;
    const int rows = ck_qwino_tile_rows(a->out_height, a->dilation_h);
    if (row_begin < 0) row_begin = 0;
    if (row_end > rows) row_end = rows;
    if (row_begin >= row_end) return 0;
    kernel_for_active_isa()(a, row_begin, row_end, scratch);
    return 0;
}
