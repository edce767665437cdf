// malloc_count.c — an LD_PRELOAD shim that counts heap allocation calls (malloc, calloc, realloc, memalign,
// posix_memalign, aligned_alloc) and prints the count to stderr at exit. Used by allocations.sh to measure the
// allocations per frame of `condseg bench` (the difference between two runs with different iteration counts).
// Build: gcc -O2 -shared -fPIC benchmarks/malloc_count.c -o /tmp/malloc_count.so
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long calls;

void *malloc(size_t n) { atomic_fetch_add(&calls, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&calls, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&calls, 1); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add(&calls, 1); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&calls, 1); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    atomic_fetch_add(&calls, 1);
    void *q = __libc_memalign(a, n);
    if (!q) return 12;   // ENOMEM
    *p = q;
    return 0;
}

__attribute__((destructor)) static void report(void) {
    char line[64];
    int len = snprintf(line, sizeof line, "malloc_count: %ld\n", atomic_load(&calls));
    if (len > 0) { ssize_t ignored = write(2, line, (size_t)len); (void)ignored; }
}
