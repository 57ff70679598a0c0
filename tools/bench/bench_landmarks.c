/* Landmarks benchmark, facenet.h side (tools/bench/bench_landmarks.sh runs it interleaved with
   tools/bench/dlib_bench_landmarks.cpp on the same faces).
   bench_landmarks BLOB DATA_ROOT GOLDEN.jsonl ROUNDS [COMPACT_BLOB...]
   Prints "key value" lines: faces, load_file_ms, load_memory_ms, first_face_ms, ms_per_face
   (CPU time of the process: robust on a shared machine), wall_ms_per_face,
   checksum (sum of dlib-rounded coordinates: equals dlib's when the points agree), and
   ms_per_face_<name> for compact blobs. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "examples/image_load.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct face { int img; fnet_box box; } face;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the machine may be shared */
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static fnet_image imgs[512];
static face faces[4096];
static int n_img, n_face;

static void load_faces(const char *root, const char *golden) {
    FILE *f = fopen(golden, "rb");
    static char line[1 << 20];
    if (!f) { fprintf(stderr, "cannot read %s\n", golden); exit(1); }
    while (fgets(line, sizeof line, f) && n_img < 512) {
        char rel[1024], path[4096];
        const char *p = strstr(line, "\"image\":\""), *q;
        int w, h;
        unsigned char *px;
        char why[256];
        if (!p) continue;
        p += 9;
        q = strchr(p, '"');
        if (!q || q - p >= 1000) continue;
        memcpy(rel, p, (size_t)(q - p));
        rel[q - p] = 0;
        if (strncmp(rel, "wider-val-dev/", 14) == 0) continue; /* keep the run short */
        snprintf(path, sizeof path, "%s/%s", root, rel);
        px = il_load_pixels(path, 3, &w, &h, why, sizeof why);
        if (!px) { fprintf(stderr, "bench_landmarks: %s: %s\n", path, why); continue; }
        imgs[n_img] = fnet_image_view(px, w, h, 3, 0);
        for (p = q; (p = strstr(p, "\"box\":[")) != NULL && n_face < 4096;) {
            face *fc = &faces[n_face++];
            char *e;
            p += 7;
            fc->img = n_img;
            memset(&fc->box, 0, sizeof fc->box);
            fc->box.left = (int)strtol(p, &e, 10); p = e + 1;
            fc->box.top = (int)strtol(p, &e, 10); p = e + 1;
            fc->box.right = (int)strtol(p, &e, 10); p = e + 1;
            fc->box.bottom = (int)strtol(p, &e, 10); p = e;
        }
        n_img++;
    }
    fclose(f);
}

static double run_all(const fnet_model *m, long *checksum) {
    fnet_point pts[68];
    double t = now_ms();
    int i, k;
    long s = 0;
    for (i = 0; i < n_face; i++) {
        if (fnet_landmarks(m, imgs[faces[i].img], faces[i].box, pts) != FNET_OK) { fprintf(stderr, "landmarks failed\n"); exit(1); }
        for (k = 0; k < 68; k++) s += (long)floor(pts[k].x + 0.5) + (long)floor(pts[k].y + 0.5);
    }
    if (checksum) *checksum = s;
    return now_ms() - t;
}

int main(int argc, char **argv) {
    fnet_model *m = NULL;
    int rounds, r, a;
    double best_file = 1e30, best_mem = 1e30, best_face = 1e30, best_wall = 1e30, first = 0;
    long checksum = 0;
    if (argc < 5) { fprintf(stderr, "usage: bench_landmarks BLOB DATA_ROOT GOLDEN ROUNDS [COMPACT...]\n"); return 2; }
    rounds = atoi(argv[4]);
    load_faces(argv[2], argv[3]);
    if (!n_face) { fprintf(stderr, "no faces\n"); return 1; }
    for (r = 0; r < 5; r++) {
        double t = now_ms();
        if (fnet_model_load_file(argv[1], &m) != FNET_OK) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
        t = now_ms() - t;
        if (t < best_file) best_file = t;
        if (r == 0) { /* first face after a fresh load: includes faulting in the mapped pages */
            fnet_point pts[68];
            double t1 = now_ms();
            fnet_landmarks(m, imgs[faces[0].img], faces[0].box, pts);
            first = now_ms() - t1;
        }
        if (r < 4) { fnet_model_free(m); m = NULL; }
    }
    {   /* from memory: the blob already read into a 64-byte aligned buffer (zero-copy) */
        FILE *f = fopen(argv[1], "rb");
        long len;
        unsigned char *raw, *buf;
        fnet_model *mm = NULL;
        if (!f) return 1;
        fseek(f, 0, SEEK_END); len = ftell(f); fseek(f, 0, SEEK_SET);
        raw = (unsigned char *)malloc((size_t)len + 64);
        buf = raw + (64 - ((size_t)raw & 63)) % 64;
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) return 1;
        fclose(f);
        for (r = 0; r < 5; r++) {
            double t = now_ms();
            if (fnet_model_load_memory(buf, (size_t)len, &mm) != FNET_OK) return 1;
            t = now_ms() - t;
            if (t < best_mem) best_mem = t;
            fnet_model_free(mm);
        }
        free(raw);
    }
    run_all(m, NULL); /* warm */
    for (r = 0; r < rounds; r++) {
        double w = wall_ms(), t = run_all(m, &checksum) / n_face;
        w = (wall_ms() - w) / n_face;
        if (t < best_face) best_face = t;
        if (w < best_wall) best_wall = w;
    }
    printf("faces %d\nimages %d\nload_file_ms %.4f\nload_memory_ms %.4f\nfirst_face_ms %.4f\nms_per_face %.4f\nwall_ms_per_face %.4f\nchecksum %ld\nisa %s\n",
           n_face, n_img, best_file, best_mem, first, best_face, best_wall, checksum, fnet_isa_name(fnet_model_get_isa(m)));
    fnet_model_free(m);
    for (a = 5; a < argc; a++) {
        fnet_model *c = NULL;
        const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        double b = 1e30;
        if (fnet_model_load_file(argv[a], &c) != FNET_OK) continue;
        run_all(c, NULL);
        for (r = 0; r < rounds; r++) {
            double t = run_all(c, NULL) / n_face;
            if (t < b) b = t;
        }
        printf("ms_per_face_%.*s %.4f\n", (int)(strlen(name) - 5), name, b);
        fnet_model_free(c);
    }
    return 0;
}
