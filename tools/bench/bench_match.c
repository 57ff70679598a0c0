/* bench_match - identification (1:K) over a 10,000-person gallery: ms per probe for
   fnet_identify (top 5, per-person nearest of 1 embedding each, 128-d). Also the gallery's
   save+load of that size and Chinese whispers / k-means on 2,000 points.
   The gallery and the probes are random unit vectors from a fixed seed, written to
   build/bench_match.f32 (gallery then probes, float32) so that the numpy and dlib peers in
   tools/bench/bench_match.sh measure the same numbers. Prints "name ms" lines. */
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N_GAL 10000
#define N_PROBE 200
#define DIM 128

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    unsigned long long rng = 42;
    float *x = (float *)malloc((size_t)(N_GAL + N_PROBE) * DIM * sizeof(float));
    fnet_gallery *g = NULL, *g2 = NULL;
    fnet_match m[5];
    int i, n = 0, reps = argc > 1 ? atoi(argv[1]) : 5, r, *labels;
    double t, best = 1e30, checksum = 0;
    size_t size;
    unsigned char *buf;
    FILE *f;
    for (i = 0; i < (N_GAL + N_PROBE) * DIM; i++) x[i] = (float)fnet__rng_normal(&rng);
    for (i = 0; i < N_GAL + N_PROBE; i++) fnet_l2_normalize(x + (size_t)i * DIM, DIM);
    f = fopen("build/bench_match.f32", "wb");
    if (!f || fwrite(x, sizeof(float), (size_t)(N_GAL + N_PROBE) * DIM, f) != (size_t)(N_GAL + N_PROBE) * DIM) {
        fprintf(stderr, "bench_match: cannot write build/bench_match.f32\n");
        return 1;
    }
    fclose(f);
    fnet_gallery_create("bench", DIM, &g);
    for (i = 0; i < N_GAL; i++) {
        char name[32];
        snprintf(name, sizeof name, "person%05d", i);
        /* enrolling 10k names is O(n^2) name checks: fine once */
        if (fnet_gallery_enroll(g, name, x + (size_t)i * DIM, 1) != FNET_OK) return 1;
    }
    for (r = 0; r < reps; r++) {
        t = now_ms();
        for (i = 0; i < N_PROBE; i++) {
            fnet_identify(g, x + (size_t)(N_GAL + i) * DIM, DIM, 0.6f, m, 5, &n);
            checksum += m[0].person;
        }
        t = (now_ms() - t) / N_PROBE;
        if (t < best) best = t;
    }
    printf("identify_10k_top5 %.4f\n", best);
    printf("identify_checksum %.0f\n", checksum / reps);
    fnet_gallery_save_memory(g, NULL, 0, &size);
    buf = (unsigned char *)malloc(size);
    t = now_ms();
    fnet_gallery_save_memory(g, buf, size, &size);
    fnet_gallery_load_memory(buf, size, &g2);
    printf("gallery_10k_save_load %.3f\n", now_ms() - t);
    labels = (int *)malloc(2000 * sizeof(int));
    t = now_ms();
    fnet_kmeans(x, 2000, DIM, 50, 0, 1, NULL, 0, labels, NULL);
    printf("kmeans_2000_k50 %.3f\n", now_ms() - t);
    t = now_ms();
    fnet_chinese_whispers(x, 2000, DIM, 1.0f, 0, 1, NULL, 0, labels, &n);
    printf("chinese_whispers_2000 %.3f\n", now_ms() - t);
    free(labels);
    free(buf);
    fnet_gallery_free(g);
    fnet_gallery_free(g2);
    free(x);
    return 0;
}
