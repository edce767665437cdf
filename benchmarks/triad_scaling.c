// triad_scaling.c — does this machine give a second thread a second core? The triad a[i] = b[i] + 1.5*c[i] over
// arrays of BYTES each, REPS times, on 1 thread and then on 2 threads at once (each its own arrays, nothing shared),
// best of 5; prints GB/s (2 reads + 1 write counted) and the 2-thread/1-thread ratio. With arrays that fit L2
// (65536 bytes: 192 KB per thread) the ratio is ~2 when the two vCPUs are two cores and ~1 when they are not.
//   cc -O2 -march=haswell -o triad benchmarks/triad_scaling.c -lpthread && ./triad 65536 2000
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
typedef struct { float *a, *b, *c; size_t n; int reps; } job;
static void *run(void *p) {
    job *j = p;
    for (int r = 0; r < j->reps; r++)
        for (size_t i = 0; i < j->n; i++) j->a[i] = j->b[i] + 1.5f * j->c[i];
    return NULL;
}
static double measure(int threads, size_t n, int reps, job *jobs) {
    double best = 1e9;
    for (int k = 0; k < 5; k++) {
        pthread_t t[2];
        double t0 = now();
        for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, &jobs[i]);
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    return threads * 3.0 * n * 4 * reps / best / 1e9;
}
int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s BYTES REPS\n", argv[0]); return 2; }
    size_t bytes = (size_t)atol(argv[1]);
    int reps = atoi(argv[2]);
    size_t n = bytes / 4;
    job jobs[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].a = aligned_alloc(64, bytes); jobs[i].b = aligned_alloc(64, bytes); jobs[i].c = aligned_alloc(64, bytes);
        for (size_t k = 0; k < n; k++) { jobs[i].a[k] = 0; jobs[i].b[k] = k; jobs[i].c[k] = 1; }
        jobs[i].n = n; jobs[i].reps = reps;
    }
    double one = measure(1, n, reps, jobs), two = measure(2, n, reps, jobs);
    printf("%zu KB x3: 1 thread %.1f GB/s, 2 threads %.1f GB/s (%.2fx)\n", bytes / 1024, one, two, two / one);
    return 0;
}
