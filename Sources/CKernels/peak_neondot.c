// Register-only peak of the NEON dot-product kernel's instruction (see ck_peak_internal.h): 10 chains of
// sdot .4s, 16 MACs each. The sdot is spelled as its encoding, so any assembler accepts it.
#define _POSIX_C_SOURCE 200809L   // clock_gettime under -std=c11
#include "ck_peak_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

// sdot v<d>.4s, v<n>.16b, v<m>.16b is 0x4e809400 | m << 16 | n << 5 | d; the chains live in v0-v9, x in v16,
// w in v17 (pinned by the clobber list and explicit moves).
#define SDOT(d) ".inst (0x4e809400 | (17 << 16) | (16 << 5) | " #d ")\n\t"

static double sdot_loop(long iterations) {
    int32_t lanes[4];
    __asm__ volatile(
        "movi v0.4s, #0\n\tmovi v1.4s, #0\n\tmovi v2.4s, #0\n\tmovi v3.4s, #0\n\tmovi v4.4s, #0\n\t"
        "movi v5.4s, #0\n\tmovi v6.4s, #0\n\tmovi v7.4s, #0\n\tmovi v8.4s, #0\n\tmovi v9.4s, #0\n\t"
        "movi v16.16b, #3\n\tmvni v17.8h, #0x4\n\t"
        "cbz %[n], 2f\n\t"
        "1:\n\t"
        SDOT(0) SDOT(1) SDOT(2) SDOT(3) SDOT(4) SDOT(5) SDOT(6) SDOT(7) SDOT(8) SDOT(9)
        "subs %[n], %[n], #1\n\t"
        "b.ne 1b\n\t"
        "2:\n\t"
        "add v0.4s, v0.4s, v1.4s\n\tadd v2.4s, v2.4s, v3.4s\n\tadd v4.4s, v4.4s, v5.4s\n\t"
        "add v6.4s, v6.4s, v7.4s\n\tadd v8.4s, v8.4s, v9.4s\n\tadd v0.4s, v0.4s, v2.4s\n\t"
        "add v4.4s, v4.4s, v6.4s\n\tadd v0.4s, v0.4s, v8.4s\n\tadd v0.4s, v0.4s, v4.4s\n\t"
        "str q0, [%[out]]\n\t"
        : [n] "+r"(iterations)
        : [out] "r"(lanes)
        : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v16", "v17", "memory", "cc");
    return (double)lanes[0];
}
#undef SDOT

double ck_peak_int8_neondot(double seconds) { return ck_peak_measure(sdot_loop, 10 * 16, seconds); }
#endif
