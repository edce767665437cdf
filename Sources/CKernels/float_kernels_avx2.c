// AVX2 + FMA float kernels for the optimised float executor (ckernels_float.h): the elementwise template compiled
// for AVX2, the portable exp (ckf_exp_scalar's operations, eight lanes), the sigmoid, the window attention with
// 8 pixels × 4 channels per inner step (FMA, terms summed in the reference's order but fused: within the tolerance
// the tests derive from the float reference, and bit-identical to the portable C attention's fused form), its NHWC
// portable form (4 pixels × 16 channels per step, softmax 8 pixels at a time) and the fixed-order GEMM of the int8
// executor's float convolutions.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include <math.h>
#include <string.h>
#include "ckf_internal.h"
#include "ck_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))

// ckf_quantize_u8, 32 then 8 values per step: ck_quantize_one's operations per lane (the clamps as compare and
// blend, `t > low ? t : low`, so NaN gives low; cvtps rounds to nearest even as rintf does in the default rounding
// mode; the saturating packs clamp to 0…255 as the scalar's clamps do, the int32 being within ±65536 + 255).
AVX2_TARGET static inline __m256i avx2_quantize8(__m256 v, __m256 inv_scale, __m256i zero_point) {
    const __m256 low = _mm256_set1_ps(-CK_QUANT_LIMIT), high = _mm256_set1_ps(CK_QUANT_LIMIT);
    __m256 t = _mm256_mul_ps(v, inv_scale);
    t = _mm256_blendv_ps(low, t, _mm256_cmp_ps(t, low, _CMP_GT_OQ));
    t = _mm256_blendv_ps(high, t, _mm256_cmp_ps(t, high, _CMP_LT_OQ));
    return _mm256_add_epi32(_mm256_cvtps_epi32(t), zero_point);
}

AVX2_TARGET static void avx2_quantize_u8_vec(const float *x, uint8_t *q, size_t n, float inv_scale, int32_t zero_point) {
    const __m256 inv = _mm256_set1_ps(inv_scale);
    const __m256i zp = _mm256_set1_epi32(zero_point);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i a = avx2_quantize8(_mm256_loadu_ps(x + i), inv, zp);
        const __m256i b = avx2_quantize8(_mm256_loadu_ps(x + i + 8), inv, zp);
        const __m256i c = avx2_quantize8(_mm256_loadu_ps(x + i + 16), inv, zp);
        const __m256i d = avx2_quantize8(_mm256_loadu_ps(x + i + 24), inv, zp);
        // packs work within 128-bit lanes: the permute puts the 32 bytes back in order.
        const __m256i words = _mm256_packs_epi32(a, b), words2 = _mm256_packs_epi32(c, d);
        const __m256i bytes = _mm256_packus_epi16(words, words2);
        _mm256_storeu_si256((__m256i *)(q + i),
                            _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    for (; i + 8 <= n; i += 8) {
        const __m256i a = avx2_quantize8(_mm256_loadu_ps(x + i), inv, zp);
        const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packus_epi16(words, words));
    }
    for (; i < n; i++) q[i] = ck_quantize_one(x[i], inv_scale, zero_point);
}

#define CKF_TARGET AVX2_TARGET
#define CKF_NAME(x) avx2_##x
#define CKF_QUANTIZE_U8 avx2_quantize_u8_vec
#include "ckf_elementwise_impl.h"
#undef CKF_TARGET
#undef CKF_NAME
#undef CKF_QUANTIZE_U8

// The portable exp (ckf_exp_scalar in ckf_internal.h), eight lanes: the same operations in the same order, so every
// lane gives the scalar's bits. max_ps(x, lo) returns lo for NaN like the scalar's `x > lo ? x : lo`.
AVX2_TARGET static inline __m256 avx2_exp(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(CKF_EXP_LOW));
    x = _mm256_min_ps(x, _mm256_set1_ps(CKF_EXP_HIGH));
    const __m256 shifter = _mm256_set1_ps(CKF_EXP_SHIFTER);
    const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(CKF_EXP_LOG2E), shifter), shifter);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(CKF_EXP_LN2_HIGH), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(CKF_EXP_LN2_LOW), r);
    __m256 p = _mm256_set1_ps(CKF_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CKF_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CKF_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CKF_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CKF_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CKF_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2_TARGET static void avx2_exp_portable(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, avx2_exp(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = ckf_exp_scalar(x[i]);
}

AVX2_TARGET static void avx2_sigmoid(const float *x, float *y, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = avx2_exp(_mm256_xor_ps(_mm256_loadu_ps(x + i), sign));
        _mm256_storeu_ps(y + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    if (i < n) {
        float in[8] = {0}, out[8];
        memcpy(in, x + i, sizeof(float) * (n - i));
        avx2_sigmoid(in, out, 8);
        memcpy(y + i, out, sizeof(float) * (n - i));
    }
}

// Transposes eight rows of eight floats (r[p] = row p) into columns (r[s] = element s of every row).
AVX2_TARGET static inline void avx2_transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// The fixed-order GEMM for at most 4 output channels (a 16-channel panel would be mostly padding): 8 rows per
// vector. Each group of 8 rows × 8 k is loaded and transposed (lane l = row m + l), then every k step is one fused
// multiply-add per channel with the broadcast weight: each lane the scalar fmaf chain over k in increasing order.
AVX2_TARGET static void avx2_gemm_fixed_narrow(const float *a, ptrdiff_t lda, const float *packed, int n, int k,
                                               int m_begin, int m_end, float *c, ptrdiff_t ldc, const float *bias) {
    int m = m_begin;
    for (; m + 8 <= m_end; m += 8) {
        const float *r = a + (ptrdiff_t)m * lda;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        int q = 0;
        for (; q + 8 <= k; q += 8) {
            __m256 t[8];
            for (int l = 0; l < 8; l++) t[l] = _mm256_loadu_ps(r + (ptrdiff_t)l * lda + q);
            avx2_transpose8(t);
            for (int s = 0; s < 8; s++) {
                const float *w = packed + (size_t)(q + s) * CKF_GEMM_PANEL;
                acc0 = _mm256_fmadd_ps(t[s], _mm256_broadcast_ss(w), acc0);
                if (n > 1) acc1 = _mm256_fmadd_ps(t[s], _mm256_broadcast_ss(w + 1), acc1);
                if (n > 2) acc2 = _mm256_fmadd_ps(t[s], _mm256_broadcast_ss(w + 2), acc2);
                if (n > 3) acc3 = _mm256_fmadd_ps(t[s], _mm256_broadcast_ss(w + 3), acc3);
            }
        }
        for (; q < k; q++) {
            const __m256 x = _mm256_setr_ps(r[q], r[lda + q], r[2 * lda + q], r[3 * lda + q], r[4 * lda + q],
                                            r[5 * lda + q], r[6 * lda + q], r[7 * lda + q]);
            const float *w = packed + (size_t)q * CKF_GEMM_PANEL;
            acc0 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(w), acc0);
            if (n > 1) acc1 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(w + 1), acc1);
            if (n > 2) acc2 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(w + 2), acc2);
            if (n > 3) acc3 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(w + 3), acc3);
        }
        float lanes[4][8];
        _mm256_storeu_ps(lanes[0], acc0); _mm256_storeu_ps(lanes[1], acc1);
        _mm256_storeu_ps(lanes[2], acc2); _mm256_storeu_ps(lanes[3], acc3);
        for (int l = 0; l < 8; l++)
            for (int j = 0; j < n; j++) c[(ptrdiff_t)(m + l) * ldc + j] = bias ? lanes[j][l] + bias[j] : lanes[j][l];
    }
    for (; m < m_end; m++) {   // the last rows, one element at a time
        const float *r = a + (ptrdiff_t)m * lda;
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int q = 0; q < k; q++) acc = fmaf(r[q], packed[(size_t)q * CKF_GEMM_PANEL + (size_t)j], acc);
            c[(ptrdiff_t)m * ldc + j] = bias ? acc + bias[j] : acc;
        }
    }
}

// ckf_channel_mean_max_nhwc, 8 pixels per vector: blocks of 8 pixels × 8 channels transposed (lane l = pixel
// p + l), then per channel in order one add and one compare-and-blend (`x >= m ? x : m`, as the scalar), so each lane
// is the scalar's sequence; the last channels and pixels as the scalar.
AVX2_TARGET static void avx2_channel_mean_max_nhwc_vec(const float *x, int channels, size_t p_begin, size_t p_end,
                                                       float *y) {
    const ptrdiff_t C = channels;
    size_t p = p_begin;
    for (; p + 8 <= p_end; p += 8) {
        const float *src = x + (ptrdiff_t)p * C;
        __m256 sum = _mm256_setzero_ps(), m = _mm256_set1_ps(-INFINITY);
        int k = 0;
        for (; k + 8 <= channels; k += 8) {
            __m256 t[8];
            for (int l = 0; l < 8; l++) t[l] = _mm256_loadu_ps(src + (ptrdiff_t)l * C + k);
            avx2_transpose8(t);
            for (int s = 0; s < 8; s++) {
                sum = _mm256_add_ps(sum, t[s]);
                m = _mm256_blendv_ps(m, t[s], _mm256_cmp_ps(t[s], m, _CMP_GE_OQ));
            }
        }
        for (; k < channels; k++) {
            const __m256 v = _mm256_setr_ps(src[k], src[C + k], src[2 * C + k], src[3 * C + k], src[4 * C + k],
                                            src[5 * C + k], src[6 * C + k], src[7 * C + k]);
            sum = _mm256_add_ps(sum, v);
            m = _mm256_blendv_ps(m, v, _mm256_cmp_ps(v, m, _CMP_GE_OQ));
        }
        const __m256 mean = _mm256_div_ps(sum, _mm256_set1_ps((float)channels));
        // Interleave (mean, max) per pixel: y[2p + 2l] = mean[l], y[2p + 2l + 1] = max[l].
        const __m256 a = _mm256_unpacklo_ps(mean, m), b = _mm256_unpackhi_ps(mean, m);
        _mm256_storeu_ps(y + 2 * p, _mm256_permute2f128_ps(a, b, 0x20));
        _mm256_storeu_ps(y + 2 * p + 8, _mm256_permute2f128_ps(a, b, 0x31));
    }
    if (p < p_end) avx2_channel_mean_max_nhwc(x, channels, p, p_end, y);
}

// Fixed-order GEMM (ckf_gemm_fixed): tiles of 6 rows × 16 channels (12 accumulators, 2 panel loads and 6 broadcasts
// per k), each lane one C element accumulated over k in increasing order by vfmadd, as the scalar fmaf chain; the
// bias added as the tile is stored. At most 4 channels: avx2_gemm_fixed_narrow.
AVX2_TARGET static void avx2_gemm_fixed(const float *a, ptrdiff_t lda, const float *packed, int n, int k, int m_begin,
                                        int m_end, float *c, ptrdiff_t ldc, const float *bias) {
    if (n <= 4) {
        avx2_gemm_fixed_narrow(a, lda, packed, n, k, m_begin, m_end, c, ldc, bias);
        return;
    }
    enum { MR = 6, BLOCK = 120 };   // rows per block: the block's A rows stay in L2 while every panel passes
    for (int mb = m_begin; mb < m_end; mb += BLOCK) {
        const int me = m_end - mb < BLOCK ? m_end : mb + BLOCK;
        for (int p = 0; p * CKF_GEMM_PANEL < n; p++) {
            const float *panel = packed + (size_t)p * (size_t)k * CKF_GEMM_PANEL;
            const int width = n - p * CKF_GEMM_PANEL < CKF_GEMM_PANEL ? n - p * CKF_GEMM_PANEL : CKF_GEMM_PANEL;
            // The panel's bias, zero padded (lanes past `width` are never stored).
            float bias_panel[CKF_GEMM_PANEL] = {0};
            if (bias) memcpy(bias_panel, bias + p * CKF_GEMM_PANEL, sizeof(float) * (size_t)width);
            const __m256 bias0 = _mm256_loadu_ps(bias_panel), bias1 = _mm256_loadu_ps(bias_panel + 8);
            int m = mb;
            for (; m + MR <= me; m += MR) {
                const float *r0 = a + (ptrdiff_t)m * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda,
                            *r4 = r3 + lda, *r5 = r4 + lda;
                __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
                __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
                const float *b = panel;
                for (int q = 0; q < k; q++, b += CKF_GEMM_PANEL) {
                    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
                    __m256 x = _mm256_broadcast_ss(r0 + q);
                    c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
                    x = _mm256_broadcast_ss(r1 + q);
                    c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
                    x = _mm256_broadcast_ss(r2 + q);
                    c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
                    x = _mm256_broadcast_ss(r3 + q);
                    c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
                    x = _mm256_broadcast_ss(r4 + q);
                    c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
                    x = _mm256_broadcast_ss(r5 + q);
                    c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
                }
                __m256 tile[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
                for (int r = 0; r < MR; r++) {
                    if (bias) {
                        tile[r][0] = _mm256_add_ps(tile[r][0], bias0);
                        tile[r][1] = _mm256_add_ps(tile[r][1], bias1);
                    }
                    float *out = c + (ptrdiff_t)(m + r) * ldc + p * CKF_GEMM_PANEL;
                    if (width == CKF_GEMM_PANEL) {
                        _mm256_storeu_ps(out, tile[r][0]);
                        _mm256_storeu_ps(out + 8, tile[r][1]);
                    } else {
                        float t[CKF_GEMM_PANEL];
                        _mm256_storeu_ps(t, tile[r][0]);
                        _mm256_storeu_ps(t + 8, tile[r][1]);
                        memcpy(out, t, sizeof(float) * (size_t)width);
                    }
                }
            }
            for (; m < me; m++) {   // the last rows, one at a time
                const float *r0 = a + (ptrdiff_t)m * lda;
                __m256 c00 = _mm256_setzero_ps(), c01 = c00;
                const float *b = panel;
                for (int q = 0; q < k; q++, b += CKF_GEMM_PANEL) {
                    const __m256 x = _mm256_broadcast_ss(r0 + q);
                    c00 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b), c00);
                    c01 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 8), c01);
                }
                if (bias) {
                    c00 = _mm256_add_ps(c00, bias0);
                    c01 = _mm256_add_ps(c01, bias1);
                }
                float t[CKF_GEMM_PANEL];
                _mm256_storeu_ps(t, c00);
                _mm256_storeu_ps(t + 8, c01);
                memcpy(c + (ptrdiff_t)m * ldc + p * CKF_GEMM_PANEL, t, sizeof(float) * (size_t)width);
            }
        }
    }
}

// The direct convolution (ckf_conv_direct_nhwc), 8 output pixels of a row per vector: each tap's 8 input values
// come from a masked gather (lanes outside the image or past the row read +0, as im2col's padding), then one fused
// multiply-add per output channel: each lane the scalar fmaf chain.
// The body for a constant channel count n (the accumulators then stay in registers: with a runtime n they lived on
// the stack and every multiply-add waited for a store and a reload).
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_conv_direct_n(const ckf_direct_args *g, int oy_begin,
                                                                                 int oy_end, const int n) {
    const int C = g->channels, k = g->kernel;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int oy = oy_begin; oy < oy_end; oy++) {
        for (int ox0 = 0; ox0 < g->out_w; ox0 += 8) {
            const int count = g->out_w - ox0 < 8 ? g->out_w - ox0 : 8;
            const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
            // Input column of each lane for kx = 0.
            const __m256i ix0 = _mm256_sub_epi32(_mm256_mullo_epi32(_mm256_add_epi32(_mm256_set1_epi32(ox0), lane),
                                                                    _mm256_set1_epi32(g->stride)),
                                                 _mm256_set1_epi32(g->padding));
            __m256 acc[CKF_DIRECT_MAX_N];
            for (int j = 0; j < CKF_DIRECT_MAX_N; j++) acc[j] = _mm256_setzero_ps();
            int q = 0;
            for (int ky = 0; ky < k; ky++) {
                const int iy = oy * g->stride - g->padding + ky * g->dilation;
                if (iy < 0 || iy >= g->in_h) {
                    // A row outside the image: every tap is +0.
                    for (int t = 0; t < k * C; t++, q++)
                        for (int j = 0; j < n; j++)
                            acc[j] = _mm256_fmadd_ps(_mm256_setzero_ps(),
                                                     _mm256_set1_ps(g->packed[(size_t)q * CKF_GEMM_PANEL + (size_t)j]), acc[j]);
                    continue;
                }
                const float *row = g->x + (ptrdiff_t)iy * g->in_w * C;
                for (int kx = 0; kx < k; kx++) {
                    // Stride 1, 1 or 2 channels, all 8 lanes inside the row: the 8 pixels are neighbours, so plain
                    // loads (and a deinterleave for 2 channels) give what the masked gathers below give.
                    const int first = ox0 - g->padding + kx * g->dilation;
                    if (g->stride == 1 && C <= 2 && count == 8 && first >= 0 && first + 8 <= g->in_w) {
                        const float *src = row + (ptrdiff_t)first * C;
                        __m256 v[2];
                        if (C == 1) {
                            v[0] = _mm256_loadu_ps(src);
                        } else {
                            const __m256 lo = _mm256_loadu_ps(src), hi = _mm256_loadu_ps(src + 8);
                            const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
                            v[0] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(lo, hi, 0x88), order);
                            v[1] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(lo, hi, 0xDD), order);
                        }
                        for (int c = 0; c < C; c++, q++)
                            for (int j = 0; j < n; j++)
                                acc[j] = _mm256_fmadd_ps(v[c], _mm256_set1_ps(g->packed[(size_t)q * CKF_GEMM_PANEL + (size_t)j]),
                                                         acc[j]);
                        continue;
                    }
                    const __m256i ix = _mm256_add_epi32(ix0, _mm256_set1_epi32(kx * g->dilation));
                    const __m256i inside = _mm256_and_si256(
                        valid, _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), ix),
                                                   _mm256_cmpgt_epi32(_mm256_set1_epi32(g->in_w), ix)));
                    const __m256i offset = _mm256_mullo_epi32(_mm256_and_si256(ix, inside), _mm256_set1_epi32(C));
                    for (int c = 0; c < C; c++, q++) {
                        const __m256 v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row + c, offset,
                                                                  _mm256_castsi256_ps(inside), 4);
                        for (int j = 0; j < n; j++)
                            acc[j] = _mm256_fmadd_ps(v, _mm256_set1_ps(g->packed[(size_t)q * CKF_GEMM_PANEL + (size_t)j]),
                                                     acc[j]);
                    }
                }
            }
            float lanes[CKF_DIRECT_MAX_N][8], out[8 * CKF_DIRECT_MAX_N];
            for (int j = 0; j < n; j++) _mm256_storeu_ps(lanes[j], acc[j]);
            for (int l = 0; l < count; l++) for (int j = 0; j < n; j++) out[l * n + j] = lanes[j][l];
            ckf_direct_store(g, oy, ox0, count, out);
        }
    }
}

AVX2_TARGET static void avx2_conv_direct(const ckf_direct_args *g, int oy_begin, int oy_end) {
    switch (g->n) {
    case 1: avx2_conv_direct_n(g, oy_begin, oy_end, 1); break;
    case 2: avx2_conv_direct_n(g, oy_begin, oy_end, 2); break;
    case 3: avx2_conv_direct_n(g, oy_begin, oy_end, 3); break;
    default: avx2_conv_direct_n(g, oy_begin, oy_end, 4); break;
    }
}

// Softmax of pixel rows [p0, p1), 8 pixels at a time (scalar tail): same steps as the scalar one but exp.
AVX2_TARGET static void avx2_softmax_rows(const ckf_attention_args *args, int h, int p0, int p1, float *a, int portable) {
    const int k = args->window, kk = k * k, W = args->width;
    const size_t plane = (size_t)args->height * (size_t)W;
    const __m256 scale = _mm256_set1_ps(args->scale);
    const float *base = args->logits + (size_t)h * (size_t)kk * (size_t)kk * plane;
    const int vector_end = W / 8 * 8;
    __m256 t[CKF_MAX_WINDOW * CKF_MAX_WINDOW];
    for (int i = 0; i < kk; i++) {
        const float *row = base + (size_t)i * (size_t)kk * plane;
        for (int py = p0; py < p1; py++) {
            float *out = a + ((size_t)(py - p0) * (size_t)kk * (size_t)kk + (size_t)i * (size_t)kk) * (size_t)W;
            for (int x = 0; x < vector_end; x += 8) {
                const size_t p = (size_t)py * (size_t)W + (size_t)x, o = (size_t)x;
                __m256 m = _mm256_set1_ps(-INFINITY);
                for (int j = 0; j < kk; j++) {
                    t[j] = _mm256_mul_ps(_mm256_loadu_ps(row + (size_t)j * plane + p), scale);
                    m = _mm256_max_ps(m, t[j]);
                }
                __m256 sum = _mm256_setzero_ps();
                for (int j = 0; j < kk; j++) {
                    t[j] = avx2_exp(_mm256_sub_ps(t[j], m));
                    sum = _mm256_add_ps(sum, t[j]);
                }
                for (int j = 0; j < kk; j++) _mm256_storeu_ps(out + (size_t)j * (size_t)W + o, _mm256_div_ps(t[j], sum));
            }
        }
    }
    if (vector_end < W) ckf_softmax_rows_scalar(args, h, p0, p1, vector_end, W, a, portable);
}

// One output row for channels [c0, c1), 8 columns × 4 channels per inner step (one softmax load feeds four
// FMAs). Segments start at 0, 8, 16, … and the last one at W − 8 (overlapping columns are recomputed with the
// same terms in the same order, so they get the same bits). Segments touching the border load with per-lane
// masks (slots outside the image read as 0 and add nothing); images narrower than 8 use the scalar code.
AVX2_TARGET static void avx2_attention_row(const ckf_attention_args *args, int c0, int c1, int qy, int p0, int p1,
                                           const float *a, int portable) {
    const int k = args->window, kk = k * k, half = k / 2, W = args->width, H = args->height;
    const size_t plane = (size_t)H * (size_t)W;
    if (W < 8) {
        ckf_attention_row_scalar(args, c0, c1, qy, p0, p1, 0, W, a, portable);
        return;
    }
    // The (i, j) slots whose rows are inside the image, in the reference's order, as offsets from column qx.
    enum { MAX_TERMS = CKF_MAX_WINDOW * CKF_MAX_WINDOW * CKF_MAX_WINDOW * CKF_MAX_WINDOW };
    ptrdiff_t a_offset[MAX_TERMS], v_offset[MAX_TERMS];
    int column_shift[MAX_TERMS], value_shift[MAX_TERMS];   // px = qx − column_shift, vx = px + value_shift
    int terms = 0;
    for (int i = 0; i < kk; i++) {
        const int iy = i / k - half, ix = i % k - half, py = qy - iy;
        if (py < 0 || py >= H) continue;
        for (int j = 0; j < kk; j++) {
            const int jy = j / k - half, jx = j % k - half, vy = py + jy;
            if (vy < 0 || vy >= H) continue;
            a_offset[terms] = ((ptrdiff_t)(py - p0) * kk * kk + i * kk + j) * W - ix;
            v_offset[terms] = (ptrdiff_t)vy * W - ix + jx;
            column_shift[terms] = ix;
            value_shift[terms] = jx;
            terms++;
        }
    }
    __m256i masks[MAX_TERMS];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), minus_one = _mm256_set1_epi32(-1);
    const __m256i width = _mm256_set1_epi32(W);
    for (int x = 0;; x += 8) {
        if (x > W - 8) x = W - 8;
        const int interior = x >= 2 * half && x + 8 <= W - 2 * half;
        if (!interior) {
            const __m256i qx = _mm256_add_epi32(lane, _mm256_set1_epi32(x));
            for (int t = 0; t < terms; t++) {
                const __m256i px = _mm256_sub_epi32(qx, _mm256_set1_epi32(column_shift[t]));
                const __m256i vx = _mm256_add_epi32(px, _mm256_set1_epi32(value_shift[t]));
                __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(px, minus_one), _mm256_cmpgt_epi32(width, px));
                m = _mm256_and_si256(m, _mm256_cmpgt_epi32(vx, minus_one));
                masks[t] = _mm256_and_si256(m, _mm256_cmpgt_epi32(width, vx));
            }
        }
        int c = c0;
        for (; c + 4 <= c1; c += 4) {
            const float *v0 = args->values + (size_t)c * plane + x, *v1 = v0 + plane, *v2 = v1 + plane, *v3 = v2 + plane;
            const float *ax = a + x;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
            if (interior) {
                for (int t = 0; t < terms; t++) {
                    const __m256 w = _mm256_loadu_ps(ax + a_offset[t]);
                    const ptrdiff_t o = v_offset[t];
                    acc0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v0 + o), acc0);
                    acc1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v1 + o), acc1);
                    acc2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v2 + o), acc2);
                    acc3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v3 + o), acc3);
                }
            } else {
                for (int t = 0; t < terms; t++) {
                    const __m256i m = masks[t];
                    const __m256 w = _mm256_maskload_ps(ax + a_offset[t], m);
                    const ptrdiff_t o = v_offset[t];
                    acc0 = _mm256_fmadd_ps(w, _mm256_maskload_ps(v0 + o, m), acc0);
                    acc1 = _mm256_fmadd_ps(w, _mm256_maskload_ps(v1 + o, m), acc1);
                    acc2 = _mm256_fmadd_ps(w, _mm256_maskload_ps(v2 + o, m), acc2);
                    acc3 = _mm256_fmadd_ps(w, _mm256_maskload_ps(v3 + o, m), acc3);
                }
            }
            float *y0 = args->output + (size_t)c * plane + (size_t)qy * (size_t)W + x;
            _mm256_storeu_ps(y0, acc0);
            _mm256_storeu_ps(y0 + plane, acc1);
            _mm256_storeu_ps(y0 + 2 * plane, acc2);
            _mm256_storeu_ps(y0 + 3 * plane, acc3);
        }
        for (; c < c1; c++) {
            const float *v0 = args->values + (size_t)c * plane + x;
            const float *ax = a + x;
            __m256 acc0 = _mm256_setzero_ps();
            for (int t = 0; t < terms; t++) {
                const __m256i m = interior ? minus_one : masks[t];
                acc0 = _mm256_fmadd_ps(_mm256_maskload_ps(ax + a_offset[t], m), _mm256_maskload_ps(v0 + v_offset[t], m), acc0);
            }
            _mm256_storeu_ps(args->output + (size_t)c * plane + (size_t)qy * (size_t)W + x, acc0);
        }
        if (x == W - 8) break;
    }
}

AVX2_TARGET static void avx2_window_attention_rows(const ckf_attention_args *args, int row_begin, int row_end,
                                                  float *scratch, int portable) {
    const int half = args->window / 2, head_dim = args->channels / args->heads;
    for (int qb = row_begin; qb < row_end; qb += CKF_ATTENTION_BAND) {
        const int qe = row_end - qb < CKF_ATTENTION_BAND ? row_end : qb + CKF_ATTENTION_BAND;
        const int p0 = qb - half < 0 ? 0 : qb - half, p1 = qe + half > args->height ? args->height : qe + half;
        for (int h = 0; h < args->heads; h++) {
            avx2_softmax_rows(args, h, p0, p1, scratch, portable);
            for (int qy = qb; qy < qe; qy++)
                avx2_attention_row(args, h * head_dim, (h + 1) * head_dim, qy, p0, p1, scratch, portable);
        }
    }
}

AVX2_TARGET static void avx2_window_attention(const ckf_attention_args *args, int row_begin, int row_end, float *scratch) {
    avx2_window_attention_rows(args, row_begin, row_end, scratch, 0);
}

AVX2_TARGET static void avx2_window_attention_portable(const ckf_attention_args *args, int row_begin, int row_end,
                                                       float *scratch) {
    avx2_window_attention_rows(args, row_begin, row_end, scratch, 1);
}

// MARK: window attention on NHWC buffers (ckf_window_attention_nhwc_portable)

// The softmax over j of one window slot i for 8 pixels: kk transposed logits at si (8 floats each), kk weight rows
// written at o, one pixel row apart.
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_softmax_group(const float *si, float *o, ptrdiff_t ld,
                                                                                 __m256 scale, int kk) {
    __m256 t[CKF_MAX_WINDOW * CKF_MAX_WINDOW];
    __m256 m = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < kk; j++) {
        t[j] = _mm256_mul_ps(_mm256_loadu_ps(si + (size_t)j * 8), scale);
        m = _mm256_max_ps(t[j], m);
    }
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < kk; j++) {
        t[j] = avx2_exp(_mm256_sub_ps(t[j], m));
        sum = _mm256_add_ps(sum, t[j]);
    }
    for (int j = 0; j < kk; j++) _mm256_storeu_ps(o + (size_t)j * (size_t)ld, _mm256_div_ps(t[j], sum));
}

// avx2_softmax_group for k = 3 (nine slots), its loops unrolled: the nine exps interleave instead of running one
// after another through a loop that kept the values on the stack. The same operations in the same order.
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_softmax_group9(const float *si, float *o,
                                                                                  ptrdiff_t ld, __m256 scale) {
    __m256 t[9];
    __m256 m = _mm256_set1_ps(-INFINITY);
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < 9; j++) {
        t[j] = _mm256_mul_ps(_mm256_loadu_ps(si + (size_t)j * 8), scale);
        m = _mm256_max_ps(t[j], m);
    }
    __m256 sum = _mm256_setzero_ps();
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < 9; j++) {
        t[j] = avx2_exp(_mm256_sub_ps(t[j], m));
        sum = _mm256_add_ps(sum, t[j]);
    }
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < 9; j++) _mm256_storeu_ps(o + (size_t)j * (size_t)ld, _mm256_div_ps(t[j], sum));
}

// Softmax of pixel rows [p0, p1) for head h from NHWC logits, 8 pixels at a time (their k⁴ logits transposed by
// 8×8 blocks into `staging`, 8·k⁴ floats, lane-interleaved), into the planar band layout; the scalar's operations
// per lane (max_ps(t, m) is the scalar's `t > m ? t : m`, also for NaN). Columns past the last multiple of 8 use
// the scalar code.
AVX2_TARGET static void avx2_softmax_rows_nhwc(const ckf_attention_args *args, int h, int p0, int p1, float *a,
                                               float *staging) {
    const int k = args->window, kk = k * k, kk2 = kk * kk, W = args->width;
    const size_t stride = (size_t)args->heads * (size_t)kk2, ld = (size_t)ckf_ring_ld(W);
    const __m256 scale = _mm256_set1_ps(args->scale);
    const int vector_end = W / 8 * 8;
    for (int py = p0; py < p1; py++) {
        for (int x = 0; x < vector_end; x += 8) {
            const float *l = args->logits + ((size_t)py * (size_t)W + (size_t)x) * stride + (size_t)h * (size_t)kk2;
            int s = 0;
            for (; s + 8 <= kk2; s += 8) {
                __m256 r[8];
                for (int p = 0; p < 8; p++) r[p] = _mm256_loadu_ps(l + (size_t)p * stride + (size_t)s);
                avx2_transpose8(r);
                for (int q = 0; q < 8; q++) _mm256_storeu_ps(staging + (size_t)(s + q) * 8, r[q]);
            }
            for (; s < kk2; s++)
                for (int p = 0; p < 8; p++) staging[(size_t)s * 8 + (size_t)p] = l[(size_t)p * stride + (size_t)s];
            float *out = a + (size_t)(py - p0) * (size_t)kk2 * ld + (size_t)x;
            for (int i = 0; i < kk; i++) {
                const float *si = staging + (size_t)i * (size_t)kk * 8;
                float *o = out + (size_t)i * (size_t)kk * ld;
                if (kk == 9)   // k = 3, the model's window: a constant count keeps the nine vectors in registers
                    avx2_softmax_group9(si, o, (ptrdiff_t)ld, scale);
                else
                    avx2_softmax_group(si, o, (ptrdiff_t)ld, scale, kk);
            }
        }
    }
    if (vector_end < W) ckf_softmax_rows_nhwc_scalar(args, h, p0, p1, vector_end, W, a);
}

// Loads 8 floats, or the lanes of `mask` only (the others read as 0, nothing past them is touched).
#define AVX2_LOAD(ptr, masked, mask) ((masked) ? _mm256_maskload_ps((ptr), (mask)) : _mm256_loadu_ps(ptr))
#define AVX2_STORE(ptr, v, masked, mask) \
    do { if (masked) _mm256_maskstore_ps((ptr), (mask), (v)); else _mm256_storeu_ps((ptr), (v)); } while (0)

// Four neighbouring output pixels × 8·nv channels (the last 8 masked if `masked`), every slot inside the image:
// one broadcast weight per pixel and term, each lane accumulated by vfmadd in the term order (the scalar's order).
// a points at the first pixel's column in the band softmax, v at its first value channel, y at its output.
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_attention_tile4_nhwc(
    const float *a, const float *v, float *y, const ptrdiff_t *a_offset, const ptrdiff_t *v_offset, int terms,
    int k, ptrdiff_t ld, ptrdiff_t C, int nv, int masked, __m256i mask) {
    // Named accumulators (an array indexed in a loop may live on the stack).
    __m256 p0l = _mm256_setzero_ps(), p0h = p0l, p1l = p0l, p1h = p0l, p2l = p0l, p2h = p0l, p3l = p0l, p3h = p0l;
    const ptrdiff_t C2 = 2 * C, C3 = 3 * C;
    // The terms come in runs of k (one window row of j): weights one softmax row apart, values one pixel apart.
    for (int t = 0; t < terms; t += k) {
        const float *at = a + a_offset[t], *vt = v + v_offset[t];
        for (int m = 0; m < k; m++, at += ld, vt += C) {
            // The four pixels' weights are neighbours: one load, then an in-lane permute each.
            __m256 w = _mm256_broadcast_ps((const __m128 *)at);
            __asm__("" : "+x"(w));   // keeps one load and four in-register permutes (not four broadcast loads)
            const __m256 w0 = _mm256_permute_ps(w, 0x00), w1 = _mm256_permute_ps(w, 0x55);
            const __m256 w2 = _mm256_permute_ps(w, 0xAA), w3 = _mm256_permute_ps(w, 0xFF);
            if (nv == 2) {
                p0l = _mm256_fmadd_ps(w0, _mm256_loadu_ps(vt), p0l);
                p0h = _mm256_fmadd_ps(w0, AVX2_LOAD(vt + 8, masked, mask), p0h);
                p1l = _mm256_fmadd_ps(w1, _mm256_loadu_ps(vt + C), p1l);
                p1h = _mm256_fmadd_ps(w1, AVX2_LOAD(vt + C + 8, masked, mask), p1h);
                p2l = _mm256_fmadd_ps(w2, _mm256_loadu_ps(vt + C2), p2l);
                p2h = _mm256_fmadd_ps(w2, AVX2_LOAD(vt + C2 + 8, masked, mask), p2h);
                p3l = _mm256_fmadd_ps(w3, _mm256_loadu_ps(vt + C3), p3l);
                p3h = _mm256_fmadd_ps(w3, AVX2_LOAD(vt + C3 + 8, masked, mask), p3h);
            } else {
                p0l = _mm256_fmadd_ps(w0, AVX2_LOAD(vt, masked, mask), p0l);
                p1l = _mm256_fmadd_ps(w1, AVX2_LOAD(vt + C, masked, mask), p1l);
                p2l = _mm256_fmadd_ps(w2, AVX2_LOAD(vt + C2, masked, mask), p2l);
                p3l = _mm256_fmadd_ps(w3, AVX2_LOAD(vt + C3, masked, mask), p3l);
            }
        }
    }
    if (nv == 2) {
        _mm256_storeu_ps(y, p0l); AVX2_STORE(y + 8, p0h, masked, mask);
        _mm256_storeu_ps(y + C, p1l); AVX2_STORE(y + C + 8, p1h, masked, mask);
        _mm256_storeu_ps(y + C2, p2l); AVX2_STORE(y + C2 + 8, p2h, masked, mask);
        _mm256_storeu_ps(y + C3, p3l); AVX2_STORE(y + C3 + 8, p3h, masked, mask);
    } else {
        AVX2_STORE(y, p0l, masked, mask);
        AVX2_STORE(y + C, p1l, masked, mask);
        AVX2_STORE(y + C2, p2l, masked, mask);
        AVX2_STORE(y + C3, p3l, masked, mask);
    }
}

// One output pixel × 8·nv channels, the slots outside the image skipped (border columns, row tails).
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_attention_pixel_nhwc(
    const float *a, const float *v, float *y, const ptrdiff_t *a_offset, const ptrdiff_t *v_offset,
    const int *column_shift, const int *value_shift, int terms, int qx, int W, int nv, int masked, __m256i mask) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int t = 0; t < terms; t++) {
        const int px = qx - column_shift[t], vx = px + value_shift[t];
        if (px < 0 || px >= W || vx < 0 || vx >= W) continue;
        const __m256 w = _mm256_broadcast_ss(a + a_offset[t]);
        const float *vt = v + v_offset[t];
        if (nv == 2) {
            acc0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vt), acc0);
            acc1 = _mm256_fmadd_ps(w, AVX2_LOAD(vt + 8, masked, mask), acc1);
        } else {
            acc0 = _mm256_fmadd_ps(w, AVX2_LOAD(vt, masked, mask), acc0);
        }
    }
    if (nv == 2) {
        _mm256_storeu_ps(y, acc0);
        AVX2_STORE(y + 8, acc1, masked, mask);
    } else {
        AVX2_STORE(y, acc0, masked, mask);
    }
}

// The channels [c, c + 8·nv) of one output row (masked: the last 8 only up to the head's end). Interior pixels
// (every slot's column inside the image) go four at a time, the others one at a time.
AVX2_TARGET static inline __attribute__((always_inline)) void avx2_attention_row_chunk_nhwc(
    const ckf_attention_args *args, int c, int qy, const float *a, const ptrdiff_t *a_offset,
    const ptrdiff_t *v_offset, const int *column_shift, const int *value_shift, int terms, int nv, int masked,
    __m256i mask) {
    const int W = args->width, reach = 2 * (args->window / 2);
    const ptrdiff_t C = args->channels, ld = ckf_ring_ld(W);
    const float *v = args->values + c;
    float *y = args->output + (ptrdiff_t)qy * W * C + c;
    for (int qx = 0; qx < W;) {
        if (qx >= reach && qx + 4 <= W - reach) {
            if (args->window == 3)   // the model's window: the runs of 3 terms unrolled
                avx2_attention_tile4_nhwc(a + qx, v + qx * C, y + qx * C, a_offset, v_offset, terms, 3, ld, C, nv,
                                          masked, mask);
            else
                avx2_attention_tile4_nhwc(a + qx, v + qx * C, y + qx * C, a_offset, v_offset, terms, args->window, ld,
                                          C, nv, masked, mask);
            qx += 4;
        } else {
            avx2_attention_pixel_nhwc(a + qx, v + qx * C, y + qx * C, a_offset, v_offset, column_shift, value_shift,
                                      terms, qx, W, nv, masked, mask);
            qx += 1;
        }
    }
}

// One output row, channels [c0, c1) of one head, from the ring of softmax rows at a (row py in slot py mod k).
AVX2_TARGET static void avx2_attention_row_nhwc(const ckf_attention_args *args, int c0, int c1, int qy, const float *a) {
    const int k = args->window, kk = k * k, kk2 = kk * kk, half = k / 2, W = args->width, H = args->height;
    const ptrdiff_t C = args->channels, ld = ckf_ring_ld(W);
    // The (i, j) slots whose rows are inside the image, in the reference's order, as offsets from column qx.
    enum { MAX_TERMS = CKF_MAX_WINDOW * CKF_MAX_WINDOW * CKF_MAX_WINDOW * CKF_MAX_WINDOW };
    ptrdiff_t a_offset[MAX_TERMS], v_offset[MAX_TERMS];
    int column_shift[MAX_TERMS], value_shift[MAX_TERMS];   // px = qx − column_shift, vx = px + value_shift
    int terms = 0;
    for (int i = 0; i < kk; i++) {
        const int iy = i / k - half, ix = i % k - half, py = qy - iy;
        if (py < 0 || py >= H) continue;
        for (int j = 0; j < kk; j++) {
            const int jy = j / k - half, jx = j % k - half, vy = py + jy;
            if (vy < 0 || vy >= H) continue;
            a_offset[terms] = ((ptrdiff_t)(py % k) * kk2 + i * kk + j) * ld - ix;
            v_offset[terms] = ((ptrdiff_t)vy * W - ix + jx) * C;
            column_shift[terms] = ix;
            value_shift[terms] = jx;
            terms++;
        }
    }
    const __m256i all = _mm256_set1_epi32(-1);
    int c = c0;
    for (; c + 16 <= c1; c += 16)
        avx2_attention_row_chunk_nhwc(args, c, qy, a, a_offset, v_offset, column_shift, value_shift, terms, 2, 0, all);
    const int rest = c1 - c;
    if (rest == 0) return;
    if (rest == 8) {
        avx2_attention_row_chunk_nhwc(args, c, qy, a, a_offset, v_offset, column_shift, value_shift, terms, 1, 0, all);
        return;
    }
    const int last = rest > 8 ? rest - 8 : rest;   // lanes of the masked vector
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(last), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if (rest > 8)
        avx2_attention_row_chunk_nhwc(args, c, qy, a, a_offset, v_offset, column_shift, value_shift, terms, 2, 1, mask);
    else
        avx2_attention_row_chunk_nhwc(args, c, qy, a, a_offset, v_offset, column_shift, value_shift, terms, 1, 1, mask);
}

// Rows outer, heads inner: each head keeps its own ring of softmax rows, so the logits of a pixel row are read for
// all heads while they are in cache, and the value rows and output rows an output row needs are brought in once,
// not once per head (with the heads outer, the whole value and output tensors streamed through the cache per head).
AVX2_TARGET static void avx2_window_attention_nhwc_portable(const ckf_attention_args *args, int row_begin, int row_end,
                                                            float *scratch) {
    const int k = args->window, half = k / 2, head_dim = args->channels / args->heads, H = args->height;
    const size_t kk2 = (size_t)k * (size_t)k * (size_t)k * (size_t)k, slot = kk2 * (size_t)ckf_ring_ld(args->width);
    const size_t ring = (size_t)k * slot;
    float *staging = scratch + (size_t)args->heads * ring;   // after the rings (see the scratch size)
    int next = row_begin - half < 0 ? 0 : row_begin - half;   // the next softmax row to compute (every head)
    for (int qy = row_begin; qy < row_end; qy++) {
        const int need = qy + half + 1 < H ? qy + half + 1 : H;
        for (int h = 0; h < args->heads; h++) {
            for (int row = next; row < need; row++)
                avx2_softmax_rows_nhwc(args, h, row, row + 1, scratch + (size_t)h * ring + (size_t)(row % k) * slot,
                                       staging);
            avx2_attention_row_nhwc(args, h * head_dim, (h + 1) * head_dim, qy, scratch + (size_t)h * ring);
        }
        if (need > next) next = need;
    }
}

// The sigmoid above already uses the portable exp: it is the portable sigmoid.
const ckf_kernel_set ckf_avx2_kernels = {
    avx2_conv_epilogue, avx2_add, avx2_mul_channel_gate, avx2_mul_spatial_gate, avx2_sigmoid, avx2_window_attention,
    avx2_exp_portable, avx2_sigmoid, avx2_window_attention_portable, avx2_gemm_fixed, avx2_rows_epilogue, avx2_global_pool_nhwc, avx2_conv_direct,
    avx2_window_attention_nhwc_portable, avx2_quantize_u8_vec, avx2_upsample_nhwc, avx2_mul_nhwc,
    avx2_channel_mean_max_nhwc_vec,
};
#endif
