// CPU feature detection for every kernel family: cpuid + xgetbv on x86-64 (an instruction set counts only when
// the OS also saves its register state), getauxval(AT_HWCAP) on aarch64 Linux. The dispatchers call it once and
// keep the instruction set they chose from it.
#include <stdint.h>
#include "cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

#if defined(__x86_64__)
// XCR0: which register states the OS saves on context switch.
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#endif

ck_cpu_features ck_cpu_detect(void) {
    ck_cpu_features f = {0, 0, 0, 0};
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
    const int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return f;                 // XMM + YMM state
    f.fma = fma;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
    f.avx2 = (ebx >> 5) & 1;
    const int avx512f = (ebx >> 16) & 1, avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
    const int avx512vnni = (ecx >> 11) & 1;
    f.avx512vnni = avx512f && avx512bw && avx512vl && avx512vnni && (xcr0 & 0xe6) == 0xe6;
#elif defined(__aarch64__) && defined(__linux__)
    f.neondot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    return f;
}
