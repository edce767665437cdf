// Private to CKernels: what this CPU (and its operating system) can run, detected once. Both kernel families
// choose from it: the int8 GEMM (dispatch.c) and the float kernels (float_dispatch.c).
#pragma once

typedef struct {
    int avx2;         // AVX2, with the OS saving YMM state
    int fma;          // FMA3, with the OS saving YMM state
    int avx512vnni;   // AVX-512 F, BW, VL and VNNI, with the OS saving the ZMM and mask state
    int neondot;      // AArch64 Advanced SIMD dot product (SDOT/UDOT)
} ck_cpu_features;

/// The features of this CPU (cpuid + xgetbv on x86-64, getauxval on aarch64); every call detects them again.
ck_cpu_features ck_cpu_detect(void);
