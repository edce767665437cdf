// Portable C float kernels for the optimised float executor (ckernels_float.h): the fallback on every CPU and
// the scalar pieces (edges, tails) the vector kernels share. The window attention here follows the reference's
// order of operations exactly (expf, division, i-outer/j-inner separate multiply and add), so it is bit-identical
// to CondSegCore's ReferenceOps.windowAttention; the tests check that. Also the NHWC form of the portable attention.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include <math.h>
#include <string.h>
#include "ckf_internal.h"
#include "ck_internal.h"
#include "ckernels.h"

#define CKF_TARGET
#define CKF_NAME(x) generic_##x
#include "ckf_elementwise_impl.h"
#undef CKF_TARGET
#undef CKF_NAME
#undef CKF_QUANTIZE_U8

void ckf_generic_sigmoid(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void generic_exp_portable(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = ckf_exp_scalar(x[i]);
}

static void generic_sigmoid_portable(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + ckf_exp_scalar(-x[i]));
}

// The fixed-order GEMM on packed weights, one element at a time (ckf_gemm_fixed).
static void generic_gemm_fixed(const float *a, ptrdiff_t lda, const float *packed, int n, int k, int m_begin, int m_end,
                               float *c, ptrdiff_t ldc, const float *bias) {
    for (int p = 0; p * CKF_GEMM_PANEL < n; p++) {
        const float *panel = packed + (size_t)p * (size_t)k * CKF_GEMM_PANEL;
        const int width = n - p * CKF_GEMM_PANEL < CKF_GEMM_PANEL ? n - p * CKF_GEMM_PANEL : CKF_GEMM_PANEL;
        for (int m = m_begin; m < m_end; m++) {
            const float *row = a + (ptrdiff_t)m * lda;
            float *out = c + (ptrdiff_t)m * ldc + p * CKF_GEMM_PANEL;
            for (int j = 0; j < width; j++) {
                float acc = 0.0f;
                for (int q = 0; q < k; q++) acc = fmaf(row[q], panel[(size_t)q * CKF_GEMM_PANEL + (size_t)j], acc);
                out[j] = bias ? acc + bias[p * CKF_GEMM_PANEL + j] : acc;
            }
        }
    }
}

void ckf_softmax_rows_scalar(const ckf_attention_args *args, int h, int p0, int p1, int x_begin, int x_end, float *a,
                             int portable) {
    const int k = args->window, kk = k * k, W = args->width;
    const size_t plane = (size_t)args->height * (size_t)W;
    const float scale = args->scale;
    const float *base = args->logits + (size_t)h * (size_t)kk * (size_t)kk * plane;
    for (int i = 0; i < kk; i++) {
        const float *row = base + (size_t)i * (size_t)kk * plane;
        for (int py = p0; py < p1; py++) {
            float *out = a + ((size_t)(py - p0) * (size_t)kk * (size_t)kk + (size_t)i * (size_t)kk) * (size_t)W;
            for (int x = x_begin; x < x_end; x++) {
                const size_t p = (size_t)py * (size_t)W + (size_t)x, o = (size_t)x;
                float m = -INFINITY;
                for (int j = 0; j < kk; j++) {
                    const float t = row[(size_t)j * plane + p] * scale;
                    m = t > m ? t : m;
                }
                float sum = 0.0f;
                for (int j = 0; j < kk; j++) {
                    const float t = row[(size_t)j * plane + p] * scale - m;
                    const float e = portable ? ckf_exp_scalar(t) : expf(t);
                    out[(size_t)j * (size_t)W + o] = e;
                    sum = sum + e;
                }
                for (int j = 0; j < kk; j++) out[(size_t)j * (size_t)W + o] = out[(size_t)j * (size_t)W + o] / sum;
            }
        }
    }
}

void ckf_attention_row_scalar(const ckf_attention_args *args, int c0, int c1, int qy, int p0, int p1,
                              int x_begin, int x_end, const float *a, int portable) {
    const int k = args->window, kk = k * k, half = k / 2, W = args->width, H = args->height;
    const size_t plane = (size_t)H * (size_t)W;
    // Slot offsets (row, column) of the window, and the slots (i, j) whose rows are inside the image.
    int dy[CKF_MAX_WINDOW * CKF_MAX_WINDOW], dx[CKF_MAX_WINDOW * CKF_MAX_WINDOW];
    for (int s = 0; s < kk; s++) { dy[s] = s / k - half; dx[s] = s % k - half; }
    for (int c = c0; c < c1; c++) {
        const float *v = args->values + (size_t)c * plane;
        float *y = args->output + (size_t)c * plane + (size_t)qy * (size_t)W;
        for (int qx = x_begin; qx < x_end; qx++) {
            float acc = 0.0f;
            for (int i = 0; i < kk; i++) {
                const int py = qy - dy[i], px = qx - dx[i];
                if (py < 0 || py >= H || px < 0 || px >= W) continue;
                const float *a_row = a + ((size_t)(py - p0) * (size_t)kk * (size_t)kk + (size_t)i * (size_t)kk) * (size_t)W + (size_t)px;
                for (int j = 0; j < kk; j++) {
                    const int vy = py + dy[j], vx = px + dx[j];
                    if (vy < 0 || vy >= H || vx < 0 || vx >= W) continue;
                    const float weight = a_row[(size_t)j * (size_t)W], value = v[(size_t)vy * (size_t)W + (size_t)vx];
                    if (portable) {
                        acc = fmaf(weight, value, acc);
                    } else {
                        const float product = weight * value;
                        acc = acc + product;
                    }
                }
            }
            y[qx] = acc;
        }
    }
}

static void generic_window_attention_band(const ckf_attention_args *args, int h, int qb, int qe, int p0, int p1, float *a,
                                          int portable) {
    const int head_dim = args->channels / args->heads;
    ckf_softmax_rows_scalar(args, h, p0, p1, 0, args->width, a, portable);
    for (int qy = qb; qy < qe; qy++)
        ckf_attention_row_scalar(args, h * head_dim, (h + 1) * head_dim, qy, p0, p1, 0, args->width, a, portable);
}

static void generic_window_attention_rows(const ckf_attention_args *args, int row_begin, int row_end, float *scratch,
                                          int portable) {
    const int half = args->window / 2;
    for (int qb = row_begin; qb < row_end; qb += CKF_ATTENTION_BAND) {
        const int qe = row_end - qb < CKF_ATTENTION_BAND ? row_end : qb + CKF_ATTENTION_BAND;
        const int p0 = qb - half < 0 ? 0 : qb - half, p1 = qe + half > args->height ? args->height : qe + half;
        for (int h = 0; h < args->heads; h++) generic_window_attention_band(args, h, qb, qe, p0, p1, scratch, portable);
    }
}

void ckf_generic_window_attention(const ckf_attention_args *args, int row_begin, int row_end, float *scratch) {
    generic_window_attention_rows(args, row_begin, row_end, scratch, 0);
}

void ckf_generic_window_attention_portable(const ckf_attention_args *args, int row_begin, int row_end, float *scratch) {
    generic_window_attention_rows(args, row_begin, row_end, scratch, 1);
}

// MARK: window attention on NHWC buffers (ckf_window_attention_nhwc_portable)

void ckf_softmax_rows_nhwc_scalar(const ckf_attention_args *args, int h, int p0, int p1, int x_begin, int x_end,
                                  float *a) {
    const int k = args->window, kk = k * k, W = args->width;
    const size_t kk2 = (size_t)kk * (size_t)kk, stride = (size_t)args->heads * kk2, ld = (size_t)ckf_ring_ld(W);
    const float scale = args->scale;
    for (int py = p0; py < p1; py++) {
        for (int x = x_begin; x < x_end; x++) {
            const float *l = args->logits + ((size_t)py * (size_t)W + (size_t)x) * stride + (size_t)h * kk2;
            float *out = a + (size_t)(py - p0) * kk2 * ld + (size_t)x;
            for (int i = 0; i < kk; i++) {
                const float *row = l + (size_t)i * (size_t)kk;
                float *o = out + (size_t)i * (size_t)kk * ld;
                float m = -INFINITY;
                for (int j = 0; j < kk; j++) {
                    const float t = row[j] * scale;
                    m = t > m ? t : m;
                }
                float sum = 0.0f;
                for (int j = 0; j < kk; j++) {
                    const float e = ckf_exp_scalar(row[j] * scale - m);
                    o[(size_t)j * ld] = e;
                    sum = sum + e;
                }
                for (int j = 0; j < kk; j++) o[(size_t)j * ld] = o[(size_t)j * ld] / sum;
            }
        }
    }
}

void ckf_attention_pixel_nhwc_scalar(const ckf_attention_args *args, int c0, int c1, int qy, int qx,
                                     const float *ring) {
    enum { CHUNK = 16 };
    const int k = args->window, kk = k * k, half = k / 2, W = args->width, H = args->height, C = args->channels;
    const size_t kk2 = (size_t)kk * (size_t)kk, ld = (size_t)ckf_ring_ld(W);
    float *y = args->output + ((size_t)qy * (size_t)W + (size_t)qx) * (size_t)C;
    for (int c = c0; c < c1; c += CHUNK) {
        const int n = c1 - c < CHUNK ? c1 - c : CHUNK;
        float acc[CHUNK];
        for (int u = 0; u < n; u++) acc[u] = 0.0f;
        for (int i = 0; i < kk; i++) {
            const int py = qy - (i / k - half), px = qx - (i % k - half);
            if (py < 0 || py >= H || px < 0 || px >= W) continue;
            const float *a_row = ring + ((size_t)(py % k) * kk2 + (size_t)i * (size_t)kk) * ld + (size_t)px;
            for (int j = 0; j < kk; j++) {
                const int vy = py + (j / k - half), vx = px + (j % k - half);
                if (vy < 0 || vy >= H || vx < 0 || vx >= W) continue;
                const float weight = a_row[(size_t)j * ld];
                const float *v = args->values + ((size_t)vy * (size_t)W + (size_t)vx) * (size_t)C + (size_t)c;
                for (int u = 0; u < n; u++) acc[u] = fmaf(weight, v[u], acc[u]);
            }
        }
        for (int u = 0; u < n; u++) y[c + u] = acc[u];
    }
}

void ckf_window_attention_nhwc_ring(const ckf_attention_args *args, int row_begin, int row_end, float *scratch,
                                    ckf_attention_pixel_nhwc_fn pixel) {
    const int k = args->window, half = k / 2, head_dim = args->channels / args->heads, H = args->height;
    const size_t slot = (size_t)k * (size_t)k * (size_t)k * (size_t)k * (size_t)ckf_ring_ld(args->width);
    const size_t ring = (size_t)k * slot;
    int next = row_begin - half < 0 ? 0 : row_begin - half;   // the next softmax row to compute (every head)
    for (int qy = row_begin; qy < row_end; qy++) {
        const int need = qy + half + 1 < H ? qy + half + 1 : H;
        for (int h = 0; h < args->heads; h++) {
            float *head_ring = scratch + (size_t)h * ring;
            for (int row = next; row < need; row++)
                ckf_softmax_rows_nhwc_scalar(args, h, row, row + 1, 0, args->width, head_ring + (size_t)(row % k) * slot);
            for (int qx = 0; qx < args->width; qx++)
                pixel(args, h * head_dim, (h + 1) * head_dim, qy, qx, head_ring);
        }
        if (need > next) next = need;
    }
}

void ckf_generic_window_attention_nhwc_portable(const ckf_attention_args *args, int row_begin, int row_end,
                                                float *scratch) {
    ckf_window_attention_nhwc_ring(args, row_begin, row_end, scratch, ckf_attention_pixel_nhwc_scalar);
}

void ckf_gemm_fixed_reference(const float *a, ptrdiff_t lda, const float *w, ptrdiff_t ldw, int n, int k,
                              int m_begin, int m_end, float *c, ptrdiff_t ldc) {
    for (int m = m_begin; m < m_end; m++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int q = 0; q < k; q++) acc = fmaf(a[(ptrdiff_t)m * lda + q], w[(ptrdiff_t)j * ldw + q], acc);
            c[(ptrdiff_t)m * ldc + j] = acc;
        }
}

void ckf_direct_store(const ckf_direct_args *g, int oy, int ox0, int count, float *acc) {
    const int n = g->n;
    for (int l = 0; l < count; l++) {
        const ptrdiff_t pixel = (ptrdiff_t)oy * g->out_w + ox0 + l;
        float *v = acc + (ptrdiff_t)l * n;
        for (int j = 0; j < n; j++) {
            if (g->bias) v[j] = v[j] + g->bias[j];
            if (g->residual) v[j] = v[j] + g->residual[pixel * g->ld_residual + j];
            if (g->relu) v[j] = v[j] > 0.0f ? v[j] : 0.0f;
        }
        if (g->c) for (int j = 0; j < n; j++) g->c[pixel * g->ldc + j] = v[j];
        if (g->out_u8) ck_quantize_u8(v, g->out_u8 + pixel * g->ld_u8, (size_t)n, g->out_inv_scale, g->out_zero_point);
    }
}

// The direct convolution one output at a time (ckf_conv_direct_nhwc).
void ckf_generic_conv_direct(const ckf_direct_args *g, int oy_begin, int oy_end) {
    const int n = g->n, C = g->channels, k = g->kernel;
    for (int oy = oy_begin; oy < oy_end; oy++) {
        for (int ox = 0; ox < g->out_w; ox++) {
            float acc[CKF_DIRECT_MAX_N] = {0};
            int q = 0;
            for (int ky = 0; ky < k; ky++) {
                const int iy = oy * g->stride - g->padding + ky * g->dilation;
                for (int kx = 0; kx < k; kx++) {
                    const int ix = ox * g->stride - g->padding + kx * g->dilation;
                    const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
                    const float *src = inside ? g->x + ((ptrdiff_t)iy * g->in_w + ix) * C : NULL;
                    for (int c = 0; c < C; c++, q++) {
                        const float v = inside ? src[c] : 0.0f;
                        for (int j = 0; j < n; j++) acc[j] = fmaf(v, g->packed[(size_t)q * CKF_GEMM_PANEL + (size_t)j], acc[j]);
                    }
                }
            }
            ckf_direct_store(g, oy, ox, 1, acc);
        }
    }
}

const ckf_kernel_set ckf_generic_kernels = {
    generic_conv_epilogue, generic_add, generic_mul_channel_gate, generic_mul_spatial_gate, ckf_generic_sigmoid,
    ckf_generic_window_attention, generic_exp_portable, generic_sigmoid_portable,
    ckf_generic_window_attention_portable, generic_gemm_fixed, generic_rows_epilogue, generic_global_pool_nhwc, ckf_generic_conv_direct,
    ckf_generic_window_attention_nhwc_portable, generic_quantize_u8, generic_upsample_nhwc, generic_mul_nhwc,
    generic_channel_mean_max_nhwc,
};

/// Output columns [*lo, *hi) whose input column ox·stride + off lies inside [0, in_w) (im2col and col2im).
static inline void inside_columns(int off, int stride, int in_w, int out_w, int *lo, int *hi) {
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = in_w - 1 - off < 0 ? 0 : (in_w - 1 - off) / stride + 1;
    if (h > out_w) h = out_w;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

void ckf_im2col(const float *x, int in_h, int in_w, int kernel, int stride, int padding, int dilation,
                int out_w, int row_begin, int rows, int c_begin, int c_end, float *columns, ptrdiff_t ld) {
    const size_t width = (size_t)ld;
    for (int c = c_begin; c < c_end; c++) {
        const float *plane = x + (size_t)c * (size_t)in_h * (size_t)in_w;
        for (int ky = 0; ky < kernel; ky++) {
            for (int kx = 0; kx < kernel; kx++) {
                float *row = columns + ((size_t)(c * kernel + ky) * (size_t)kernel + (size_t)kx) * width;
                const int off = kx * dilation - padding;
                int lo, hi;
                inside_columns(off, stride, in_w, out_w, &lo, &hi);
                for (int r = 0; r < rows; r++) {
                    float *dst = row + (size_t)r * (size_t)out_w;
                    const int iy = (row_begin + r) * stride - padding + ky * dilation;
                    if (iy < 0 || iy >= in_h) { memset(dst, 0, sizeof(float) * (size_t)out_w); continue; }
                    const float *src = plane + (size_t)iy * (size_t)in_w;
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (stride == 1) {
                        if (hi > lo) memcpy(dst + lo, src + lo + off, sizeof(float) * (size_t)(hi - lo));
                    } else {
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox * stride + off];
                    }
                    for (int ox = hi; ox < out_w; ox++) dst[ox] = 0.0f;
                }
            }
        }
    }
}

void ckf_col2im(const float *columns, int in_h, int in_w, int kernel, int stride, int padding, int dilation,
                int out_w, int row_begin, int rows, int c_begin, int c_end, float *dx, ptrdiff_t ld) {
    const size_t width = (size_t)ld;
    for (int c = c_begin; c < c_end; c++) {
        float *plane = dx + (size_t)c * (size_t)in_h * (size_t)in_w;
        for (int ky = 0; ky < kernel; ky++) {
            for (int kx = 0; kx < kernel; kx++) {
                const float *row = columns + ((size_t)(c * kernel + ky) * (size_t)kernel + (size_t)kx) * width;
                const int off = kx * dilation - padding;
                int lo, hi;
                inside_columns(off, stride, in_w, out_w, &lo, &hi);
                for (int r = 0; r < rows; r++) {
                    const int iy = (row_begin + r) * stride - padding + ky * dilation;
                    if (iy < 0 || iy >= in_h) continue;
                    const float *src = row + (size_t)r * (size_t)out_w;
                    float *dst = plane + (size_t)iy * (size_t)in_w;
                    if (stride == 1) {
                        float *d = dst + off;
                        for (int ox = lo; ox < hi; ox++) d[ox] += src[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++) dst[ox * stride + off] += src[ox];
                    }
                }
            }
        }
    }
}
