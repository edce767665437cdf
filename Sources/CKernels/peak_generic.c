// Register-only peaks: the portable scalar loops, and the run-time choice of the loop that matches a kernel
// (ck_peak_fp32_gmacs, ck_peak_int8_gmacs), as the GEMM dispatcher chooses kernels.
#define _POSIX_C_SOURCE 200809L   // clock_gettime under -std=c11
#include "ck_internal.h"
#include "ck_peak_internal.h"
#include "cpu_features.h"

// 8 independent scalar float chains; `volatile` inputs keep the compiler from folding them.
static double scalar_fp32_loop(long iterations) {
    volatile float xv = 1e-7f, yv = 0.999f;
    const float x = xv, y = yv;
    float c[8] = {0};
    for (long i = 0; i < iterations; i++) {
        for (int j = 0; j < 8; j++) c[j] = c[j] + x * y;
        __asm__ volatile("" : "+m"(c));
    }
    return (double)(c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7]);
}

// 8 independent scalar int32 chains of u8 x s8 products.
static double scalar_int8_loop(long iterations) {
    volatile int32_t xv = 3, wv = -5;
    const int32_t x = xv, w = wv;
    int32_t c[8] = {0};
    for (long i = 0; i < iterations; i++) {
        for (int j = 0; j < 8; j++) c[j] += x * w;
        __asm__ volatile("" : "+m"(c));
    }
    return (double)(c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7]);
}

double ck_peak_fp32_gmacs(double seconds) {
#if defined(__x86_64__)
    const ck_cpu_features f = ck_cpu_detect();
    if (f.avx2 && f.fma) return ck_peak_fp32_avx2(seconds);
#elif defined(__aarch64__)
    return ck_peak_fp32_neon(seconds);
#endif
    return ck_peak_measure(scalar_fp32_loop, 8, seconds);
}

double ck_peak_int8_gmacs(ck_qgemm_variant variant, double seconds) {
    switch (variant) {
    case CK_QGEMM_SCALAR: return ck_peak_measure(scalar_int8_loop, 8, seconds);
#if defined(__x86_64__)
    case CK_QGEMM_AVX2_WIDEN: return ck_isa_supported(CK_ISA_AVX2) ? ck_peak_int8_avx2_widen(seconds) : 0;
    case CK_QGEMM_AVX2_MADDUBS: return ck_isa_supported(CK_ISA_AVX2) ? ck_peak_int8_avx2_maddubs(seconds) : 0;
    case CK_QGEMM_AVX2_MADDUBS2: return ck_isa_supported(CK_ISA_AVX2) ? ck_peak_int8_avx2_maddubs2(seconds) : 0;
#if !defined(CK_EMULATE_AVX512)
    case CK_QGEMM_AVX512_VNNI: return ck_isa_supported(CK_ISA_AVX512VNNI) ? ck_peak_int8_avx512vnni(seconds) : 0;
#endif
#endif
#if defined(__aarch64__)
    case CK_QGEMM_NEON_SMULL: return ck_peak_int8_neon_smull(seconds);
    case CK_QGEMM_NEON_SDOT: return ck_isa_supported(CK_ISA_NEONDOT) ? ck_peak_int8_neondot(seconds) : 0;
#endif
    default: return 0;
    }
}
