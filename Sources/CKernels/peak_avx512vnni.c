// Register-only peak of the AVX-512 VNNI kernel's instruction (see ck_peak_internal.h): 10 chains of
// vpdpbusd zmm, 64 MACs each. Not built into the scalar-emulation test build (CK_EMULATE_AVX512).
#define _POSIX_C_SOURCE 200809L   // clock_gettime under -std=c11
#include "ck_peak_internal.h"

#if defined(__x86_64__) && !defined(CK_EMULATE_AVX512)
#include <immintrin.h>
#define PEAK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

PEAK_TARGET static double vnni_loop(long iterations) {
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const __m512i x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(-5);
    for (long i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vpdpbusd %[w], %[x], %[c0]\n\tvpdpbusd %[w], %[x], %[c1]\n\t"
            "vpdpbusd %[w], %[x], %[c2]\n\tvpdpbusd %[w], %[x], %[c3]\n\t"
            "vpdpbusd %[w], %[x], %[c4]\n\tvpdpbusd %[w], %[x], %[c5]\n\t"
            "vpdpbusd %[w], %[x], %[c6]\n\tvpdpbusd %[w], %[x], %[c7]\n\t"
            "vpdpbusd %[w], %[x], %[c8]\n\tvpdpbusd %[w], %[x], %[c9]\n\t"
            : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4), [c5] "+v"(c5),
              [c6] "+v"(c6), [c7] "+v"(c7), [c8] "+v"(c8), [c9] "+v"(c9)
            : [x] "v"(x), [w] "v"(w));
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(c8, c9));
    return (double)_mm512_reduce_add_epi32(s);
}

double ck_peak_int8_avx512vnni(double seconds) { return ck_peak_measure(vnni_loop, 10 * 64, seconds); }
#endif
