/* bench_landmarks_bw.c - where fnet_landmarks sits against the memory-bandwidth bound
   (issue 17 item 5), all measured in one run on one thread:
     - model bytes read per face, counted: the leaves (one per tree: C x T leaves of 2N floats,
       each spanning whole 64-byte lines), the split tables (indices and thresholds of every
       tree, read in order) and the feature-pixel tables;
     - the machine's streaming read bandwidth (a 64 MB buffer summed, best of 20) and the
       throughput of the leaves' own access pattern (one leaf-sized run at a random leaf of
       each tree's block, over the model's real leaves, with the driver's prefetch distance);
     - the time per face of fnet_landmarks on real faces (detected on the photos given,
       upsample 1), best of REPS passes.
   Times are the thread's CPU time (robust on a shared machine; memory stalls count).
   The bound is bytes / bandwidth; the gap is the measured time over it.
   Usage: bench_landmarks_bw REPS IMAGE...   (weights from $FNET_WEIGHTS or weights/).
   Compile with -DFNET__LM_PREFETCH=N to try another prefetch distance (bench_landmarks_bw.sh
   builds 8, the default, 0 and 16); the points checksum must not change. */
#define _POSIX_C_SOURCE 199309L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "examples/image_load.h"
#include <stdlib.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#define MAX_FACES 256

/* Thread CPU time, ms: on a shared machine the wall clock also counts the time others run
   (stalls on memory still count: they are this thread's cycles). */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median_ms(double *t, int n) { /* sorts: t[0] is then the best */
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return t[n / 2];
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Streaming read bandwidth: a 64 MB buffer (beyond the caches) summed; best of 20 passes (short
   passes: on a loaded machine a long one is rarely left alone). */
static double stream_gbs(void) {
    size_t n = (size_t)64 << 20, i, words = n / sizeof(unsigned long long);
    unsigned long long *b = (unsigned long long *)malloc(n), s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    double best = 1e30;
    int rep;
    if (!b) return 0;
    for (i = 0; i < words; i++) b[i] = i * 2654435761u;
    for (rep = 0; rep < 20; rep++) {
        double t0 = cpu_ms();
        for (i = 0; i + 4 <= words; i += 4) {
            s0 += b[i];
            s1 += b[i + 1];
            s2 += b[i + 2];
            s3 += b[i + 3];
        }
        t0 = cpu_ms() - t0;
        if (t0 < best) best = t0;
    }
    if ((s0 ^ s1 ^ s2 ^ s3) == 42) printf("#");
    free(b);
    return (double)n / (best * 1e6);
}

/* One pass of the leaves' access pattern: for each cascade and tree, a leaf at random among
   the tree's n_leaves (drawn again for every pass: 4 MB out of the model's 65 MB, so
   mostly not in cache), its 2N floats added to an accumulator, with the driver's prefetch.
   Returns ms per pass (best of reps). */
static double leaf_gather_ms(const fnet__lm *lm, int reps) {
    int C = lm->n_casc, T = lm->n_trees, L = lm->n_leaves, n = 2 * lm->n_points, c, t, k, rep;
    unsigned char *pick = (unsigned char *)malloc((size_t)C * T);
    unsigned long long st = 12345;
    float acc[512];
    double best = 1e30;
    memset(acc, 0, sizeof acc);
    for (rep = 0; rep < reps; rep++) {
        double t0;
        for (c = 0; c < C * T; c++) { /* other leaves every pass, as another face would pick */
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            pick[c] = (unsigned char)((st >> 33) % (unsigned)L);
        }
        t0 = cpu_ms();
        for (c = 0; c < C; c++) {
            const unsigned char *leaves = lm->leaves + (size_t)c * T * L * lm->leaf_bytes;
            for (t = 0; t < T; t++) {
                const float *v = (const float *)(const void *)(leaves + ((size_t)t * L + pick[c * T + t]) * lm->leaf_bytes);
#if defined(FNET__X86)
                if (FNET__LM_PREFETCH > 0 && t + FNET__LM_PREFETCH < T) {
                    const char *nx = (const char *)leaves + ((size_t)(t + FNET__LM_PREFETCH) * L + pick[c * T + t + FNET__LM_PREFETCH]) * lm->leaf_bytes;
                    size_t o;
                    for (o = 0; o < lm->leaf_bytes; o += 64) _mm_prefetch(nx + o, _MM_HINT_T0);
                }
#endif
                for (k = 0; k < n; k++) acc[k] += v[k];
            }
        }
        t0 = cpu_ms() - t0;
        if (t0 < best) best = t0;
    }
    if (acc[0] == 12345.0f) printf("#");
    free(pick);
    return best;
}

int main(int argc, char **argv) {
    const char *wd = getenv("FNET_WEIGHTS");
    char path[4096];
    fnet_model *det = NULL, *lmm = NULL;
    const fnet__lm *lm;
    static fnet_image img[64];
    static unsigned char *px[64];
    static fnet_box box[MAX_FACES];
    static int face_img[MAX_FACES];
    int nimg = 0, nf = 0, reps, i, f, rep;
    double leaf_b, leaf_lines_b, split_b, pool_b, total_b, gbs, best, med, gather, checksum = 0, *tp;
    if (argc < 3) { fprintf(stderr, "usage: %s REPS IMAGE...\n", argv[0]); return 2; }
    reps = atoi(argv[1]);
    if (reps < 1) reps = 1;
    tp = (double *)malloc(sizeof(double) * (size_t)reps);
    snprintf(path, sizeof path, "%s/hog_frontal.fnet", wd && *wd ? wd : "weights");
    if (fnet_model_load_file(path, &det) != FNET_OK) { fprintf(stderr, "cannot load %s\n", path); return 1; }
    snprintf(path, sizeof path, "%s/landmarks68.fnet", wd && *wd ? wd : "weights");
    if (fnet_model_load_file(path, &lmm) != FNET_OK) { fprintf(stderr, "cannot load %s\n", path); return 1; }
    lm = (const fnet__lm *)lmm->stage;
    for (i = 2; i < argc && nimg < 64; i++) {
        int w, h, n = 0;
        fnet_detect_opts o;
        char why[256];
        px[nimg] = il_load_pixels(argv[i], 3, &w, &h, why, sizeof why);
        if (!px[nimg]) continue;
        img[nimg] = fnet_image_view(px[nimg], w, h, 3, 0);
        memset(&o, 0, sizeof o);
        o.upsample = 1;
        if (fnet_detect(det, img[nimg], &o, NULL, 0, box + nf, MAX_FACES - nf, &n) != FNET_OK) continue;
        for (f = 0; f < n && nf < MAX_FACES; f++) face_img[nf++] = nimg;
        nimg++;
    }
    if (!nf) { fprintf(stderr, "no faces\n"); return 1; }
    /* bytes of the model one face reads */
    leaf_b = (double)lm->n_casc * lm->n_trees * (double)lm->leaf_bytes;
    {   /* whole 64-byte lines a leaf spans, averaged over the leaves' offsets in the blob */
        double lines = 0;
        size_t k, nl = (size_t)lm->n_casc * lm->n_trees * lm->n_leaves;
        for (k = 0; k < nl; k++) {
            size_t a = (size_t)((unsigned long long)(size_t)lm->leaves & 63u) + k * lm->leaf_bytes;
            lines += (double)((a + lm->leaf_bytes - 1) / 64 - a / 64 + 1);
        }
        leaf_lines_b = (double)lm->n_casc * lm->n_trees * 64.0 * lines / (double)nl;
    }
    split_b = (double)lm->n_casc * lm->n_trees * lm->n_splits * (2 * sizeof(unsigned short) + sizeof(float));
    pool_b = (double)lm->n_casc * lm->pool * (sizeof(unsigned short) + 2 * sizeof(float));
    total_b = leaf_lines_b + split_b + pool_b;
    gbs = stream_gbs();
    gather = leaf_gather_ms(lm, 20);
    for (rep = 0; rep < reps; rep++) {
        double t0 = cpu_ms();
        for (f = 0; f < nf; f++) {
            fnet_point pts[68];
            fnet_landmarks(lmm, img[face_img[f]], box[f], pts);
            if (rep == 0)
                for (i = 0; i < 68; i++) checksum += floor(pts[i].x + 0.5) + 2 * floor(pts[i].y + 0.5);
        }
        tp[rep] = (cpu_ms() - t0) / nf;
    }
    med = median_ms(tp, reps);
    best = tp[0];
    printf("landmarks: %d faces of %d photos, kernels %s, prefetch distance %d\n", nf, nimg,
           fnet_isa_name(fnet_model_get_isa(lmm)), FNET__LM_PREFETCH);
    printf("bytes per face: leaves %.2f MB (%.2f MB of 64-byte lines), split tables %.2f MB, pixel tables %.3f MB; total %.2f MB\n",
           leaf_b / 1e6, leaf_lines_b / 1e6, split_b / 1e6, pool_b / 1e6, total_b / 1e6);
    printf("streaming read bandwidth %.2f GB/s -> bound %.3f ms per face (leaves alone %.3f ms)\n", gbs,
           total_b / (gbs * 1e6), leaf_lines_b / (gbs * 1e6));
    printf("leaf access pattern alone (random leaf per tree, same prefetch): %.3f ms per face = %.2f GB/s\n", gather,
           leaf_lines_b / (gather * 1e6));
    printf("fnet_landmarks: %.3f ms per face (best of %d passes; median %.3f) = %.2fx the streaming bound, %.2fx the "
           "leaf-pattern time; points checksum %.0f\n", best, reps, med, best / (total_b / (gbs * 1e6)), best / gather, checksum);
    fnet_model_free(det);
    fnet_model_free(lmm);
    for (i = 0; i < nimg; i++) stbi_image_free(px[i]);
    return 0;
}
