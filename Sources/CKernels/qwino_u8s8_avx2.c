// Int8 Winograd F(2x2, 3x3) and F(4x4, 3x3) on AVX2 (ck_qwino_u8s8): the input transform of 16 channels at a time in
// int16 lanes, the 16 or 36 transformed-domain GEMMs on vpmaddwd (a channel pair of a tile broadcast against 16
// output channels of packed U'; register tile 6 tiles x 16 channels = 12 accumulators), the output transform in int32
// lanes and the AVX2 epilogue of the direct kernels. Same bits as ck_qwino_u8s8_generic (every step is exact integer
// arithmetic modulo 2^32, see ck_qwino_internal.h) and so as im2col + ck_qgemm_u8s8.
#include "ck_qwino_internal.h"
#if defined(__x86_64__)
#include "ck_avx2_epilogue.h"

// The 16 channels at c0 (`valid` of them inside C) of input pixel (y, x) widened to int16; channels past C read 0
// (their U' is 0, so any value would do).
AVX2_TARGET static inline __m256i load_pixel16(const ck_qwino_args *a, int y, int x, int c0, int valid) {
    const uint8_t *p = a->input + (ptrdiff_t)y * a->row_stride + (ptrdiff_t)x * a->pixel_stride + c0;
    if (valid == 16) return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
    uint8_t buffer[16] = {0};
    memcpy(buffer, p, (size_t)valid);
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)buffer));
}

// Which of the n window rows from y0 and columns from x0 (dilation apart) lie inside the image.
static inline void window_inside(const ck_qwino_args *a, int y0, int x0, int n, int *inside_y, int *inside_x) {
    for (int i = 0; i < n; i++) {
        inside_y[i] = y0 + i * a->dilation_h >= 0 && y0 + i * a->dilation_h < a->height;
        inside_x[i] = x0 + i * a->dilation_w >= 0 && x0 + i * a->dilation_w < a->width;
    }
}

// V = B^T d B for the 16 channels at c0 of the tile at (oy, ox); point p goes to v + p*point_stride.
AVX2_TARGET static void input_transform_tile(const ck_qwino_args *a, int oy, int ox, int16_t *v, size_t point_stride,
                                             int padded_c) {
    const int y0 = oy - a->pad_top, x0 = ox - a->pad_left;
    const __m256i pad = _mm256_set1_epi16((short)a->pad_value);
    int inside_y[4], inside_x[4];
    window_inside(a, y0, x0, 4, inside_y, inside_x);
    for (int c0 = 0; c0 < padded_c; c0 += 16) {   // padded_c = C rounded up to 16: valid >= 1
        const int valid = a->channels - c0 >= 16 ? 16 : a->channels - c0;
        __m256i d[4][4];
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                d[i][j] = !inside_y[i] || !inside_x[j]
                    ? pad : load_pixel16(a, y0 + i * a->dilation_h, x0 + j * a->dilation_w, c0, valid);
            }
        }
        __m256i e[4][4];
        for (int j = 0; j < 4; j++) {
            e[0][j] = _mm256_sub_epi16(d[0][j], d[2][j]);
            e[1][j] = _mm256_add_epi16(d[1][j], d[2][j]);
            e[2][j] = _mm256_sub_epi16(d[2][j], d[1][j]);
            e[3][j] = _mm256_sub_epi16(d[1][j], d[3][j]);
        }
        for (int i = 0; i < 4; i++) {
            int16_t *row = v + (size_t)(i * 4) * point_stride + c0;
            _mm256_storeu_si256((__m256i *)row, _mm256_sub_epi16(e[i][0], e[i][2]));
            _mm256_storeu_si256((__m256i *)(row + point_stride), _mm256_add_epi16(e[i][1], e[i][2]));
            _mm256_storeu_si256((__m256i *)(row + 2 * point_stride), _mm256_sub_epi16(e[i][2], e[i][1]));
            _mm256_storeu_si256((__m256i *)(row + 3 * point_stride), _mm256_sub_epi16(e[i][1], e[i][3]));
        }
    }
}

// B^T x of F(4x4, 3x3) on six int16 vectors (each result fits int16, so wrapping intermediates do no harm).
AVX2_TARGET static inline void bt6(const __m256i x[6], __m256i r[6]) {
    const __m256i x4_x2 = _mm256_sub_epi16(x[4], x[2]), x3_x1 = _mm256_sub_epi16(x[3], x[1]);
    r[0] = _mm256_add_epi16(x4_x2, _mm256_slli_epi16(_mm256_sub_epi16(x[0], x[2]), 2));
    r[1] = _mm256_sub_epi16(_mm256_add_epi16(x[3], x[4]), _mm256_slli_epi16(_mm256_add_epi16(x[1], x[2]), 2));
    r[2] = _mm256_add_epi16(_mm256_sub_epi16(x[4], x[3]), _mm256_slli_epi16(_mm256_sub_epi16(x[1], x[2]), 2));
    r[3] = _mm256_add_epi16(x4_x2, _mm256_slli_epi16(x3_x1, 1));
    r[4] = _mm256_sub_epi16(x4_x2, _mm256_slli_epi16(x3_x1, 1));
    r[5] = _mm256_add_epi16(_mm256_sub_epi16(x[5], x[3]), _mm256_slli_epi16(_mm256_sub_epi16(x[1], x[3]), 2));
}

// V = B^T d B of F(4x4, 3x3) for the 16 channels at c0 of the tile at (oy, ox), column pass then row pass through
// a 6x6 buffer; point p goes to v + p*point_stride.
AVX2_TARGET static void input_transform_tile4(const ck_qwino_args *a, int oy, int ox, int16_t *v, size_t point_stride,
                                              int padded_c) {
    const int y0 = oy - a->pad_top, x0 = ox - a->pad_left;
    const __m256i pad = _mm256_set1_epi16((short)a->pad_value);
    int inside_y[6], inside_x[6];
    window_inside(a, y0, x0, 6, inside_y, inside_x);
    for (int c0 = 0; c0 < padded_c; c0 += 16) {   // padded_c = C rounded up to 16: valid >= 1
        const int valid = a->channels - c0 >= 16 ? 16 : a->channels - c0;
        __m256i e[6][6];
        for (int j = 0; j < 6; j++) {
            __m256i d[6];
            for (int i = 0; i < 6; i++) {
                d[i] = !inside_y[i] || !inside_x[j]
                    ? pad : load_pixel16(a, y0 + i * a->dilation_h, x0 + j * a->dilation_w, c0, valid);
            }
            __m256i r[6];
            bt6(d, r);
            for (int i = 0; i < 6; i++) e[i][j] = r[i];
        }
        for (int i = 0; i < 6; i++) {
            __m256i r[6];
            bt6(e[i], r);
            int16_t *row = v + (size_t)(i * 6) * point_stride + c0;
            for (int j = 0; j < 6; j++) _mm256_storeu_si256((__m256i *)(row + j * point_stride), r[j]);
        }
    }
}

// One row of the register tile: its channel pair broadcast, times both halves of the panel. One broadcast live at a
// time: 12 accumulators + 2 weight vectors + 1 broadcast = 15 of the 16 ymm registers (no spills).
#define QW_ROW(r) { const __m256i x = _mm256_set1_epi32(load_pair(a##r + 2 * j)); \
                    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(x, b0)); \
                    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(x, b1)); }

static inline int32_t load_pair(const int16_t *p) {
    int32_t word;
    memcpy(&word, p, 4);
    return word;
}

// The transformed-domain products (`points` of them) of 6 tiles (rows a_rows[r] of point 0, later points
// point_stride further) with one 16-channel panel of U' (point p at u + p*u_point_stride), into m[p][6][16].
AVX2_TARGET static void products_6x16(const int16_t *const a_rows[6], size_t point_stride, const int16_t *u,
                                      size_t u_point_stride, int points, int pairs, int32_t *m) {
    for (int p = 0; p < points; p++) {
        const int16_t *a0 = a_rows[0] + p * point_stride, *a1 = a_rows[1] + p * point_stride;
        const int16_t *a2 = a_rows[2] + p * point_stride, *a3 = a_rows[3] + p * point_stride;
        const int16_t *a4 = a_rows[4] + p * point_stride, *a5 = a_rows[5] + p * point_stride;
        const int16_t *b = u + p * u_point_stride;
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int j = 0; j < pairs; j++) {
            const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + 32 * j));
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 32 * j + 16));
            QW_ROW(0) QW_ROW(1) QW_ROW(2) QW_ROW(3) QW_ROW(4) QW_ROW(5)
        }
        int32_t *out = m + (size_t)p * CK_QWINO_TILE_ROWS * 16;
        _mm256_storeu_si256((__m256i *)(out + 0), c00);  _mm256_storeu_si256((__m256i *)(out + 8), c01);
        _mm256_storeu_si256((__m256i *)(out + 16), c10); _mm256_storeu_si256((__m256i *)(out + 24), c11);
        _mm256_storeu_si256((__m256i *)(out + 32), c20); _mm256_storeu_si256((__m256i *)(out + 40), c21);
        _mm256_storeu_si256((__m256i *)(out + 48), c30); _mm256_storeu_si256((__m256i *)(out + 56), c31);
        _mm256_storeu_si256((__m256i *)(out + 64), c40); _mm256_storeu_si256((__m256i *)(out + 72), c41);
        _mm256_storeu_si256((__m256i *)(out + 80), c50); _mm256_storeu_si256((__m256i *)(out + 88), c51);
    }
}
#undef QW_ROW

// Output transform of F(2x2, 3x3) of row r of m (8 channels at lane offset 8h) into the accumulators of the tile's
// 4 pixels.
AVX2_TARGET static inline void output_transform(const int32_t *m, int r, int h, __m256i y[4]) {
    __m256i v[16];
    for (int p = 0; p < 16; p++)
        v[p] = _mm256_loadu_si256((const __m256i *)(m + ((size_t)p * CK_QWINO_TILE_ROWS + r) * 16 + 8 * h));
    __m256i s0[4], s1[4];
    for (int j = 0; j < 4; j++) {
        s0[j] = _mm256_add_epi32(_mm256_add_epi32(v[j], v[4 + j]), v[8 + j]);
        s1[j] = _mm256_sub_epi32(_mm256_sub_epi32(v[4 + j], v[8 + j]), v[12 + j]);
    }
    y[0] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(s0[0], s0[1]), s0[2]), 2);
    y[1] = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(s0[1], s0[2]), s0[3]), 2);
    y[2] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(s1[0], s1[1]), s1[2]), 2);
    y[3] = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(s1[1], s1[2]), s1[3]), 2);
}

// A'^T x of F(4x4, 3x3) on six int32 vectors, modulo 2^32: [6,4,4,1,1,0], [0,4,-4,2,-2,0], [0,4,4,4,4,0],
// [0,4,-4,8,-8,24].
AVX2_TARGET static inline void at6(const __m256i x[6], __m256i r[4]) {
    const __m256i p = _mm256_add_epi32(x[1], x[2]), q = _mm256_sub_epi32(x[1], x[2]);
    const __m256i s = _mm256_add_epi32(x[3], x[4]), t = _mm256_sub_epi32(x[3], x[4]);
    const __m256i x0_3 = _mm256_add_epi32(x[0], _mm256_add_epi32(x[0], x[0]));                        // 3 x0
    const __m256i x5_3 = _mm256_add_epi32(x[5], _mm256_add_epi32(x[5], x[5]));                        // 3 x5
    r[0] = _mm256_add_epi32(_mm256_slli_epi32(_mm256_add_epi32(x0_3, _mm256_slli_epi32(p, 1)), 1), s);   // 6x0 + 4p + s
    r[1] = _mm256_slli_epi32(_mm256_add_epi32(_mm256_slli_epi32(q, 1), t), 1);                        // 4q + 2t
    r[2] = _mm256_slli_epi32(_mm256_add_epi32(p, s), 2);                                              // 4p + 4s
    r[3] = _mm256_slli_epi32(_mm256_add_epi32(_mm256_add_epi32(q, _mm256_slli_epi32(t, 1)),
                                              _mm256_slli_epi32(x5_3, 1)), 2);                        // 4q + 8t + 24x5
}

// Output transform of F(4x4, 3x3) of row r of m (8 channels at lane offset 8h): the accumulators of the tile's 16
// pixels (row-major) into y.
AVX2_TARGET static void output_transform4(const int32_t *m, int r, int h, __m256i y[16]) {
    __m256i columns[4][6];
    for (int j = 0; j < 6; j++) {
        __m256i x[6], s[4];
        for (int i = 0; i < 6; i++)
            x[i] = _mm256_loadu_si256((const __m256i *)(m + ((size_t)(i * 6 + j) * CK_QWINO_TILE_ROWS + r) * 16 + 8 * h));
        at6(x, s);
        for (int i = 0; i < 4; i++) columns[i][j] = s[i];
    }
    const __m256i inverse = _mm256_set1_epi32((int)CK_QWINO_INVERSE_9);
    for (int i = 0; i < 4; i++) {
        __m256i t[4];
        at6(columns[i], t);
        for (int j = 0; j < 4; j++) y[i * 4 + j] = _mm256_srai_epi32(_mm256_mullo_epi32(t[j], inverse), 6);
    }
}

AVX2_TARGET void ck_qwino_u8s8_avx2(const ck_qwino_args *a, int row_begin, int row_end, void *scratch) {
    const ck_qwino_header *h = (const ck_qwino_header *)a->packed_wino;
    const int pc = h->padded_c, panels = h->padded_n / 16, pairs = pc / 2, points = h->points, tile = h->m;
    const size_t panel_elements = ck_qwino_panel_elements(h);
    const size_t u_point_stride = (size_t)panels * panel_elements;
    const int16_t *u = ck_qwino_weights(a->packed_wino);
    const ck_qgemm_args *ep = a->epilogue;
    const ck_qwino_scratch s = ck_qwino_scratch_split(scratch, points, pc);
    const size_t point_stride = (size_t)s.block_tiles * pc;
    int row = row_begin, col = 0;
    for (;;) {
        const int count = ck_qwino_next_tiles(a, tile, &row, &col, row_end, s.block_tiles, s.origins);
        if (count == 0) break;
        for (int t = 0; t < count; t++) {
            int16_t *v = s.v + (size_t)t * pc;
            if (tile == 4) input_transform_tile4(a, s.origins[2 * t], s.origins[2 * t + 1], v, point_stride, pc);
            else input_transform_tile(a, s.origins[2 * t], s.origins[2 * t + 1], v, point_stride, pc);
        }
        for (int panel = 0; panel < panels; panel++) {
            const int n0 = panel * 16;
            const int columns = ep->N - n0 < 16 ? ep->N - n0 : 16;
            avx2_panel_constants constants;
            avx2_panel_constants_init(&constants, ep, n0, columns);
            for (int t0 = 0; t0 < count; t0 += CK_QWINO_TILE_ROWS) {
                const int rows = count - t0 < CK_QWINO_TILE_ROWS ? count - t0 : CK_QWINO_TILE_ROWS;
                const int16_t *a_rows[CK_QWINO_TILE_ROWS];
                for (int r = 0; r < CK_QWINO_TILE_ROWS; r++)   // a missing tile repeats the last (result unused)
                    a_rows[r] = s.v + (size_t)(t0 + (r < rows ? r : rows - 1)) * pc;
                products_6x16(a_rows, point_stride, u + (size_t)panel * panel_elements, u_point_stride, points, pairs,
                              s.m);
                for (int r = 0; r < rows; r++) {
                    const int oy = s.origins[2 * (t0 + r)], ox = s.origins[2 * (t0 + r) + 1];
                    __m256i lo[16], hi[16];
                    if (tile == 4) {
                        output_transform4(s.m, r, 0, lo);
                        output_transform4(s.m, r, 1, hi);
                    } else {
                        output_transform(s.m, r, 0, lo);
                        output_transform(s.m, r, 1, hi);
                    }
                    for (int q = 0; q < tile * tile; q++) {
                        const int py = oy + (q / tile) * a->dilation_h, px = ox + (q % tile) * a->dilation_w;
                        if (py < a->out_height && px < a->out_width)
                            avx2_epilogue_row(ep, &constants, py * a->out_width + px, n0, columns, lo[q], hi[q]);
                    }
                }
            }
        }
    }
}

#endif
