// Speed of ck_qgemm_u8s8 per instruction set on convolution-shaped GEMMs (M = 16384 output pixels,
// N = 64/128 channels, K = 576/1152 = 3x3x64/3x3x128), one thread, uint8 output with the full epilogue.
// Build: gcc -O2 -ISources/CKernels/include Sources/CKernels/*.c benchmarks/qgemm_bench.c -lm -o /tmp/qgemm_bench
// Usage: qgemm_bench [repetitions]      Prints GOP/s (2*M*N*K operations per GEMM), best of the repetitions, for
// 8-bit weights (-128...127) and 7-bit weights (-63...63, which AVX2 runs with vpmaddubsw), next to the register-only
// int8 peak of the instruction sequence each kernel uses (ck_peak_int8_gmacs, in GOP/s too).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ckernels.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const int repetitions = argc > 1 ? atoi(argv[1]) : 3;
    const int M = 16384, Ns[2] = {64, 128}, Ks[2] = {576, 1152};
    const ck_isa isas[5] = {CK_ISA_GENERIC, CK_ISA_AVX2, CK_ISA_AVX512VNNI, CK_ISA_NEON, CK_ISA_NEONDOT};
    for (int bits = 8; bits >= 7; bits--)
    for (int ni = 0; ni < 2; ni++) {
        for (int ki = 0; ki < 2; ki++) {
            const int N = Ns[ni], K = Ks[ki];
            uint8_t *a = aligned_alloc(64, (size_t)M * K);
            int8_t *w = malloc((size_t)N * K);
            uint8_t *out = aligned_alloc(64, (size_t)M * N);
            float *multiplier = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
            for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (uint8_t)(i * 2654435761u >> 24);
            for (size_t i = 0; i < (size_t)N * K; i++) {
                w[i] = (int8_t)(i * 40503u >> 8);
                if (bits == 7) w[i] = (int8_t)(w[i] / 2 < -63 ? -63 : w[i] / 2);
            }
            for (int n = 0; n < N; n++) { multiplier[n] = 1e-4f; bias[n] = 0.5f; }
            void *packed = aligned_alloc(64, (ck_qgemm_packed_size(N, K) + 63) / 64 * 64);
            ck_qgemm_pack_weights(w, N, K, packed);
            ck_qgemm_args args = {0};
            args.M = M; args.N = N; args.K = K; args.a = a; args.lda = K; args.packed_b = packed;
            args.a_zero_point = 128; args.multiplier = multiplier; args.bias = bias; args.relu = 1;
            args.out_u8 = out; args.ldc = N; args.out_inv_scale = 10.0f; args.out_zero_point = 0;
            for (int i = 0; i < 5; i++) {
                if (!ck_force_isa(isas[i])) continue;
                double best = 1e30;
                for (int r = 0; r < repetitions; r++) {
                    const double start = now_seconds();
                    ck_qgemm_u8s8(&args, 0, M);
                    const double elapsed = now_seconds() - start;
                    if (elapsed < best) best = elapsed;
                }
                const ck_qgemm_variant variant = ck_qgemm_variant_for(packed);
                printf("w%d M=%d N=%3d K=%4d %-26s %7.1f GOP/s  (%.1f ms)  peak %6.1f GOP/s\n", bits, M, N, K,
                       ck_qgemm_variant_name(variant), 2.0 * M * N * K / best * 1e-9, best * 1e3,
                       2.0 * ck_peak_int8_gmacs(variant, 0.02));
            }
            free(a); free(w); free(out); free(multiplier); free(bias); free(packed);
        }
    }
    return 0;
}
