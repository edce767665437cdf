// Private to CKernels: entry points of the float kernel sets (ckernels_float.h) and the constants they share.
#pragma once

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels_float.h"

/// Output rows processed per softmax band of the window attention (the band's softmax is reused by every channel).
#define CKF_ATTENTION_BAND 8
/// Largest window side the attention kernels accept (k⁴ logits per pixel and head).
#define CKF_MAX_WINDOW 7

typedef struct {
    void (*conv_epilogue)(float *, ptrdiff_t, int, ptrdiff_t, ptrdiff_t, const float *, const float *const *, int, int);
    void (*add)(float *, const float *const *, int, size_t, int);
    void (*mul_channel_gate)(float *, const float *, const float *, int, size_t);
    void (*mul_spatial_gate)(float *, const float *, const float *, int, size_t);
    void (*sigmoid)(const float *, float *, size_t);
    void (*window_attention)(const ckf_attention_args *, int, int, float *);
    // Portable arithmetic (the same bits on every set).
    void (*exp_portable)(const float *, float *, size_t);
    void (*sigmoid_portable)(const float *, float *, size_t);
    void (*window_attention_portable)(const ckf_attention_args *, int, int, float *);
    // The fixed-order GEMM; a non-NULL bias is added to each finished element (c = chain + bias[j], one IEEE add:
    // the first step of the convolution epilogue, done while the tile is in registers).
    void (*gemm_fixed)(const float *, ptrdiff_t, const float *, int, int, int, int, float *, ptrdiff_t, const float *);
    void (*rows_epilogue)(float *, ptrdiff_t, int, int, const float *, const float *, ptrdiff_t, int);
    void (*global_pool_nhwc)(const float *, size_t, ptrdiff_t, int, int, int, float *);
    void (*conv_direct)(const ckf_direct_args *, int, int);
    void (*window_attention_nhwc_portable)(const ckf_attention_args *, int, int, float *);
    void (*quantize_u8)(const float *, uint8_t *, size_t, float, int32_t);
    void (*upsample_nhwc)(const ckf_upsample_args *, int, int);
    void (*mul_nhwc)(const float *, const float *, int, int, size_t, size_t, float *, ptrdiff_t, uint8_t *, ptrdiff_t,
                     float, int32_t);
    void (*channel_mean_max_nhwc)(const float *, int, size_t, size_t, float *);
} ckf_kernel_set;

extern const ckf_kernel_set ckf_generic_kernels;
#if defined(__x86_64__)
extern const ckf_kernel_set ckf_avx2_kernels;
#endif
#if defined(__aarch64__)
extern const ckf_kernel_set ckf_neon_kernels;
#endif

// Portable C entry points the NEON set shares with the generic one.
void ckf_generic_conv_direct(const ckf_direct_args *, int, int);
/// The epilogue of ckf_conv_direct_nhwc for `count` output pixels starting at (oy, ox0): acc[l·N + j] is pixel l,
/// channel j; applies c + bias, + residual, ReLU in that order and writes the float and uint8 outputs.
void ckf_direct_store(const ckf_direct_args *, int oy, int ox0, int count, float *acc);
void ckf_generic_sigmoid(const float *, float *, size_t);
void ckf_generic_window_attention(const ckf_attention_args *, int, int, float *);
void ckf_generic_window_attention_portable(const ckf_attention_args *, int, int, float *);
void ckf_generic_window_attention_nhwc_portable(const ckf_attention_args *, int, int, float *);

// The portable exp's constants and its scalar form: every vector version performs these operations in this order.
#define CKF_EXP_LOW (-87.0f)
#define CKF_EXP_HIGH 88.0f
#define CKF_EXP_LOG2E 1.44269504088896341f
#define CKF_EXP_SHIFTER 12582912.0f          /* 1.5·2^23: adding it rounds to an integer */
#define CKF_EXP_LN2_HIGH 0.693359375f        /* ln 2 to 10 bits (n·this is exact) */
#define CKF_EXP_LN2_LOW (-2.12194440e-4f)    /* ln 2 − CKF_EXP_LN2_HIGH */
#define CKF_EXP_P0 1.9875691500e-4f
#define CKF_EXP_P1 1.3981999507e-3f
#define CKF_EXP_P2 8.3334519073e-3f
#define CKF_EXP_P3 4.1665795894e-2f
#define CKF_EXP_P4 1.6666665459e-1f
#define CKF_EXP_P5 5.0000001201e-1f

static inline float ckf_exp_scalar(float x) {
    x = x > CKF_EXP_LOW ? x : CKF_EXP_LOW;
    x = x < CKF_EXP_HIGH ? x : CKF_EXP_HIGH;
    const float n = fmaf(x, CKF_EXP_LOG2E, CKF_EXP_SHIFTER) - CKF_EXP_SHIFTER;
    float r = fmaf(-n, CKF_EXP_LN2_HIGH, x);
    r = fmaf(-n, CKF_EXP_LN2_LOW, r);
    float p = CKF_EXP_P0;
    p = fmaf(p, r, CKF_EXP_P1);
    p = fmaf(p, r, CKF_EXP_P2);
    p = fmaf(p, r, CKF_EXP_P3);
    p = fmaf(p, r, CKF_EXP_P4);
    p = fmaf(p, r, CKF_EXP_P5);
    const float r2 = r * r;
    p = fmaf(p, r2, r);
    p = p + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/// Softmax of one band of pixel rows [p0, p1) for head h, the reference's arithmetic (expf, division), into
/// a[((py−p0)·k⁴ + i·k² + j)·W + x] (one pixel row's k⁴ weight rows together); columns [x_begin, x_end) only.
/// `portable` != 0: ckf_exp_scalar instead of expf.
void ckf_softmax_rows_scalar(const ckf_attention_args *args, int h, int p0, int p1, int x_begin, int x_end, float *a,
                             int portable);

/// Gather of the window attention for one output row qy, channels [c0, c1) of head h, columns [x_begin, x_end),
/// scalar, in the reference's order (i outer, j inner, separate multiply and add): bit-identical to it.
/// `portable` != 0: fused multiply-add (fmaf) per term instead, the order of ckf_window_attention_portable.
void ckf_attention_row_scalar(const ckf_attention_args *args, int c0, int c1, int qy, int p0, int p1,
                              int x_begin, int x_end, const float *a, int portable);

// The NHWC window attention keeps, per head, the softmax of k pixel rows in a ring (row py in slot py mod k): the
// rows an output row reads, each computed once per call and still in cache when the gather reads it. The rows run
// outer and the heads inner, so a pixel row's logits, values and outputs pass through the cache once for all heads.
//
// Each of a slot's k⁴ weight rows holds the row's W pixels and is ckf_ring_ld(W) floats long: an odd number of cache
// lines, so the k⁴ rows one gather step reads fall in different L1 sets (with W floats, a power of two, they all
// mapped to the same few sets and evicted one another).

/// Floats between consecutive weight rows of the NHWC attention's softmax ring.
static inline ptrdiff_t ckf_ring_ld(int width) { return ((ptrdiff_t)width + 15) / 16 * 16 + 16; }

/// Softmax (portable exp) of pixel rows [p0, p1) for head h from NHWC logits, columns [x_begin, x_end), into
/// a[((py−p0)·k⁴ + i·k² + j)·ld + x], ld = ckf_ring_ld(W) (one row: a ring slot). The scalar's operations.
void ckf_softmax_rows_nhwc_scalar(const ckf_attention_args *args, int h, int p0, int p1, int x_begin, int x_end,
                                  float *a);

/// Gather of the NHWC window attention for output pixel (qy, qx), channels [c0, c1) of one head, from the ring of
/// softmax rows at `ring` (row py at ring + (py mod k)·k⁴·ld): one fmaf per term in the reference's order.
void ckf_attention_pixel_nhwc_scalar(const ckf_attention_args *args, int c0, int c1, int qy, int qx,
                                     const float *ring);

/// A gather of one output pixel in the form of ckf_attention_pixel_nhwc_scalar (a kernel set's own version).
typedef void (*ckf_attention_pixel_nhwc_fn)(const ckf_attention_args *args, int c0, int c1, int qy, int qx,
                                            const float *ring);

/// The NHWC window attention's row loop shared by the kernel sets that vectorise only the gather: rows outer, heads
/// inner, each head with its own ring (at scratch + h·k·k⁴·ld); each softmax row (scalar, portable exp) computed once
/// into its slot (row py at (py mod k)·k⁴·ld) just before the first output row that needs it, then `pixel` for every
/// output pixel of the row.
void ckf_window_attention_nhwc_ring(const ckf_attention_args *args, int row_begin, int row_end, float *scratch,
                                    ckf_attention_pixel_nhwc_fn pixel);
