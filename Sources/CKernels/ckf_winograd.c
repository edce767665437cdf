// Winograd F(m×m, 3×3) convolution pieces for the optimised float executor (ckernels_float.h): the weight
// transform (G·g·Gᵀ, in double), the input transform (Bᵀ·d·B of every tile, written straight into the layout the
// per-point GEMMs read) and the output transform (Aᵀ·M·A) fused with the convolution epilogue. m = 4 (6×6 input
// tiles, 36 transform points) or m = 6 (8×8, 64 points), interpolation points 0, ±1, ±2 (and ±½ for m = 6) and ∞.
// A dilated 3×3 convolution is a 3×3 one on each of the dilation² sub-grids of pixels whose coordinates agree
// modulo the dilation, so tiles are enumerated per sub-grid ("phase"). The error bound is derived in
// docs/architecture.md ("Winograd convolutions").
#include <stdint.h>
#include <string.h>
#include "ckf_internal.h"

typedef float ckf_v8 __attribute__((vector_size(32)));
typedef float ckf_v8u __attribute__((vector_size(32), aligned(4)));

// F(4×4, 3×3): points 0, 1, −1, 2, −2, ∞.
static const float BT4[6][6] = {
    {4, 0, -5, 0, 1, 0},
    {0, -4, -4, 1, 1, 0},
    {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0},
    {0, 2, -1, -2, 1, 0},
    {0, 4, 0, -5, 0, 1},
};
static const double G4[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};
static const float AT4[4][6] = {
    {1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0},
    {0, 1, 1, 4, 4, 0},
    {0, 1, -1, 8, -8, 1},
};

// F(6×6, 3×3): points 0, 1, −1, 2, −2, ½, −½, ∞.
static const float BT6[8][8] = {
    {1, 0, -21.0f / 4, 0, 21.0f / 4, 0, -1, 0},
    {0, 1, 1, -17.0f / 4, -17.0f / 4, 1, 1, 0},
    {0, -1, 1, 17.0f / 4, -17.0f / 4, -1, 1, 0},
    {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
    {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
    {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
    {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
    {0, -1, 0, 21.0f / 4, 0, -21.0f / 4, 0, 1},
};
static const double G6[8][3] = {
    {1, 0, 0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45},
    {32.0 / 45, -16.0 / 45, 8.0 / 45},
    {0, 0, 1},
};
static const float AT6[6][8] = {
    {1, 1, 1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
    {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
    {0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
    {0, 1, 1, 16, 16, 0.0625f, 0.0625f, 0},
    {0, 1, -1, 32, -32, 0.03125f, -0.03125f, 1},
};

long ckf_winograd_tile_count(const ckf_winograd_conv *s) {
    return (long)s->dilation * s->dilation * s->tiles_h * s->tiles_w;
}

int ckf_winograd_setup(ckf_winograd_conv *s, int m, int in_channels, int out_channels, int in_h, int in_w,
                       int padding, int dilation) {
    if (s == NULL || (m != 4 && m != 6) || in_channels < 1 || out_channels < 1 || dilation < 1 || padding < 0) return 0;
    const int out_h = in_h + 2 * padding - 2 * dilation, out_w = in_w + 2 * padding - 2 * dilation;
    if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) return 0;
    s->m = m;
    s->in_channels = in_channels; s->out_channels = out_channels;
    s->in_h = in_h; s->in_w = in_w; s->out_h = out_h; s->out_w = out_w;
    s->padding = padding; s->dilation = dilation;
    const int sub_h = (out_h + dilation - 1) / dilation, sub_w = (out_w + dilation - 1) / dilation;
    s->tiles_h = (sub_h + m - 1) / m;
    s->tiles_w = (sub_w + m - 1) / m;
    return 1;
}

int ckf_winograd_points(int m) { return m == 4 ? 36 : m == 6 ? 64 : 0; }

void ckf_winograd_weights(int m, int out_channels, int in_channels, const float *w, float *v) {
    const int n = m + 2, in = in_channels, out = out_channels;
    const double *g = m == 4 ? &G4[0][0] : &G6[0][0];
    for (int o = 0; o < out; o++)
        for (int c = 0; c < in; c++) {
            const float *k = w + ((size_t)o * (size_t)in + (size_t)c) * 9;
            double gk[8][3];   // G·k
            for (int i = 0; i < n; i++)
                for (int j = 0; j < 3; j++)
                    gk[i][j] = g[i * 3 + 0] * k[0 * 3 + j] + g[i * 3 + 1] * k[1 * 3 + j] + g[i * 3 + 2] * k[2 * 3 + j];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    const double t = gk[i][0] * g[j * 3 + 0] + gk[i][1] * g[j * 3 + 1] + gk[i][2] * g[j * 3 + 2];
                    v[((size_t)(i * n + j) * (size_t)out + (size_t)o) * (size_t)in + (size_t)c] = (float)t;
                }
        }
}

void ckf_winograd_matrices(int m, double *bt, double *g, double *at) {
    const int n = m + 2;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) bt[i * n + j] = m == 4 ? BT4[i][j] : BT6[i][j];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++) g[i * 3 + j] = m == 4 ? G4[i][j] : G6[i][j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) at[i * n + j] = m == 4 ? AT4[i][j] : AT6[i][j];
}

#define WM 4
#define CKF_TARGET
#define CKF_NAME(x) generic4_##x
#include "ckf_winograd_impl.h"
#define WM 6
#define CKF_TARGET
#define CKF_NAME(x) generic6_##x
#include "ckf_winograd_impl.h"

#if defined(__x86_64__)
#define WM 4
#define CKF_TARGET __attribute__((target("avx2,fma")))
#define CKF_NAME(x) avx2_4_##x
#include "ckf_winograd_impl.h"
#define WM 6
#define CKF_TARGET __attribute__((target("avx2,fma")))
#define CKF_NAME(x) avx2_6_##x
#include "ckf_winograd_impl.h"
#endif

void ckf_winograd_input(const ckf_winograd_conv *s, const float *x, long tile_begin, int tiles, float *u, ptrdiff_t ld) {
    if (s == NULL || x == NULL || u == NULL || tiles < 1 || ld < ((tiles + 7) & ~7)) return;
#if defined(__x86_64__)
    if (ckf_active_isa() == CKF_ISA_AVX2) {
        if (s->m == 4) avx2_4_input(s, x, tile_begin, tiles, u, ld); else avx2_6_input(s, x, tile_begin, tiles, u, ld);
        return;
    }
#endif
    if (s->m == 4) generic4_input(s, x, tile_begin, tiles, u, ld); else generic6_input(s, x, tile_begin, tiles, u, ld);
}

void ckf_winograd_output(const ckf_winograd_conv *s, const float *m, ptrdiff_t ld, long tile_begin, int tiles, float *y,
                         const float *bias, const float *const *residuals, int residual_count, int relu) {
    if (s == NULL || m == NULL || y == NULL || tiles < 1 || ld < ((tiles + 7) & ~7)) return;
#if defined(__x86_64__)
    if (ckf_active_isa() == CKF_ISA_AVX2) {
        if (s->m == 4) avx2_4_output(s, m, ld, tile_begin, tiles, y, bias, residuals, residual_count, relu);
        else avx2_6_output(s, m, ld, tile_begin, tiles, y, bias, residuals, residual_count, relu);
        return;
    }
#endif
    if (s->m == 4) generic4_output(s, m, ld, tile_begin, tiles, y, bias, residuals, residual_count, relu);
    else generic6_output(s, m, ld, tile_begin, tiles, y, bias, residuals, residual_count, relu);
}
