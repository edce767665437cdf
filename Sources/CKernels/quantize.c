// Per-tensor uint8 quantize / dequantize of float arrays, with exactly the rounding of the GEMM epilogue.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "ck_internal.h"

void ck_quantize_u8(const float *x, uint8_t *q, size_t n, float inv_scale, int32_t zero_point) {
    for (size_t i = 0; i < n; i++) q[i] = ck_quantize_one(x[i], inv_scale, zero_point);
}

void ck_dequantize_u8(const uint8_t *q, float *x, size_t n, float scale, int32_t zero_point) {
    for (size_t i = 0; i < n; i++) {
        float v = (float)((int32_t)q[i] - zero_point);
        x[i] = v * scale;
    }
}
