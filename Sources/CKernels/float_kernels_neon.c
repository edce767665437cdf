// AArch64 Advanced SIMD float kernels (ckernels_float.h): the fixed-order GEMM of the int8 executor's float
// convolutions and the portable exp and sigmoid, four lanes each, performing ckf_exp_scalar's and the scalar GEMM's
// operations in the same order (vfmaq_f32 is one fused multiply-add per lane), so they give the bits of the AVX2 and
// portable C versions; and the gather of the NHWC window attention across channels. The other float kernels are the
// portable C ones (the elementwise template is compiled again here; the planar attention is shared).
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include <math.h>
#include <string.h>
#include "ckf_internal.h"
#include "ck_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define CKF_TARGET
#define CKF_NAME(x) neon_##x
#include "ckf_elementwise_impl.h"
#undef CKF_TARGET
#undef CKF_NAME
#undef CKF_QUANTIZE_U8

// ckf_exp_scalar, four lanes. The clamps use compare + select, as vmaxq_f32 would propagate a NaN where the
// scalar's `x > lo ? x : lo` gives lo.
static inline float32x4_t neon_exp(float32x4_t x) {
    const float32x4_t low = vdupq_n_f32(CKF_EXP_LOW), high = vdupq_n_f32(CKF_EXP_HIGH);
    x = vbslq_f32(vcgtq_f32(x, low), x, low);
    x = vbslq_f32(vcltq_f32(x, high), x, high);
    const float32x4_t shifter = vdupq_n_f32(CKF_EXP_SHIFTER);
    const float32x4_t n = vsubq_f32(vfmaq_f32(shifter, x, vdupq_n_f32(CKF_EXP_LOG2E)), shifter);
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(CKF_EXP_LN2_HIGH));      // x − n·hi, one rounding
    r = vfmsq_f32(r, n, vdupq_n_f32(CKF_EXP_LN2_LOW));
    float32x4_t p = vdupq_n_f32(CKF_EXP_P0);
    p = vfmaq_f32(vdupq_n_f32(CKF_EXP_P1), p, r);
    p = vfmaq_f32(vdupq_n_f32(CKF_EXP_P2), p, r);
    p = vfmaq_f32(vdupq_n_f32(CKF_EXP_P3), p, r);
    p = vfmaq_f32(vdupq_n_f32(CKF_EXP_P4), p, r);
    p = vfmaq_f32(vdupq_n_f32(CKF_EXP_P5), p, r);
    p = vfmaq_f32(r, p, vmulq_f32(r, r));
    p = vaddq_f32(p, vdupq_n_f32(1.0f));
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static void neon_exp_portable(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, neon_exp(vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = ckf_exp_scalar(x[i]);
}

static void neon_sigmoid_portable(const float *x, float *y, size_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vdivq_f32(one, vaddq_f32(one, neon_exp(vnegq_f32(vld1q_f32(x + i))))));
    for (; i < n; i++) y[i] = 1.0f / (1.0f + ckf_exp_scalar(-x[i]));
}

// Fixed-order GEMM: tiles of 6 rows × 16 channels (24 accumulators, 4 panel loads and 6 row loads per k; 32
// vector registers), each lane one C element accumulated over k in increasing order by vfmaq.
static void neon_gemm_fixed(const float *a, ptrdiff_t lda, const float *packed, int n, int k, int m_begin, int m_end,
                            float *c, ptrdiff_t ldc, const float *bias) {
    enum { MR = 6, BLOCK = 120 };
    for (int mb = m_begin; mb < m_end; mb += BLOCK) {
        const int me = m_end - mb < BLOCK ? m_end : mb + BLOCK;
        for (int p = 0; p * CKF_GEMM_PANEL < n; p++) {
            const float *panel = packed + (size_t)p * (size_t)k * CKF_GEMM_PANEL;
            const int width = n - p * CKF_GEMM_PANEL < CKF_GEMM_PANEL ? n - p * CKF_GEMM_PANEL : CKF_GEMM_PANEL;
            // The panel's bias, zero padded (lanes past `width` are never stored).
            float bias_panel[CKF_GEMM_PANEL] = {0};
            if (bias) memcpy(bias_panel, bias + p * CKF_GEMM_PANEL, sizeof(float) * (size_t)width);
            float32x4_t bv[4];
            for (int v = 0; v < 4; v++) bv[v] = vld1q_f32(bias_panel + 4 * v);
            int m = mb;
            for (; m + MR <= me; m += MR) {
                const float *rows[MR];
                for (int r = 0; r < MR; r++) rows[r] = a + (ptrdiff_t)(m + r) * lda;
                float32x4_t acc[MR][4];
                for (int r = 0; r < MR; r++)
                    for (int v = 0; v < 4; v++) acc[r][v] = vdupq_n_f32(0.0f);
                const float *b = panel;
                for (int q = 0; q < k; q++, b += CKF_GEMM_PANEL) {
                    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
                    for (int r = 0; r < MR; r++) {
                        const float32x4_t x = vdupq_n_f32(rows[r][q]);
                        acc[r][0] = vfmaq_f32(acc[r][0], x, b0);
                        acc[r][1] = vfmaq_f32(acc[r][1], x, b1);
                        acc[r][2] = vfmaq_f32(acc[r][2], x, b2);
                        acc[r][3] = vfmaq_f32(acc[r][3], x, b3);
                    }
                }
                for (int r = 0; r < MR; r++) {
                    float t[CKF_GEMM_PANEL];
                    for (int v = 0; v < 4; v++) vst1q_f32(t + 4 * v, bias ? vaddq_f32(acc[r][v], bv[v]) : acc[r][v]);
                    memcpy(c + (ptrdiff_t)(m + r) * ldc + p * CKF_GEMM_PANEL, t, sizeof(float) * (size_t)width);
                }
            }
            for (; m < me; m++) {
                const float *row = a + (ptrdiff_t)m * lda;
                float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
                const float *b = panel;
                for (int q = 0; q < k; q++, b += CKF_GEMM_PANEL) {
                    const float32x4_t x = vdupq_n_f32(row[q]);
                    acc0 = vfmaq_f32(acc0, x, vld1q_f32(b));
                    acc1 = vfmaq_f32(acc1, x, vld1q_f32(b + 4));
                    acc2 = vfmaq_f32(acc2, x, vld1q_f32(b + 8));
                    acc3 = vfmaq_f32(acc3, x, vld1q_f32(b + 12));
                }
                if (bias) {
                    acc0 = vaddq_f32(acc0, bv[0]); acc1 = vaddq_f32(acc1, bv[1]);
                    acc2 = vaddq_f32(acc2, bv[2]); acc3 = vaddq_f32(acc3, bv[3]);
                }
                float t[CKF_GEMM_PANEL];
                vst1q_f32(t, acc0); vst1q_f32(t + 4, acc1); vst1q_f32(t + 8, acc2); vst1q_f32(t + 12, acc3);
                memcpy(c + (ptrdiff_t)m * ldc + p * CKF_GEMM_PANEL, t, sizeof(float) * (size_t)width);
            }
        }
    }
}

// Window attention on NHWC buffers: the softmax is the scalar one (the portable exp's operations); the gather runs
// across the head's channels, 16 then 4 lanes at a time (scalar fmaf for the rest), one broadcast weight per term,
// each lane accumulated by vfmaq_f32 in the reference's term order, so every lane gets the scalar's bits.
static void neon_attention_pixel_nhwc(const ckf_attention_args *args, int c0, int c1, int qy, int qx,
                                      const float *ring) {
    const int k = args->window, kk = k * k, half = k / 2, W = args->width, H = args->height, C = args->channels;
    const size_t kk2 = (size_t)kk * (size_t)kk;
    // The (i, j) slots inside the image for this pixel, in the reference's order.
    enum { MAX_TERMS = CKF_MAX_WINDOW * CKF_MAX_WINDOW * CKF_MAX_WINDOW * CKF_MAX_WINDOW };
    float weight[MAX_TERMS];
    const float *value[MAX_TERMS];
    int terms = 0;
    for (int i = 0; i < kk; i++) {
        const int py = qy - (i / k - half), px = qx - (i % k - half);
        if (py < 0 || py >= H || px < 0 || px >= W) continue;
        const float *a_row = ring + ((size_t)(py % k) * kk2 + (size_t)i * (size_t)kk) * (size_t)ckf_ring_ld(W) + (size_t)px;
        for (int j = 0; j < kk; j++) {
            const int vy = py + (j / k - half), vx = px + (j % k - half);
            if (vy < 0 || vy >= H || vx < 0 || vx >= W) continue;
            weight[terms] = a_row[(size_t)j * (size_t)ckf_ring_ld(W)];
            value[terms] = args->values + ((size_t)vy * (size_t)W + (size_t)vx) * (size_t)C;
            terms++;
        }
    }
    float *y = args->output + ((size_t)qy * (size_t)W + (size_t)qx) * (size_t)C;
    int c = c0;
    for (; c + 16 <= c1; c += 16) {
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int t = 0; t < terms; t++) {
            const float32x4_t w = vdupq_n_f32(weight[t]);
            const float *v = value[t] + c;
            acc0 = vfmaq_f32(acc0, w, vld1q_f32(v));
            acc1 = vfmaq_f32(acc1, w, vld1q_f32(v + 4));
            acc2 = vfmaq_f32(acc2, w, vld1q_f32(v + 8));
            acc3 = vfmaq_f32(acc3, w, vld1q_f32(v + 12));
        }
        vst1q_f32(y + c, acc0); vst1q_f32(y + c + 4, acc1); vst1q_f32(y + c + 8, acc2); vst1q_f32(y + c + 12, acc3);
    }
    for (; c + 4 <= c1; c += 4) {
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int t = 0; t < terms; t++) acc = vfmaq_f32(acc, vdupq_n_f32(weight[t]), vld1q_f32(value[t] + c));
        vst1q_f32(y + c, acc);
    }
    for (; c < c1; c++) {
        float acc = 0.0f;
        for (int t = 0; t < terms; t++) acc = fmaf(weight[t], value[t][c], acc);
        y[c] = acc;
    }
}

static void neon_window_attention_nhwc_portable(const ckf_attention_args *args, int row_begin, int row_end,
                                                float *scratch) {
    ckf_window_attention_nhwc_ring(args, row_begin, row_end, scratch, neon_attention_pixel_nhwc);
}

const ckf_kernel_set ckf_neon_kernels = {
    neon_conv_epilogue, neon_add, neon_mul_channel_gate, neon_mul_spatial_gate, ckf_generic_sigmoid,
    ckf_generic_window_attention, neon_exp_portable, neon_sigmoid_portable, ckf_generic_window_attention_portable,
    neon_gemm_fixed, neon_rows_epilogue, neon_global_pool_nhwc, ckf_generic_conv_direct,
    neon_window_attention_nhwc_portable, neon_quantize_u8, neon_upsample_nhwc, neon_mul_nhwc,
    neon_channel_mean_max_nhwc,
};
#endif
