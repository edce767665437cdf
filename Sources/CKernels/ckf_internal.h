// Private to CKernels: entry points of the float kernel sets (ckernels_float.h) and the constants they share.
#pragma once

#include <stddef.h>
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
} ckf_kernel_set;

extern const ckf_kernel_set ckf_generic_kernels;
#if defined(__x86_64__)
extern const ckf_kernel_set ckf_avx2_kernels;
#endif

/// Softmax of one band of pixel rows [p0, p1) for head h, the reference's arithmetic (expf, division), into
/// a[((py−p0)·k⁴ + i·k² + j)·W + x] (one pixel row's k⁴ weight rows together); columns [x_begin, x_end) only.
void ckf_softmax_rows_scalar(const ckf_attention_args *args, int h, int p0, int p1, int x_begin, int x_end, float *a);

/// Gather of the window attention for one output row qy, channels [c0, c1) of head h, columns [x_begin, x_end),
/// scalar, in the reference's order (i outer, j inner, separate multiply and add): bit-identical to it.
void ckf_attention_row_scalar(const ckf_attention_args *args, int c0, int c1, int qy, int p0, int p1,
                              int x_begin, int x_end, const float *a);
