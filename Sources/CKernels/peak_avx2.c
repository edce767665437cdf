// Register-only peaks on x86-64 AVX2 (see ck_peak_internal.h): fp32 vfmadd231ps ymm, the widening int8 kernel's
// vpmaddwd -> vpaddd, the 7-bit kernel's vpmaddubsw -> vpmaddwd(ones) -> vpaddd and the 6-bit kernel's two vpmaddubsw
// -> vpaddsw -> vpmaddwd(ones) -> vpaddd. Inline assembly, so the compiler can neither hoist the loop-invariant
// multiplies nor fuse the chains.
#define _POSIX_C_SOURCE 200809L   // clock_gettime under -std=c11
#include "ck_peak_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define PEAK_TARGET __attribute__((target("avx2,fma")))

// 10 chains of vfmadd231ps: 10 x 8 MACs per round.
PEAK_TARGET static double fma_loop(long iterations) {
    __m256 c0 = _mm256_set1_ps(0.f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const __m256 x = _mm256_set1_ps(1e-7f), y = _mm256_set1_ps(0.999f);
    for (long i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vfmadd231ps %[x], %[y], %[c0]\n\tvfmadd231ps %[x], %[y], %[c1]\n\t"
            "vfmadd231ps %[x], %[y], %[c2]\n\tvfmadd231ps %[x], %[y], %[c3]\n\t"
            "vfmadd231ps %[x], %[y], %[c4]\n\tvfmadd231ps %[x], %[y], %[c5]\n\t"
            "vfmadd231ps %[x], %[y], %[c6]\n\tvfmadd231ps %[x], %[y], %[c7]\n\t"
            "vfmadd231ps %[x], %[y], %[c8]\n\tvfmadd231ps %[x], %[y], %[c9]\n\t"
            : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5),
              [c6] "+x"(c6), [c7] "+x"(c7), [c8] "+x"(c8), [c9] "+x"(c9)
            : [x] "x"(x), [y] "x"(y));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(c8, c9));
    return (double)_mm256_cvtss_f32(s);
}

// 10 chains of vpmaddwd -> vpaddd (products in two rotating temporaries): 10 x 16 MACs per round.
PEAK_TARGET static double widen_loop(long iterations) {
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const __m256i x = _mm256_set1_epi16(3), w = _mm256_set1_epi16(-5);
    __m256i t0, t1;
    for (long i = 0; i < iterations; i++) {
#define WIDEN(c, t) "vpmaddwd %[w], %[x], %[" #t "]\n\tvpaddd %[" #t "], %[" #c "], %[" #c "]\n\t"
        __asm__ volatile(
            WIDEN(c0, t0) WIDEN(c1, t1) WIDEN(c2, t0) WIDEN(c3, t1) WIDEN(c4, t0)
            WIDEN(c5, t1) WIDEN(c6, t0) WIDEN(c7, t1) WIDEN(c8, t0) WIDEN(c9, t1)
            : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5),
              [c6] "+x"(c6), [c7] "+x"(c7), [c8] "+x"(c8), [c9] "+x"(c9), [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [x] "x"(x), [w] "x"(w));
#undef WIDEN
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    s = _mm256_add_epi32(s, _mm256_add_epi32(c8, c9));
    return (double)_mm256_extract_epi32(s, 0);
}

// 10 chains of vpmaddubsw -> vpmaddwd(ones) -> vpaddd (two rotating temporaries): 10 x 32 MACs per round.
PEAK_TARGET static double maddubs_loop(long iterations) {
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const __m256i x = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-5), ones = _mm256_set1_epi16(1);
    __m256i t0, t1;
    for (long i = 0; i < iterations; i++) {
#define MADDUBS(c, t) "vpmaddubsw %[w], %[x], %[" #t "]\n\tvpmaddwd %[ones], %[" #t "], %[" #t "]\n\t" \
                      "vpaddd %[" #t "], %[" #c "], %[" #c "]\n\t"
        __asm__ volatile(
            MADDUBS(c0, t0) MADDUBS(c1, t1) MADDUBS(c2, t0) MADDUBS(c3, t1) MADDUBS(c4, t0)
            MADDUBS(c5, t1) MADDUBS(c6, t0) MADDUBS(c7, t1) MADDUBS(c8, t0) MADDUBS(c9, t1)
            : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5),
              [c6] "+x"(c6), [c7] "+x"(c7), [c8] "+x"(c8), [c9] "+x"(c9), [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [x] "x"(x), [w] "x"(w), [ones] "x"(ones));
#undef MADDUBS
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    s = _mm256_add_epi32(s, _mm256_add_epi32(c8, c9));
    return (double)_mm256_extract_epi32(s, 0);
}

// 10 chains of two vpmaddubsw -> vpaddsw -> vpmaddwd(ones) -> vpaddd (three rotating temporaries, which register
// renaming makes independent): 10 x 64 MACs per round.
PEAK_TARGET static double maddubs2_loop(long iterations) {
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
    const __m256i x = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-5), ones = _mm256_set1_epi16(1);
    __m256i t0, t1, t2;
    for (long i = 0; i < iterations; i++) {
#define MADDUBS2(c, t, u) "vpmaddubsw %[w], %[x], %[" #t "]\n\tvpmaddubsw %[w], %[x], %[" #u "]\n\t" \
                          "vpaddsw %[" #u "], %[" #t "], %[" #t "]\n\tvpmaddwd %[ones], %[" #t "], %[" #t "]\n\t" \
                          "vpaddd %[" #t "], %[" #c "], %[" #c "]\n\t"
        __asm__ volatile(
            MADDUBS2(c0, t0, t1) MADDUBS2(c1, t2, t0) MADDUBS2(c2, t1, t2) MADDUBS2(c3, t0, t1) MADDUBS2(c4, t2, t0)
            MADDUBS2(c5, t1, t2) MADDUBS2(c6, t0, t1) MADDUBS2(c7, t2, t0) MADDUBS2(c8, t1, t2) MADDUBS2(c9, t0, t1)
            : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5),
              [c6] "+x"(c6), [c7] "+x"(c7), [c8] "+x"(c8), [c9] "+x"(c9), [t0] "=&x"(t0), [t1] "=&x"(t1),
              [t2] "=&x"(t2)
            : [x] "x"(x), [w] "x"(w), [ones] "x"(ones));
#undef MADDUBS2
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    s = _mm256_add_epi32(s, _mm256_add_epi32(c8, c9));
    return (double)_mm256_extract_epi32(s, 0);
}

double ck_peak_fp32_avx2(double seconds) { return ck_peak_measure(fma_loop, 10 * 8, seconds); }
double ck_peak_int8_avx2_widen(double seconds) { return ck_peak_measure(widen_loop, 10 * 16, seconds); }
double ck_peak_int8_avx2_maddubs(double seconds) { return ck_peak_measure(maddubs_loop, 10 * 32, seconds); }
double ck_peak_int8_avx2_maddubs2(double seconds) { return ck_peak_measure(maddubs2_loop, 10 * 64, seconds); }
#endif
