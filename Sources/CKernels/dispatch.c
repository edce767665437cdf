// Run-time choice of the GEMM kernel: picks the best kernel this CPU runs (cpu_features.c) once and routes
// ck_qgemm_u8s8 to it, or to a forced one for tests.
#include "ck_internal.h"
#include "cpu_features.h"

static int detect_isa(void) {
#if defined(CK_EMULATE_AVX512)
    return CK_ISA_AVX512VNNI;   // test build with the scalar AVX-512 stand-ins (see qgemm_u8s8_avx512vnni.c)
#elif defined(__x86_64__)
    const ck_cpu_features f = ck_cpu_detect();
    if (f.avx512vnni) return CK_ISA_AVX512VNNI;
    if (f.avx2) return CK_ISA_AVX2;
    return CK_ISA_GENERIC;
#elif defined(__aarch64__)
    return ck_cpu_detect().neondot ? CK_ISA_NEONDOT : CK_ISA_NEON;   // Advanced SIMD is mandatory on AArch64
#else
    return CK_ISA_GENERIC;
#endif
}

// -1 until the first call; then the ISA detected / in use (ck_force_isa changes the latter).
static int active_isa = -1;
static int detected_isa = -1;

ck_isa ck_detected_isa(void) { return (ck_isa)ck_cached_choice(&detected_isa, detect_isa); }

static int detected_isa_value(void) { return (int)ck_detected_isa(); }

int ck_isa_supported(ck_isa isa) {
    const ck_isa best = ck_detected_isa();
    switch (isa) {
    case CK_ISA_GENERIC: return 1;
    case CK_ISA_AVX2: return best == CK_ISA_AVX2 || best == CK_ISA_AVX512VNNI;
    case CK_ISA_AVX512VNNI: return best == CK_ISA_AVX512VNNI;
    case CK_ISA_NEON: return best == CK_ISA_NEON || best == CK_ISA_NEONDOT;
    case CK_ISA_NEONDOT: return best == CK_ISA_NEONDOT;
    }
    return 0;
}

ck_isa ck_active_isa(void) { return (ck_isa)ck_cached_choice(&active_isa, detected_isa_value); }

int ck_force_isa(ck_isa isa) {
    if (!ck_isa_supported(isa)) return 0;
    __atomic_store_n(&active_isa, (int)isa, __ATOMIC_RELAXED);
    return 1;
}

const char *ck_isa_name(ck_isa isa) {
    switch (isa) {
    case CK_ISA_GENERIC: return "generic";
    case CK_ISA_AVX2: return "avx2";
    case CK_ISA_AVX512VNNI: return "avx512vnni";
    case CK_ISA_NEON: return "neon";
    case CK_ISA_NEONDOT: return "neondot";
    }
    return "unknown";
}

// The kernel of `isa` for these packed weights: on AVX2, weights within +-CK_MADDUBS2_MAX_ABS_WEIGHT take the
// two-vpmaddubsw kernel, within +-CK_MADDUBS_MAX_ABS_WEIGHT the vpmaddubsw kernel, wider ones the exact widening
// kernel.
static ck_qgemm_kernel kernel_for(ck_isa isa, const ck_packed_header *header) {
    switch (isa) {
#if defined(__x86_64__)
    case CK_ISA_AVX2:
        if (header->max_abs_weight <= CK_MADDUBS2_MAX_ABS_WEIGHT) return ck_qgemm_u8s8_avx2_maddubs2;
        return header->max_abs_weight <= CK_MADDUBS_MAX_ABS_WEIGHT ? ck_qgemm_u8s8_avx2_maddubs : ck_qgemm_u8s8_avx2;
    case CK_ISA_AVX512VNNI: return ck_qgemm_u8s8_avx512vnni;
#endif
#if defined(__aarch64__)
    case CK_ISA_NEON: return ck_qgemm_u8s8_neon;
    case CK_ISA_NEONDOT: return ck_qgemm_u8s8_neondot;
#endif
    default: return ck_qgemm_u8s8_generic;
    }
}

// Checks what the kernels rely on; they themselves trust their arguments.
static int arguments_valid(const ck_qgemm_args *args) {
    if (args == NULL || args->a == NULL || args->packed_b == NULL || args->multiplier == NULL) return 0;
    if (args->out_f32 == NULL && args->out_u8 == NULL) return 0;
    if (args->M < 0 || args->N < 1 || args->K < 1 || args->K > CK_QGEMM_MAX_K) return 0;
    if (args->lda < args->K || args->ldc < args->N) return 0;
    if ((args->residual_f32 || args->residual_u8) && args->ld_residual < args->N) return 0;
    const ck_packed_header *header = ck_packed_header_of(args->packed_b);
    return header->magic == CK_PACKED_MAGIC && header->n == args->N && header->k == args->K;
}

int ck_qgemm_u8s8(const ck_qgemm_args *args, int m_begin, int m_end) {
    if (!arguments_valid(args)) return -1;
    if (m_begin < 0) m_begin = 0;
    if (m_end > args->M) m_end = args->M;
    if (m_begin < m_end) kernel_for(ck_active_isa(), ck_packed_header_of(args->packed_b))(args, m_begin, m_end);
    return 0;
}

ck_qgemm_variant ck_qgemm_variant_for(const void *packed) {
    const int valid = packed != NULL && ck_packed_header_of(packed)->magic == CK_PACKED_MAGIC;
    const int max_abs = valid ? ck_packed_header_of(packed)->max_abs_weight : 128;
    switch (ck_active_isa()) {
    case CK_ISA_GENERIC: return CK_QGEMM_SCALAR;
    case CK_ISA_AVX2:
        if (max_abs <= CK_MADDUBS2_MAX_ABS_WEIGHT) return CK_QGEMM_AVX2_MADDUBS2;
        return max_abs <= CK_MADDUBS_MAX_ABS_WEIGHT ? CK_QGEMM_AVX2_MADDUBS : CK_QGEMM_AVX2_WIDEN;
    case CK_ISA_AVX512VNNI: return CK_QGEMM_AVX512_VNNI;
    case CK_ISA_NEON: return CK_QGEMM_NEON_SMULL;
    case CK_ISA_NEONDOT: return CK_QGEMM_NEON_SDOT;
    }
    return CK_QGEMM_SCALAR;
}

const char *ck_qgemm_variant_name(ck_qgemm_variant variant) {
    switch (variant) {
    case CK_QGEMM_SCALAR: return "generic (scalar C)";
    case CK_QGEMM_AVX2_WIDEN: return "avx2 widening (vpmaddwd)";
    case CK_QGEMM_AVX2_MADDUBS: return "avx2 vpmaddubsw";
    case CK_QGEMM_AVX2_MADDUBS2: return "avx2 2x vpmaddubsw + vpaddsw";
    case CK_QGEMM_AVX512_VNNI: return "avx512vnni (vpdpbusd)";
    case CK_QGEMM_NEON_SMULL: return "neon (smull + sadalp)";
    case CK_QGEMM_NEON_SDOT: return "neondot (sdot)";
    }
    return "unknown";
}

int ck_qgemm_packed_max_abs_weight(const void *packed) {
    if (packed == NULL || ck_packed_header_of(packed)->magic != CK_PACKED_MAGIC) return -1;
    return ck_packed_header_of(packed)->max_abs_weight;
}
