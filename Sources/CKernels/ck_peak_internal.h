// Private to CKernels: how the register-only peak loops (peak_*.c, one file per instruction set) are timed. Each
// loop runs `iterations` rounds of a fixed number of independent multiply-add chains held in registers (no memory
// traffic); the driver grows the round count until one run takes about the requested time, then keeps the best
// of three runs.
#pragma once
#include <time.h>

/// One register-only loop: runs `iterations` rounds and returns a value derived from its accumulators (so the
/// work cannot be dropped).
typedef double (*ck_peak_loop)(long iterations);

static inline double ck_peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/// GMAC/s of `loop`, which does `macs_per_iteration` multiply-adds per round: best of 3 runs of about `seconds`.
static inline double ck_peak_measure(ck_peak_loop loop, double macs_per_iteration, double seconds) {
    if (!(seconds > 0)) seconds = 0.02;
    long iterations = 1024;
    volatile double sink = 0;
    for (;;) {   // grow until one run takes at least a quarter of the target (also warms the core up)
        const double start = ck_peak_now();
        sink += loop(iterations);
        const double elapsed = ck_peak_now() - start;
        if (elapsed >= seconds / 4 || iterations > (1L << 40)) {
            if (elapsed > 0) iterations = (long)((double)iterations * seconds / elapsed) + 1;
            break;
        }
        iterations *= 4;
    }
    double best = 0;
    for (int run = 0; run < 3; run++) {
        const double start = ck_peak_now();
        sink += loop(iterations);
        const double elapsed = ck_peak_now() - start;
        const double rate = elapsed > 0 ? macs_per_iteration * (double)iterations / elapsed * 1e-9 : 0;
        if (rate > best) best = rate;
    }
    (void)sink;
    return best;
}

double ck_peak_fp32_avx2(double seconds);
double ck_peak_int8_avx2_widen(double seconds);
double ck_peak_int8_avx2_maddubs(double seconds);
double ck_peak_int8_avx2_maddubs2(double seconds);
double ck_peak_int8_avx512vnni(double seconds);
double ck_peak_fp32_neon(double seconds);
double ck_peak_int8_neon_smull(double seconds);
double ck_peak_int8_neondot(double seconds);
