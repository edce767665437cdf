// Register-only peaks on aarch64 Advanced SIMD (see ck_peak_internal.h): fp32 fmla .4s (4 MACs) and the plain NEON
// int8 kernel's smull .8h + sadalp .4s (8 MACs per smull), 10 chains each, in inline assembly.
#define _POSIX_C_SOURCE 200809L   // clock_gettime under -std=c11
#include "ck_peak_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

static double fmla_loop(long iterations) {
    float32x4_t c0 = vdupq_n_f32(0.f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const float32x4_t x = vdupq_n_f32(1e-7f), y = vdupq_n_f32(0.999f);
    for (long i = 0; i < iterations; i++) {
        __asm__ volatile(
            "fmla %[c0].4s, %[x].4s, %[y].4s\n\tfmla %[c1].4s, %[x].4s, %[y].4s\n\t"
            "fmla %[c2].4s, %[x].4s, %[y].4s\n\tfmla %[c3].4s, %[x].4s, %[y].4s\n\t"
            "fmla %[c4].4s, %[x].4s, %[y].4s\n\tfmla %[c5].4s, %[x].4s, %[y].4s\n\t"
            "fmla %[c6].4s, %[x].4s, %[y].4s\n\tfmla %[c7].4s, %[x].4s, %[y].4s\n\t"
            "fmla %[c8].4s, %[x].4s, %[y].4s\n\tfmla %[c9].4s, %[x].4s, %[y].4s\n\t"
            : [c0] "+w"(c0), [c1] "+w"(c1), [c2] "+w"(c2), [c3] "+w"(c3), [c4] "+w"(c4), [c5] "+w"(c5),
              [c6] "+w"(c6), [c7] "+w"(c7), [c8] "+w"(c8), [c9] "+w"(c9)
            : [x] "w"(x), [y] "w"(y));
    }
    float32x4_t s = vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7)));
    s = vaddq_f32(s, vaddq_f32(c8, c9));
    return (double)vgetq_lane_f32(s, 0);
}

// smull into one of two rotating int16 temporaries, sadalp into the chain's int32 accumulator.
static double smull_loop(long iterations) {
    int32x4_t c0 = vdupq_n_s32(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const int8x8_t x = vdup_n_s8(3), w = vdup_n_s8(-5);
    int16x8_t t0, t1;
    for (long i = 0; i < iterations; i++) {
#define SMULL(c, t) "smull %[" #t "].8h, %[x].8b, %[w].8b\n\tsadalp %[" #c "].4s, %[" #t "].8h\n\t"
        __asm__ volatile(
            SMULL(c0, t0) SMULL(c1, t1) SMULL(c2, t0) SMULL(c3, t1) SMULL(c4, t0)
            SMULL(c5, t1) SMULL(c6, t0) SMULL(c7, t1) SMULL(c8, t0) SMULL(c9, t1)
            : [c0] "+w"(c0), [c1] "+w"(c1), [c2] "+w"(c2), [c3] "+w"(c3), [c4] "+w"(c4), [c5] "+w"(c5),
              [c6] "+w"(c6), [c7] "+w"(c7), [c8] "+w"(c8), [c9] "+w"(c9), [t0] "=&w"(t0), [t1] "=&w"(t1)
            : [x] "w"(x), [w] "w"(w));
#undef SMULL
    }
    int32x4_t s = vaddq_s32(vaddq_s32(vaddq_s32(c0, c1), vaddq_s32(c2, c3)), vaddq_s32(vaddq_s32(c4, c5), vaddq_s32(c6, c7)));
    s = vaddq_s32(s, vaddq_s32(c8, c9));
    return (double)vgetq_lane_s32(s, 0);
}

double ck_peak_fp32_neon(double seconds) { return ck_peak_measure(fmla_loop, 10 * 4, seconds); }
double ck_peak_int8_neon_smull(double seconds) { return ck_peak_measure(smull_loop, 10 * 8, seconds); }
#endif
