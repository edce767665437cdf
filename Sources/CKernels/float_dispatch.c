// Run-time choice of the float kernel set (ckernels_float.h): AVX2+FMA when the CPU has both and the OS saves YMM
// state (cpu_features.c), else the portable C set; tests may force the portable set. Also the argument checks of
// the public float entry points.
#include <stdint.h>
#include "ckf_internal.h"
#include "cpu_features.h"
#include "ckernels.h"

static int detect_float_isa(void) {
#if defined(__aarch64__)
    return CKF_ISA_NEON;   // Advanced SIMD is mandatory on AArch64
#else
    const ck_cpu_features f = ck_cpu_detect();
    return (f.avx2 && f.fma) ? CKF_ISA_AVX2 : CKF_ISA_GENERIC;
#endif
}

// -1 until first use; then the kernel set detected / in use (ckf_force_isa changes the latter).
static int detected_float_isa = -1;
static int active_float_isa = -1;

ckf_isa ckf_detected_isa(void) { return (ckf_isa)ck_cached_choice(&detected_float_isa, detect_float_isa); }

static int detected_float_isa_value(void) { return (int)ckf_detected_isa(); }

ckf_isa ckf_active_isa(void) { return (ckf_isa)ck_cached_choice(&active_float_isa, detected_float_isa_value); }

int ckf_force_isa(ckf_isa isa) {
    if (isa != CKF_ISA_GENERIC && isa != ckf_detected_isa()) return 0;
    __atomic_store_n(&active_float_isa, (int)isa, __ATOMIC_RELAXED);
    return 1;
}

const char *ckf_isa_name(ckf_isa isa) {
    switch (isa) {
    case CKF_ISA_GENERIC: return "generic";
    case CKF_ISA_AVX2: return "avx2";
    case CKF_ISA_NEON: return "neon";
    }
    return "unknown";
}

static const ckf_kernel_set *kernels(void) {
#if defined(__x86_64__)
    if (ckf_active_isa() == CKF_ISA_AVX2) return &ckf_avx2_kernels;
#endif
#if defined(__aarch64__)
    if (ckf_active_isa() == CKF_ISA_NEON) return &ckf_neon_kernels;
#endif
    return &ckf_generic_kernels;
}

void ckf_conv_epilogue(float *y, ptrdiff_t channel_stride, int channels, ptrdiff_t begin, ptrdiff_t count,
                       const float *bias, const float *const *residuals, int residual_count, int relu) {
    if (y == NULL || channels < 1 || count < 1) return;
    kernels()->conv_epilogue(y, channel_stride, channels, begin, count, bias, residuals, residual_count, relu);
}

void ckf_add(float *y, const float *const *inputs, int input_count, size_t n, int relu) {
    if (y == NULL || inputs == NULL || input_count < 1 || n == 0) return;
    kernels()->add(y, inputs, input_count, n, relu);
}

void ckf_mul_channel_gate(float *y, const float *x, const float *gate, int channels, size_t plane) {
    if (y == NULL || x == NULL || gate == NULL || channels < 1) return;
    kernels()->mul_channel_gate(y, x, gate, channels, plane);
}

void ckf_mul_spatial_gate(float *y, const float *x, const float *gate, int channels, size_t plane) {
    if (y == NULL || x == NULL || gate == NULL || channels < 1) return;
    kernels()->mul_spatial_gate(y, x, gate, channels, plane);
}

void ckf_sigmoid(const float *x, float *y, size_t n) {
    if (x == NULL || y == NULL) return;
    kernels()->sigmoid(x, y, n);
}

size_t ckf_window_attention_scratch(const ckf_attention_args *args) {
    if (args == NULL || args->window < 1) return 0;
    const size_t kk = (size_t)args->window * (size_t)args->window;
    return kk * kk * (size_t)(CKF_ATTENTION_BAND + 2 * (args->window / 2)) * (size_t)(args->width > 0 ? args->width : 0);
}

/// The arguments both window-attention entry points refuse (they then write nothing).
static int attention_args_valid(const ckf_attention_args *args, const float *scratch) {
    if (args == NULL || scratch == NULL || args->values == NULL || args->logits == NULL || args->output == NULL) return 0;
    if (args->window < 1 || args->window % 2 == 0 || args->window > CKF_MAX_WINDOW) return 0;
    if (args->heads < 1 || args->channels < 1 || args->channels % args->heads != 0) return 0;
    return args->height >= 1 && args->width >= 1;
}

int ckf_window_attention(const ckf_attention_args *args, int row_begin, int row_end, float *scratch) {
    if (!attention_args_valid(args, scratch)) return -1;
    if (row_begin < 0) row_begin = 0;
    if (row_end > args->height) row_end = args->height;
    if (row_begin < row_end) kernels()->window_attention(args, row_begin, row_end, scratch);
    return 0;
}

void ckf_exp_portable(const float *x, float *y, size_t n) {
    if (x == NULL || y == NULL) return;
    kernels()->exp_portable(x, y, n);
}

void ckf_sigmoid_portable(const float *x, float *y, size_t n) {
    if (x == NULL || y == NULL) return;
    kernels()->sigmoid_portable(x, y, n);
}

int ckf_window_attention_portable(const ckf_attention_args *args, int row_begin, int row_end, float *scratch) {
    if (!attention_args_valid(args, scratch)) return -1;
    if (row_begin < 0) row_begin = 0;
    if (row_end > args->height) row_end = args->height;
    if (row_begin < row_end) kernels()->window_attention_portable(args, row_begin, row_end, scratch);
    return 0;
}

size_t ckf_window_attention_nhwc_scratch(const ckf_attention_args *args) {
    // Per head a ring of k softmax rows (k⁴ weight rows of ckf_ring_ld(W) floats each), then 8 pixels' k⁴ logits for
    // the vector kernels' transposition.
    if (args == NULL || args->window < 1) return 0;
    const size_t kk = (size_t)args->window * (size_t)args->window;
    return kk * kk * (size_t)args->window * (size_t)(args->heads > 0 ? args->heads : 0) *
           (size_t)(args->width > 0 ? ckf_ring_ld(args->width) : 0) + 8 * kk * kk;
}

int ckf_window_attention_nhwc_portable(const ckf_attention_args *args, int row_begin, int row_end, float *scratch) {
    if (!attention_args_valid(args, scratch)) return -1;
    if (row_begin < 0) row_begin = 0;
    if (row_end > args->height) row_end = args->height;
    if (row_begin < row_end) kernels()->window_attention_nhwc_portable(args, row_begin, row_end, scratch);
    return 0;
}

size_t ckf_gemm_packed_floats(int n, int k) {
    if (n < 1 || k < 1) return 0;
    return (size_t)((n + CKF_GEMM_PANEL - 1) / CKF_GEMM_PANEL) * CKF_GEMM_PANEL * (size_t)k;
}

void ckf_gemm_pack(const float *w, int n, int k, ptrdiff_t ldw, float *packed) {
    if (w == NULL || packed == NULL || n < 1 || k < 1 || ldw < k) return;
    const int panels = (n + CKF_GEMM_PANEL - 1) / CKF_GEMM_PANEL;
    for (int p = 0; p < panels; p++)
        for (int q = 0; q < k; q++)
            for (int j = 0; j < CKF_GEMM_PANEL; j++) {
                const int channel = p * CKF_GEMM_PANEL + j;
                packed[((size_t)p * (size_t)k + (size_t)q) * CKF_GEMM_PANEL + (size_t)j] =
                    channel < n ? w[(ptrdiff_t)channel * ldw + q] : 0.0f;
            }
}

int ckf_gemm_fixed(const float *a, ptrdiff_t lda, const float *packed, int n, int k, int m_begin, int m_end,
                   float *c, ptrdiff_t ldc) {
    if (a == NULL || packed == NULL || c == NULL || n < 1 || k < 1 || lda < k || ldc < n || m_begin < 0) return -1;
    if (m_begin < m_end) kernels()->gemm_fixed(a, lda, packed, n, k, m_begin, m_end, c, ldc, NULL);
    return 0;
}

size_t ckf_conv_scratch_floats(int n) { return n < 1 ? 0 : (size_t)CKF_CONV_BLOCK_ROWS * (size_t)n; }

int ckf_conv_fixed(const ckf_conv_args *g, int m_begin, int m_end, float *scratch) {
    if (g == NULL || g->a == NULL || g->packed == NULL || g->n < 1 || g->k < 1 || g->lda < g->k || m_begin < 0) return -1;
    if (g->c != NULL ? g->ldc < g->n : scratch == NULL) return -1;
    if (g->residual != NULL && g->ld_residual < g->n) return -1;
    if (g->out_u8 != NULL && g->ld_u8 < g->n) return -1;
    const ckf_kernel_set *set = kernels();
    for (int mb = m_begin; mb < m_end; mb += CKF_CONV_BLOCK_ROWS) {
        const int rows = m_end - mb < CKF_CONV_BLOCK_ROWS ? m_end - mb : CKF_CONV_BLOCK_ROWS;
        float *c = g->c != NULL ? g->c + (ptrdiff_t)mb * g->ldc : scratch;
        const ptrdiff_t ldc = g->c != NULL ? g->ldc : g->n;
        // The bias is added as each tile leaves the registers; the residual and ReLU follow in that order.
        set->gemm_fixed(g->a + (ptrdiff_t)mb * g->lda, g->lda, g->packed, g->n, g->k, 0, rows, c, ldc, g->bias);
        if (g->residual != NULL || g->relu)
            set->rows_epilogue(c, ldc, rows, g->n, NULL,
                               g->residual != NULL ? g->residual + (ptrdiff_t)mb * g->ld_residual : NULL,
                               g->ld_residual, g->relu);
        if (g->out_u8 != NULL)
            for (int r = 0; r < rows; r++)
                set->quantize_u8(c + (ptrdiff_t)r * ldc, g->out_u8 + (ptrdiff_t)(mb + r) * g->ld_u8, (size_t)g->n,
                                 g->out_inv_scale, g->out_zero_point);
    }
    return 0;
}

void ckf_global_pool_nhwc(const float *x, size_t plane, int channels, int c_begin, int c_end, int use_max, float *y) {
    if (x == NULL || y == NULL || channels < 1 || plane == 0 || c_begin < 0 || c_end > channels) return;
    if (c_begin < c_end) kernels()->global_pool_nhwc(x, plane, channels, c_begin, c_end, use_max, y);
}

void ckf_im2col_nhwc(const float *x, int in_h, int in_w, int channels, int kernel, int stride, int padding,
                     int dilation, int out_w, int oy_begin, int oy_end, float *columns) {
    if (x == NULL || columns == NULL || channels < 1 || kernel < 1) return;
    const ptrdiff_t C = channels;
    float *dst = columns;
    for (int oy = oy_begin; oy < oy_end; oy++) {
        for (int ox = 0; ox < out_w; ox++) {
            for (int ky = 0; ky < kernel; ky++) {
                const int iy = oy * stride - padding + ky * dilation;
                const int row_inside = iy >= 0 && iy < in_h;
                for (int kx = 0; kx < kernel; kx++, dst += C) {
                    const int ix = ox * stride - padding + kx * dilation;
                    if (row_inside && ix >= 0 && ix < in_w) {
                        const float *src = x + ((ptrdiff_t)iy * in_w + ix) * C;
                        if (C <= 4) { for (ptrdiff_t c = 0; c < C; c++) dst[c] = src[c]; }
                        else memcpy(dst, src, sizeof(float) * (size_t)C);
                    } else {
                        for (ptrdiff_t c = 0; c < C; c++) dst[c] = 0.0f;
                    }
                }
            }
        }
    }
}

int ckf_conv_direct_nhwc(const ckf_direct_args *g, int oy_begin, int oy_end) {
    if (g == NULL || g->x == NULL || g->packed == NULL || g->n < 1 || g->n > CKF_DIRECT_MAX_N || g->channels < 1 ||
        g->kernel < 1 || g->stride < 1 || g->dilation < 1 || g->padding < 0 || g->out_w < 1 || oy_begin < 0) return -1;
    if ((g->c != NULL && g->ldc < g->n) || (g->out_u8 != NULL && g->ld_u8 < g->n) ||
        (g->residual != NULL && g->ld_residual < g->n)) return -1;
    if (oy_begin < oy_end) kernels()->conv_direct(g, oy_begin, oy_end);
    return 0;
}

void ckf_quantize_u8(const float *x, uint8_t *q, size_t n, float inv_scale, int32_t zero_point) {
    if (x == NULL || q == NULL || n == 0) return;
    kernels()->quantize_u8(x, q, n, inv_scale, zero_point);
}

int ckf_upsample_nhwc(const ckf_upsample_args *g, int oy_begin, int oy_end) {
    if (g == NULL || g->x == NULL || g->y == NULL || g->row_first == NULL || g->row_second == NULL ||
        g->row_weight == NULL || g->col_first == NULL || g->col_second == NULL || g->col_weight == NULL) return -1;
    if (g->in_w < 1 || g->channels < 1 || g->out_w < 1 || g->ldy < g->channels || oy_begin < 0) return -1;
    if (g->out_u8 != NULL && g->ld_u8 < g->channels) return -1;
    if (oy_begin < oy_end) kernels()->upsample_nhwc(g, oy_begin, oy_end);
    return 0;
}

int ckf_mul_nhwc(const float *x, const float *gate, int channels, int channel_gate, size_t p_begin, size_t p_end,
                 float *y, ptrdiff_t ldy, uint8_t *out_u8, ptrdiff_t ld_u8, float out_inv_scale,
                 int32_t out_zero_point) {
    if (x == NULL || gate == NULL || y == NULL || channels < 1 || ldy < channels) return -1;
    if (out_u8 != NULL && ld_u8 < channels) return -1;
    if (p_begin < p_end)
        kernels()->mul_nhwc(x, gate, channels, channel_gate, p_begin, p_end, y, ldy, out_u8, ld_u8, out_inv_scale,
                            out_zero_point);
    return 0;
}

void ckf_channel_mean_max_nhwc(const float *x, int channels, size_t p_begin, size_t p_end, float *y) {
    if (x == NULL || y == NULL || channels < 1 || p_begin >= p_end) return;
    kernels()->channel_mean_max_nhwc(x, channels, p_begin, p_end, y);
}
