// heap.c — the trainer's allocator setting (glibc's mallopt, which Swift's Glibc module does not import).

#include "ckernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ck_keep_freed_memory(void) {
#if defined(__GLIBC__)
    int ok = mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ok &= mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
    return ok;
#else
    return 0;
#endif
}
