// Private to CKernels on aarch64: the NEON form of ck_epilogue_one (4 lanes at a time) shared by the plain
// NEON and the dotprod kernels, plus their per-panel constants. Baseline Armv8-A instructions only.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>
#include "ck_internal.h"

// Per-panel epilogue constants, padded to 16 channels with zeros. The NEON kernels multiply A xor 0x80
// (= A - 128 as int8), so their accumulator misses 128 * column_sum: the correction adds (128 - a_zero_point) * sum.
typedef struct {
    int32_t correction[16];
    float multiplier[16];
    float bias[16];
} ck_neon_panel_constants;

static inline void ck_neon_panel_constants_init(ck_neon_panel_constants *constants, const ck_qgemm_args *args,
                                                int n0, int columns) {
    const int32_t *column_sums = ck_packed_column_sums(args->packed_b);
    memset(constants, 0, sizeof *constants);
    for (int c = 0; c < columns; c++) {
        constants->correction[c] = (128 - args->a_zero_point) * column_sums[n0 + c];
        constants->multiplier[c] = args->multiplier[n0 + c];
        constants->bias[c] = args->bias ? args->bias[n0 + c] : 0.0f;
    }
}

// Epilogue of one row of a 16-channel panel; acc[q] holds channels 4q...4q+3 (A xor 0x80 times B).
static inline void ck_neon_epilogue_row(const ck_qgemm_args *args, const ck_neon_panel_constants *constants,
                                        int m, int n0, int columns, const int32x4_t acc[4]) {
    const int full = columns == 16;
    float residual_f32[16];
    uint8_t residual_u8[16];
    const ptrdiff_t residual_offset = (ptrdiff_t)m * args->ld_residual + n0;
    if (args->residual_f32) {
        memset(residual_f32, 0, sizeof residual_f32);
        memcpy(residual_f32, args->residual_f32 + residual_offset, (size_t)columns * 4);
    }
    if (args->residual_u8) {
        memset(residual_u8, 0, sizeof residual_u8);
        memcpy(residual_u8, args->residual_u8 + residual_offset, (size_t)columns);
    }
    const float32x4_t zero = vdupq_n_f32(0.0f);
    float32x4_t values[4];
    for (int q = 0; q < 4; q++) {
        float32x4_t v = vcvtq_f32_s32(vaddq_s32(acc[q], vld1q_s32(constants->correction + 4 * q)));
        v = vmulq_f32(v, vld1q_f32(constants->multiplier + 4 * q));
        v = vaddq_f32(v, vld1q_f32(constants->bias + 4 * q));
        if (args->residual_f32) v = vaddq_f32(v, vld1q_f32(residual_f32 + 4 * q));
        if (args->residual_u8) {
            uint8x8_t bytes = vcreate_u8(0);
            uint32_t word;
            memcpy(&word, residual_u8 + 4 * q, 4);
            bytes = vreinterpret_u8_u32(vset_lane_u32(word, vreinterpret_u32_u8(bytes), 0));
            int32x4_t wide = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(bytes))));
            float32x4_t r = vcvtq_f32_s32(vsubq_s32(wide, vdupq_n_s32(args->residual_zero_point)));
            r = vmulq_f32(r, vdupq_n_f32(args->residual_scale));
            v = vaddq_f32(v, r);
        }
        if (args->relu) v = vbslq_f32(vcgtq_f32(v, zero), v, zero);
        values[q] = v;
    }
    if (args->out_f32) {
        float *out = args->out_f32 + (ptrdiff_t)m * args->ldc + n0;
        if (full) {
            for (int q = 0; q < 4; q++) vst1q_f32(out + 4 * q, values[q]);
        } else {
            float buffer[16];
            for (int q = 0; q < 4; q++) vst1q_f32(buffer + 4 * q, values[q]);
            memcpy(out, buffer, (size_t)columns * 4);
        }
    }
    if (args->out_u8) {
        const float32x4_t inv_scale = vdupq_n_f32(args->out_inv_scale);
        const float32x4_t low = vdupq_n_f32(-CK_QUANT_LIMIT), high = vdupq_n_f32(CK_QUANT_LIMIT);
        uint16x4_t halves[4];
        for (int q = 0; q < 4; q++) {
            float32x4_t t = vmulq_f32(values[q], inv_scale);
            t = vbslq_f32(vcgtq_f32(t, low), t, low);
            t = vbslq_f32(vcltq_f32(t, high), t, high);
            int32x4_t i = vaddq_s32(vcvtnq_s32_f32(t), vdupq_n_s32(args->out_zero_point));
            halves[q] = vqmovun_s32(i);                  // saturate to 0...65535
        }
        uint8x16_t bytes = vcombine_u8(vqmovn_u16(vcombine_u16(halves[0], halves[1])),
                                       vqmovn_u16(vcombine_u16(halves[2], halves[3])));   // then to 0...255
        uint8_t *out = args->out_u8 + (ptrdiff_t)m * args->ldc + n0;
        if (full) {
            vst1q_u8(out, bytes);
        } else {
            uint8_t buffer[16];
            vst1q_u8(buffer, bytes);
            memcpy(out, buffer, (size_t)columns);
        }
    }
}
#endif
