/* bench_common.h - what the benchmark programs (tools/bench/bench_embed.c, tools/bench/bench_resnet.c)
   share: a monotonic clock in milliseconds and the median of a set of timings.
   The includer defines _POSIX_C_SOURCE 199309L (clock_gettime) before its first #include. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts t[0..n-1] (t[0] is then the minimum) and returns the median t[n / 2]. */
static double median_ms(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return t[n / 2];
}

#endif
