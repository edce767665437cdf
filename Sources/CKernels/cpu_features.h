// Private to CKernels: what this CPU (and its operating system) can run, and the cache of the instruction set each
// kernel family chose from it: the int8 GEMM (dispatch.c) and the float kernels (float_dispatch.c).
#pragma once

typedef struct {
    int avx2;         // AVX2, with the OS saving YMM state
    int fma;          // FMA3, with the OS saving YMM state
    int avx512vnni;   // AVX-512 F, BW, VL and VNNI, with the OS saving the ZMM and mask state
    int neondot;      // AArch64 Advanced SIMD dot product (SDOT/UDOT)
} ck_cpu_features;

/// The features of this CPU (cpuid + xgetbv on x86-64, getauxval on aarch64); every call detects them again.
ck_cpu_features ck_cpu_detect(void);

/// The choice cached in `*slot` (-1 until made), made by `choose` on first use. A plain int accessed with relaxed
/// atomics: racing first calls store the same value, and every stored value is valid.
static inline int ck_cached_choice(int *slot, int (*choose)(void)) {
    int value = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (value < 0) {
        value = choose();
        __atomic_store_n(slot, value, __ATOMIC_RELAXED);
    }
    return value;
}
